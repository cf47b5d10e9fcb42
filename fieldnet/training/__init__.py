"""Training: the settings (:mod:`~fieldnet.training.config`), the one training loop
(:mod:`~fieldnet.training.trainer`: ``train`` file to file, ``fit`` in memory), batches streamed
from files or cut from memory (:mod:`~fieldnet.training.memory`), symmetry augmentation, preset
networks, the scikit-learn style :class:`~fieldnet.training.estimator.PhaseClassifier`,
prediction on data files and Datasets, and ONNX export.  Uses the engine and the file contract."""
