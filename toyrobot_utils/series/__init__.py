"""The notebook series' own code: each notebook's first cell (``notebook.setup``), running the notebooks in
order with papermill (``runner``, ``toyrobot run-series``), and the report each notebook shows, built from its run's
numbers: the standard training and evaluation report of 02-05, 08 and 09 (``report``), notebook 06's experiments
(``experiments``), 07-08's search and duel (``tuning_report``), 09's stages (``transfer_report``) and 10's comparison
(``results_report``). The top layer: nothing else in the package imports it."""
