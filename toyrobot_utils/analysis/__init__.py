"""What a trained model does, measured and drawn: its predictions as a dataframe, accuracy and confusion
(``evaluation``), where it looks (``gradcam``), how runs compare with their 95 % intervals and paired tests
(``comparison``), how much the background decides (``bias``), and every figure of the series (``plots``).
It reads models and their records from ``modelling`` and never trains."""
