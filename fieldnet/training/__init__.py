"""Training: the settings (:mod:`~fieldnet.training.config`), the one training loop
(:mod:`~fieldnet.training.trainer`), streamed batches, symmetry augmentation, preset networks,
and prediction on data files.  Uses the engine and the file contract."""
