"""Training: the one training loop, streamed batches, symmetry augmentation, preset networks,
and prediction on data files.  Uses the engine and the file contract."""

from fieldnet.training.trainer import TrainConfig, train

__all__ = ["TrainConfig", "train"]
