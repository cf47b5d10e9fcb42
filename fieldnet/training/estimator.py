"""A phase classifier with the scikit-learn estimator interface, for notebooks and scripts.

>>> clf = PhaseClassifier(preset="gap", epochs=5, seed=1)           # doctest: +SKIP
>>> clf.fit(ds)                                                      # doctest: +SKIP
>>> clf.predict_proba(ds).sel({"class": "ordered"}).groupby("temperature").mean()   # doctest: +SKIP

The constructor only stores its arguments (defaults from :class:`~fieldnet.training.config.TrainConfig`,
the one home of training defaults); :meth:`PhaseClassifier.fit` builds and trains the network
with the one training loop (:mod:`fieldnet.training.trainer`) and returns the estimator; learned
state ends in ``_``.  Data may be a data file, an xarray Dataset meeting the data contract
(:mod:`fieldnet.io.importers`) or numpy arrays; predictions of a Dataset come back as xarray
with the Dataset's coordinates.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any

import numpy as np

from fieldnet.errors import FieldnetError
from fieldnet.training.config import CLASSES, TrainConfig

_D = TrainConfig()


class PhaseClassifier:
    """A convolutional classifier of ordered (1) and disordered (0) phases.

    Args:
        preset: named architecture ("gap" takes every L; "r1", "vgg", "resnet"), unless
            ``architecture`` names a JSON file.
        epochs, batch_size, optimizer, lr, schedule, val_fraction, patience, exclude_T,
            augment, seed, dropout: the training settings (see
            :class:`~fieldnet.training.config.TrainConfig`); temperatures in J/k_B.
        progress: show a tqdm bar on stderr while training.
        verbose: print one line per epoch.

    Attributes (after :meth:`fit`):
        model_: the trained :class:`fieldnet.engine.model.Sequential`.
        history_: per-epoch records (loss, accuracy, val_loss, val_accuracy, lr, seconds).
        classes_: the class labels, ``array([0, 1])``; class_names_: ("disordered", "ordered").
        input_shape_: the per-sample configuration shape it was trained on (C, *spatial).
    """

    def __init__(self, preset: str = _D.preset, architecture: str | None = _D.architecture, epochs: int = _D.epochs,
                 batch_size: int = _D.batch_size, optimizer: str = _D.optimizer, lr: float | None = _D.lr,
                 schedule: str = _D.schedule, val_fraction: float = _D.val_fraction, patience: int = _D.patience,
                 exclude_T: Any = (), augment: bool = _D.augment, seed: int = _D.seed, dropout: float = _D.dropout,
                 progress: bool = False, verbose: bool = False) -> None:
        self.preset = preset
        self.architecture = architecture
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.lr = lr
        self.schedule = schedule
        self.val_fraction = val_fraction
        self.patience = patience
        self.exclude_T = exclude_T
        self.augment = augment
        self.seed = seed
        self.dropout = dropout
        self.progress = progress
        self.verbose = verbose

    # -- the estimator protocol ------------------------------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor arguments, by name."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> PhaseClassifier:
        """Change constructor arguments; returns the estimator."""
        known = set(self._param_names())
        unknown = sorted(set(params) - known)
        if unknown:
            raise FieldnetError(f"PhaseClassifier has no parameter(s) {unknown}; it has {sorted(known)}")
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        changed = {k: v for k, v in self.get_params().items()
                   if not (isinstance(v, tuple | list) and not v) and v != inspect.signature(type(self).__init__).parameters[k].default}
        return "PhaseClassifier(" + ", ".join(f"{k}={v!r}" for k, v in changed.items()) + ")"

    def _config(self) -> TrainConfig:
        settings = {name: getattr(self, name) for name in ("preset", "architecture", "epochs", "batch_size", "optimizer",
                                                            "lr", "schedule", "val_fraction", "patience", "augment",
                                                            "seed", "dropout")}
        return TrainConfig.from_settings(exclude_T=list(self.exclude_T or ()), **settings)

    def _log(self):
        return print if self.verbose else (lambda line: None)

    # -- training --------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any = None, *, temperature: Any = None, validation_data: Any = None) -> PhaseClassifier:
        """Build the network for the data's configurations and train it; returns ``self``.

        Args:
            X: a data file (streamed, as ``fieldnet train`` does: nothing is written), an xarray
                Dataset meeting the data contract (its ``label`` are the targets), a sequence of
                Datasets of distinct L (with a size-agnostic preset), or configurations
                (N, C, *spatial).
            y: (N,) labels for array inputs (or to override a Dataset's).
            temperature: (N,) k_B T / J for array inputs (stratified split, ``exclude_T``).
            validation_data: (x_val, y_val) or a Dataset; then nothing of ``X`` is held out.
        """
        from fieldnet.training.trainer import build_network, fit, in_memory_index, train

        cfg = self._config()
        if isinstance(X, str | os.PathLike):
            if y is not None or temperature is not None or validation_data is not None:
                raise FieldnetError("a data file carries its labels, temperatures and validation split; "
                                    "give only the path")
            self.model_ = train(X, None, cfg, progress=self.progress, log=self._log())
            self.history_ = {k: list(v) for k, v in self.model_.history.items()}
        else:
            index = in_memory_index(X, y, temperature)
            shapes = {lat.shape for lat in index.lattices}
            model = build_network(cfg.resolved(), index.lattices[0].shape, several_sizes=len(shapes) > 1)
            network_free = {f: getattr(cfg, f) for f in ("epochs", "batch_size", "optimizer", "lr", "schedule",
                                                           "val_fraction", "patience", "exclude_T", "seed")}
            self.history_ = fit(model, X, y, temperature=temperature, validation_data=validation_data,
                                augment=cfg.augment, progress=self.progress, log=self._log(), **network_free)
            self.model_ = model
        self.classes_ = np.arange(len(CLASSES))
        self.class_names_ = CLASSES
        self.input_shape_ = tuple(self.model_.input_shape)
        return self

    def _fitted(self):
        model = getattr(self, "model_", None)
        if model is None:
            raise FieldnetError("this PhaseClassifier is not fitted yet; call fit(data) first")
        return model

    # -- prediction ------------------------------------------------------------------------------
    def predict_dataset(self, X: Any, batch_size: int = 256):
        """The predictions layout of :mod:`fieldnet.io.predictions` for a data file or Dataset(s):
        ``probability (sample, class)`` with ``temperature``, ``L``, ``label`` and ``sample_index``."""
        from fieldnet.training.predict import predict_dataset

        return predict_dataset(self._fitted(), X, batch_size=batch_size)

    def predict_proba(self, X: Any, batch_size: int = 256):
        """Class probabilities: (N, 2) numpy for arrays; for a Dataset or data file an xarray
        DataArray ``probability (sample, class)`` with the data's coordinates (temperature,
        label, L, sample_index and the Dataset's own per-sample coordinates)."""
        import xarray as xr

        model = self._fitted()
        if isinstance(X, str | os.PathLike):
            return self.predict_dataset(X, batch_size).probability
        if isinstance(X, xr.Dataset):
            from fieldnet.io.importers import as_contract

            ds = as_contract(X)
            p = self.predict_dataset(ds, batch_size).probability
            extra = {name: ds.coords[name] for name in ds.coords
                     if ds.coords[name].dims == ("sample",) and name not in p.coords}
            return p.assign_coords(extra)
        if isinstance(X, list | tuple):
            return self.predict_dataset(list(X), batch_size).probability
        return model.predict_proba(np.asarray(X), batch_size=batch_size)

    def predict(self, X: Any, batch_size: int = 256):
        """The most probable class, 0 disordered or 1 ordered (numpy, or xarray for a Dataset)."""
        p = self.predict_proba(X, batch_size)
        if hasattr(p, "argmax") and hasattr(p, "dims"):
            return p.argmax("class").astype(np.int8).rename("predicted_label")
        return np.argmax(p, axis=1)

    def score(self, X: Any, y: Any = None) -> float:
        """Accuracy on labelled data (the Dataset's ``label``, or ``y``); unknown labels (-1)
        are left out."""
        pred = np.asarray(self.predict(X))
        if y is None:
            proba = self.predict_proba(X)
            if not hasattr(proba, "coords") or "label" not in proba.coords:
                raise FieldnetError("score needs labels: pass y, or a Dataset with 'label'")
            y = proba["label"].values
        y = np.asarray(y)
        known = y >= 0
        if not np.any(known):
            raise FieldnetError("score needs samples with known labels (0 or 1)")
        return float(np.mean(pred[known] == y[known]))

    # -- files -----------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the trained network as a fieldnet model file (``fieldnet predict`` reads it)."""
        return Path(self._fitted().save(path))

    @classmethod
    def load(cls, path: str | os.PathLike) -> PhaseClassifier:
        """A fitted classifier from a model file written by ``fieldnet train`` or :meth:`save`."""
        from fieldnet.engine.saving import load_model

        model = load_model(path)
        settings = model.attrs.get("train_config") or {}
        known = {k: v for k, v in settings.items() if k in cls._param_names()}
        clf = cls(**known)
        clf.model_ = model
        clf.history_ = {k: list(v) for k, v in model.history.items()}
        clf.classes_ = np.arange(len(CLASSES))
        clf.class_names_ = CLASSES
        clf.input_shape_ = tuple(model.input_shape)
        return clf
