"""The networks and how they learn: one builder per network of the write-up's table and the transfer bases
(``models``), training with an atomic best checkpoint, early stopping, lineage-aware keep/archive and resumable runs
(``training``), transfer learning on cached base features and fine-tuning (``transfer``), the one place that reads
Keras' private graph attributes (``keras_graph``), and the devices training runs on (``devices``: CPU, one GPU, or
all GPUs). It sits on the photo pipelines (``data``, ``lineage``) and knows nothing of reports or figures."""
