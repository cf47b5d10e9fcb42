"""Supervised training of a phase classifier, resumable and reproducible: the one training loop.

Classes are ``0 = disordered`` and ``1 = ordered`` (the data's labels).  Each epoch goes over
shuffled, augmented mini-batches (:func:`train_one_epoch`), evaluates the validation split
(:func:`evaluate`), records the history and keeps the best weights (:func:`run_epochs`).  The
epoch's shuffling and augmentation are seeded by ``(seed, epoch)``, so the same seed gives the
same weights whatever the thread count, and a run resumed from a checkpoint continues bit for bit
as if it had never stopped.  A NaN or infinite loss stops training with :class:`TrainingDiverged`.

Two entry points share that loop:

* :func:`train` -- file to file, as ``fieldnet train`` and the pipeline run it: mini-batches are
  streamed from the data file (:mod:`fieldnet.training.batches`); every epoch writes a checkpoint
  ``<output>.partial`` (weights, optimiser state, dropout random state, epoch, best validation
  loss) and the best weights so far go to ``<output>.best.partial``; the model file is written
  when training ends.  Without an output file it trains in memory and writes nothing.
* :func:`fit` -- Keras style, on arrays or xarray Datasets in memory
  (:mod:`fieldnet.training.memory`), for a model you built; returns the history.

The settings and their defaults are :class:`fieldnet.training.config.TrainConfig`.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from fieldnet.errors import FieldnetError, TrainingDiverged
from fieldnet.io.atomic import check_output_path, partial_path
from fieldnet.training.config import CLASSES, TrainConfig

# -- the network --------------------------------------------------------------------------------


def build_network(cfg: TrainConfig, input_shape: tuple[int, ...], several_sizes: bool):
    """The network a run trains: fine-tuned from ``init_model``, read from an architecture file,
    or a preset; it must end in one output per class."""
    from fieldnet.training.presets import SIZE_AGNOSTIC, build_preset

    if cfg.init_model:
        model = _fine_tuning_start(cfg, input_shape)
    elif cfg.architecture:
        from fieldnet.engine.architecture import load_architecture

        model = load_architecture(cfg.architecture, input_shape, seed=cfg.seed)
    else:
        if several_sizes and cfg.preset not in SIZE_AGNOSTIC:
            raise FieldnetError(
                f"preset {cfg.preset!r} is tied to one lattice size but the data holds several; use --preset gap "
                "(or resnet), or pick one size with --L"
            )
        model = build_preset(cfg.preset, input_shape, n_out=len(CLASSES), seed=cfg.seed, dropout=cfg.dropout)
    if model.output_shape != (len(CLASSES),):
        raise FieldnetError(f"the network ends in {model.output_shape} outputs; a phase classifier needs ({len(CLASSES)},)")
    return model


def _fine_tuning_start(cfg: TrainConfig, input_shape: tuple[int, ...]):
    from fieldnet.engine.saving import load_model

    model = load_model(cfg.init_model)
    try:
        model.compute_output_shape(tuple(input_shape))
    except Exception as exc:
        raise FieldnetError(f"--init {cfg.init_model} does not accept this data's configurations {input_shape}: {exc}") from None
    if tuple(model.input_shape) != tuple(input_shape):
        model.input_shape = tuple(input_shape)  # a size-agnostic network moved to a new L
    if cfg.freeze > len(model.layers):
        raise FieldnetError(f"--freeze {cfg.freeze}: the model has only {len(model.layers)} layers")
    model.freeze(cfg.freeze)
    model.history = {}
    return model


def _check_accepts(model, lattices) -> None:
    for lat in lattices:
        if not model.built:
            model.build(lat.shape)
        try:
            model.compute_output_shape(lat.shape)
        except Exception as exc:
            raise FieldnetError(f"the network does not accept L={lat.L} configurations {lat.shape}: {exc}") from None


# -- one epoch ----------------------------------------------------------------------------------


@dataclass
class EpochRecord:
    """What one epoch measured (a row of the model's history)."""

    epoch: int
    lr: float
    loss: float
    accuracy: float
    val_loss: float
    val_accuracy: float
    seconds: float


@dataclass
class RunState:
    """Where a run stands between epochs (what a checkpoint stores besides the weights)."""

    epoch: int = 0
    best_val: float = np.inf
    stale: int = 0


def _progress(total: int, desc: str, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="sample", file=sys.stderr, leave=False, dynamic_ncols=True)


def _diverged(model, value: float) -> bool:
    return not np.isfinite(value) or not all(np.all(np.isfinite(p)) for _, p, _ in model.named_parameters())


def train_one_epoch(model, batches, n_samples: int, loss, optimizer, *, augment, rng: np.random.Generator,
                    where: str, checkpoint: Path | None = None, progress: bool = False,
                    lr_option: str = "--lr") -> tuple[float, float]:
    """One pass of optimisation steps over ``batches`` (x, y, ...); returns (mean loss, accuracy).

    Args:
        batches: (x (B, *input_shape) float32, y (B,) class, ...) mini-batches.
        n_samples: how many samples the batches hold (for the progress bar).
        augment: ``augment(x, rng)`` transforms each batch (None: no augmentation).
        where: "epoch 3/10", named in the progress bar and in a divergence message.
        checkpoint: the run's checkpoint file, named in a divergence message when it exists.
        lr_option: how the caller sets the learning rate ("--lr" on the command line, "lr"
            from Python), for the divergence message.

    Raises TrainingDiverged at the first non-finite loss or parameter.
    """
    bar = _progress(n_samples, where, progress)
    seen, loss_sum, acc_sum = 0, 0.0, 0.0
    try:
        for b, (x, y, *_) in enumerate(batches):
            if augment is not None:
                x = augment(x, rng)
            value, accuracy = model.train_step(x, y, loss, optimizer)
            if _diverged(model, value):
                if checkpoint is None:
                    kept = "the model holds the diverged weights"
                else:
                    kept = f"the last good checkpoint is {checkpoint}" if checkpoint.exists() else "no checkpoint was written yet"
                smaller = f"--lr (e.g. {optimizer.lr / 10:g})" if lr_option == "--lr" else f"{lr_option} (e.g. {lr_option}={optimizer.lr / 10:g})"
                rerun = "rerun" if lr_option == "--lr" else "train again"
                raise TrainingDiverged(
                    f"training diverged at {where}, batch {b + 1} (loss {value}): the learning rate "
                    f"{optimizer.lr:g} is probably too large; {rerun} with a smaller {smaller}; {kept}"
                )
            seen += len(y)
            loss_sum += value * len(y)
            acc_sum += accuracy * len(y)
            if bar:
                bar.update(len(y))
                bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{acc_sum / seen:.3f}", refresh=False)
    finally:
        if bar:
            bar.close()
    if not seen:
        raise FieldnetError(f"{where}: no training samples")
    return loss_sum / seen, acc_sum / seen


def evaluate(model, batches, loss) -> tuple[float, float]:
    """Mean loss and accuracy over ``batches`` (x, y, ...), in evaluation mode (NaN when empty)."""
    total, correct, n = 0.0, 0, 0
    for x, y, *_ in batches:
        out = model.predict(x, batch_size=len(x))
        total += loss.forward(out, y) * len(y)
        correct += int(np.sum(np.argmax(out, axis=1) == y))
        n += len(y)
    return (total / n, correct / n) if n else (float("nan"), float("nan"))


def run_epochs(model, train_idx, val_idx, cfg: TrainConfig, *, loss, optimizer, schedule, augment,
               state: RunState, keep_best: Callable[[Any], None], progress: bool, log: Callable[[str], None],
               save_checkpoint: Callable[[RunState], None] | None = None, checkpoint: Path | None = None,
               lr_option: str = "--lr") -> RunState:
    """The epochs of a run from ``state`` on: train, validate, record, keep the best, stop early.

    Args:
        train_idx, val_idx: the training and validation selections (streamed from a file or
            cut from memory: :func:`fieldnet.training.memory.batch_source`).
        cfg: epochs, batch_size, patience and the seed of the epochs' shuffling and augmentation.
        state: where the run stands (epoch, best validation loss, epochs without improvement).
        keep_best: called with the model after an epoch with a better validation loss.
        save_checkpoint: called with the new state after every epoch (a resumable run).
        log: called with one line per epoch.

    Returns:
        The state after the last epoch run.  ``model.history`` gains one record per epoch
        (:class:`EpochRecord`).
    """
    from fieldnet.training.memory import batch_source

    train_batches, val_batches = batch_source(train_idx), batch_source(val_idx)
    for epoch in range(state.epoch, cfg.epochs):
        optimizer.lr = schedule.lr(epoch)
        rng = np.random.default_rng([cfg.seed, epoch])
        t0 = time.perf_counter()
        batches = train_batches(train_idx, cfg.batch_size, shuffle=True, seed=int(rng.integers(2**63)))
        train_loss, train_acc = train_one_epoch(model, batches, train_idx.n_samples, loss, optimizer, augment=augment,
                                                rng=rng, where=f"epoch {epoch + 1}/{cfg.epochs}",
                                                checkpoint=checkpoint, progress=progress, lr_option=lr_option)
        if val_idx.n_samples:
            val_loss, val_acc = evaluate(model, val_batches(val_idx, max(cfg.batch_size, 256), shuffle=False), loss)
        else:
            val_loss, val_acc = train_loss, train_acc
        record = EpochRecord(epoch + 1, optimizer.lr, train_loss, train_acc, val_loss, val_acc, time.perf_counter() - t0)
        for k, v in asdict(record).items():
            model.history.setdefault(k, []).append(float(v))
        log(f"epoch {epoch + 1}/{cfg.epochs}: loss {train_loss:.4f} acc {train_acc:.4f} "
            f"val_loss {val_loss:.4f} val_acc {val_acc:.4f} ({record.seconds:.1f} s)")
        state = _after_epoch(model, state, epoch, val_loss, keep_best)
        if save_checkpoint is not None:
            save_checkpoint(state)
        if cfg.patience and state.stale >= cfg.patience and epoch + 1 < cfg.epochs:  # (not news after the last epoch)
            log(f"early stopping: no better validation loss for {cfg.patience} epochs")
            break
    return state


def _augmenter(cfg: TrainConfig, symmetries):
    """The batch transform of a run: symmetry augmentation, or None."""
    from fieldnet.training.augment import augment_batch

    if not cfg.augment:
        return None
    return lambda x, rng: augment_batch(x, rng, symmetries)


def _run_symmetries(index, train_idx):
    from fieldnet.training.augment import symmetries_from_attrs

    return symmetries_from_attrs({"model": index.attrs.get("model"),
                                  **index.attrs.get("groups", {}).get(train_idx.lattices[0].L, {})})


class _BestInMemory:
    """The best weights of a run that writes no files."""

    def __init__(self) -> None:
        self.weights: dict[str, np.ndarray] | None = None

    def __call__(self, model) -> None:
        self.weights = model.get_weights()


# -- file to file -------------------------------------------------------------------------------


def train(data: str | os.PathLike, output: str | os.PathLike | None = None, cfg: TrainConfig | None = None, *,
          resume: bool = False, overwrite: bool = True, progress: bool = True, command: str | None = None,
          log: Callable[[str], None] = print, **settings):
    """Train a classifier on a data file and write the model file ``output``; returns the model.

    From Python: ``train("data.h5", "model.h5", preset="gap", epochs=5, exclude_T=[(2.1, 2.45)])``.

    Args:
        data: a data file written by ``fieldnet simulate`` or
            :func:`fieldnet.io.importers.write_dataset` (labels 0/1 per sample).
        output: the model file to write (atomically, when training ends).  None: train in
            memory, write no file (no checkpoints, so no ``resume``).
        cfg: the settings (see :class:`TrainConfig`); or give them as keywords (``settings``).
        resume: continue from ``<output>.partial`` (the checkpoint of an interrupted run).
        overwrite: replace an existing ``output`` (the default from Python, as ``model.save``
            and ``to_netcdf`` do; ``fieldnet train`` asks for ``--overwrite``).  The old file
            stays until the new one is complete.
        progress: a tqdm bar on stderr with the running loss and accuracy.
        log: called with one line per epoch.
    """
    from fieldnet.engine.losses import get_loss
    from fieldnet.engine.optimizers import get_optimizer
    from fieldnet.engine.saving import load_checkpoint
    from fieldnet.engine.schedules import get_schedule
    from fieldnet.training.batches import read_index, supervised_split
    from fieldnet.training.predict import data_layout

    if cfg is None:
        cfg = TrainConfig.from_settings(**settings)
    elif settings:
        raise FieldnetError("give the training settings either as a TrainConfig or as keywords, not both")
    cfg = cfg.resolved()
    if output is None and resume:
        raise FieldnetError("resume needs the output file whose checkpoint to continue")
    out = None if output is None else check_output_path(output, overwrite=overwrite, resume=resume)
    index = read_index(data, cfg.sizes)
    train_idx, val_idx = supervised_split(index, exclude=cfg.exclude_T, val_fraction=cfg.val_fraction, seed=cfg.seed,
                                          bands=cfg.bands)
    model = build_network(cfg, train_idx.lattices[0].shape,
                          several_sizes=len({lat.shape for lat in train_idx.lattices}) > 1)
    _check_accepts(model, train_idx.lattices[1:])
    loss = get_loss("softmax_cross_entropy")
    optimizer = get_optimizer(cfg.optimizer, lr=cfg.lr)
    schedule = get_schedule(cfg.schedule, lr0=cfg.lr, total_epochs=cfg.epochs)
    augment = _augmenter(cfg, _run_symmetries(index, train_idx))
    identity = {"config": cfg.as_json(), "data": str(Path(data).resolve())}
    state = RunState()
    if out is not None:
        checkpoint, best_path = partial_path(out), partial_path(out.with_name(out.name + ".best"))
        if resume and checkpoint.exists():
            model, state = _restore(checkpoint, identity, cfg, optimizer, load_checkpoint)
            log(f"resuming {out} from epoch {state.epoch}")
        elif resume:
            log(f"no checkpoint {checkpoint} to resume; starting afresh")
    model.attrs = {
        "data": str(data), "command": command or "", "classes": list(CLASSES), "train_config": cfg.as_json(),
        "lattice_sizes": [lat.L for lat in train_idx.lattices], "model": index.attrs.get("model", ""),
        "Tc_reference": _tc_reference(index), "n_train": train_idx.n_samples, "n_val": val_idx.n_samples,
        "data_layout": data_layout(index),
    }
    run = {"loss": loss, "optimizer": optimizer, "schedule": schedule, "augment": augment, "progress": progress,
           "log": log}
    if out is None:
        best = _BestInMemory()
        state = run_epochs(model, train_idx, val_idx, cfg, state=state, keep_best=best, **run)
        return _finish_in_memory(model, state, best)

    def save_checkpoint(new_state: RunState) -> None:
        model.save(checkpoint, optimizer=optimizer, extra={**asdict(new_state), **identity})

    state = run_epochs(model, train_idx, val_idx, cfg, state=state, keep_best=lambda m: m.save(best_path),
                       save_checkpoint=save_checkpoint, checkpoint=checkpoint, **run)
    return _finish(model, state, out, checkpoint, best_path, load_checkpoint)


# -- in memory, Keras style ---------------------------------------------------------------------

#: TrainConfig fields that choose a network; :func:`fit` trains the model it is given
_NETWORK_SETTINGS = ("preset", "architecture", "init_model", "freeze", "dropout", "sizes")


def fit(model, x: Any, y: Any = None, *, temperature: Any = None, validation_data: Any = None, augment: Any = None,
        progress: bool = False, log: Callable[[str], None] | None = None, cfg: TrainConfig | None = None,
        **settings: Any) -> dict[str, list[float]]:
    """Train ``model`` on data in memory, Keras style; returns this call's history.

    Example::

        history = fit(model, x, y, epochs=5, batch_size=32, validation_data=(x_val, y_val))
        history = fit(model, ds)                      # an xarray Dataset: config, temperature, label

    The loop is :func:`train`'s (:func:`run_epochs`): the same settings and defaults
    (:class:`TrainConfig`), per-temperature validation split, seeding by ``(seed, epoch)`` (the
    same seed gives the same weights whatever the thread count), early stopping, and at the end
    the weights of the epoch with the best validation loss.

    Args:
        model: a :class:`fieldnet.engine.model.Sequential` (built, or built from the data's shape)
            with one output per class.
        x: configurations (N, C, *spatial) -- or any (N, ...) inputs the model takes -- or an
            xarray Dataset meeting the data contract (:mod:`fieldnet.io.importers`; its ``label``
            are the targets and its ``temperature`` stratifies the split), or a sequence of
            Datasets of distinct lattice sizes (a size-agnostic model).
        y: (N,) class labels (0 disordered, 1 ordered); from the Dataset's ``label`` when None.
        temperature: (N,) k_B T / J of array inputs, for the stratified split and ``exclude_T``.
        validation_data: (x_val, y_val) arrays or a Dataset; then nothing of ``x`` is held out.
        augment: True/False (default: the TrainConfig default for lattice inputs (N, C, *spatial),
            none for flat inputs), a :class:`fieldnet.training.augment.Symmetries`, or a
            function ``(x, rng) -> x``.  True uses the Dataset's symmetries (its ``model``
            attribute), or translations, the point group and the spin flip for arrays.
        progress: a tqdm bar on stderr.  log: called with one line per epoch (default: silent).
        cfg, settings: :class:`TrainConfig` or its fields as keywords (epochs, batch_size,
            optimizer, lr, schedule, val_fraction, patience, exclude_T, seed).

    Returns:
        {"epoch", "lr", "loss", "accuracy", "val_loss", "val_accuracy", "seconds"}: lists, one
        value per epoch of this call (``model.history`` keeps every call's).
    """
    from fieldnet.engine.losses import get_loss
    from fieldnet.engine.optimizers import get_optimizer
    from fieldnet.engine.schedules import get_schedule
    from fieldnet.training.augment import Symmetries
    from fieldnet.training.batches import supervised_split

    given = set(settings) | {f for f in _NETWORK_SETTINGS if cfg is not None and getattr(cfg, f) != getattr(TrainConfig(), f)}
    network = sorted(given & set(_NETWORK_SETTINGS))
    if network:
        raise FieldnetError(f"fit trains the model it is given; {', '.join(network)} choose a network "
                            "(use PhaseClassifier or train() for that)")
    if cfg is None:
        cfg = TrainConfig.from_settings(**settings)
    elif settings:
        raise FieldnetError("give the training settings either as a TrainConfig or as keywords, not both")
    if isinstance(augment, bool):
        cfg = replace(cfg, augment=augment)
    cfg = cfg.resolved()
    index = in_memory_index(x, y, temperature)
    lattice = len(index.lattices[0].shape) >= 2
    if validation_data is not None:
        train_idx, _ = supervised_split(index, exclude=cfg.exclude_T, val_fraction=0.0, seed=cfg.seed, bands=cfg.bands)
        val_idx = in_memory_index(*validation_data) if isinstance(validation_data, tuple) else \
            in_memory_index(validation_data)
    else:
        train_idx, val_idx = supervised_split(index, exclude=cfg.exclude_T, val_fraction=cfg.val_fraction, seed=cfg.seed,
                                              bands=cfg.bands)
    _check_accepts(model, train_idx.lattices + val_idx.lattices)
    if augment is None or isinstance(augment, bool):
        transform = _augmenter(cfg, _run_symmetries(index, train_idx)) if lattice else None
    elif isinstance(augment, Symmetries):
        transform = _augmenter(replace(cfg, augment=True), augment)
    elif callable(augment):
        transform = augment
    else:
        raise FieldnetError(f"augment must be True, False, a Symmetries or a function (x, rng) -> x, got {augment!r}")
    loss = get_loss("softmax_cross_entropy")
    optimizer = get_optimizer(cfg.optimizer, lr=cfg.lr)
    schedule = get_schedule(cfg.schedule, lr0=cfg.lr, total_epochs=cfg.epochs)
    before = len(model.history.get("epoch", []))
    best = _BestInMemory()
    state = run_epochs(model, train_idx, val_idx, cfg, loss=loss, optimizer=optimizer, schedule=schedule,
                       augment=transform, state=RunState(), keep_best=best, progress=progress,
                       log=log or (lambda line: None), lr_option="lr")
    _finish_in_memory(model, state, best)
    model.attrs.update({"classes": list(CLASSES), "train_config": cfg.as_json(), "n_train": train_idx.n_samples,
                        "n_val": val_idx.n_samples, "data": str(index.path),
                        "lattice_sizes": [lat.L for lat in train_idx.lattices]})
    if "Tc_reference" not in model.attrs:
        model.attrs["Tc_reference"] = _tc_reference(index)
    model.attrs.setdefault("model", index.attrs.get("model", ""))
    return {k: list(v[before:]) for k, v in model.history.items()}


def in_memory_index(x: Any, y: Any = None, temperature: Any = None):
    """The sample index (:class:`fieldnet.training.memory.ArrayIndex`) of data in memory: see
    :func:`fit` for what ``x``, ``y`` (N,) and ``temperature`` (N,) may be."""
    import xarray as xr

    from fieldnet.training.memory import index_from_arrays, index_from_datasets

    if isinstance(x, xr.Dataset) or (isinstance(x, list | tuple) and x and all(isinstance(d, xr.Dataset) for d in x)):
        if temperature is not None:
            raise FieldnetError("a Dataset carries its own temperature; do not pass temperature=")
        return index_from_datasets(x, y)
    if isinstance(x, str | os.PathLike):
        raise FieldnetError("fit takes data in memory; for a data file use train(path, ...) or "
                            "PhaseClassifier().fit(path)")
    return index_from_arrays(x, y, temperature)


def _restore(checkpoint: Path, identity: dict, cfg: TrainConfig, optimizer, load_checkpoint):
    """The model and run state of an interrupted run's checkpoint, which must come from the same
    settings and data."""
    model, opt_state, extra = load_checkpoint(checkpoint)
    if extra.get("config") != identity["config"] or extra.get("data") != identity["data"]:
        raise FieldnetError(f"{checkpoint} was written by a run with other settings or data; rerun without --resume "
                            "(and with --overwrite) to start afresh")
    if cfg.freeze:
        model.freeze(cfg.freeze)
    if opt_state:
        optimizer.set_state(opt_state)
    return model, RunState(int(extra["epoch"]), float(extra["best_val"]), int(extra["stale"]))


def _after_epoch(model, state: RunState, epoch: int, val_loss: float, keep_best: Callable[[Any], None]) -> RunState:
    """The state after ``epoch``; a better validation loss hands the model to ``keep_best``."""
    if val_loss < state.best_val:
        keep_best(model)
        return RunState(epoch + 1, val_loss, 0)
    return RunState(epoch + 1, state.best_val, state.stale + 1)


def _finish(model, state: RunState, out: Path, checkpoint: Path, best_path: Path, load_checkpoint):
    """Write the model file with the best epoch's weights and the whole history; remove the
    run's partial files."""
    if best_path.exists():
        best, _, _ = load_checkpoint(best_path)
        model.set_weights(best.get_weights())
    model.attrs["best_val_loss"] = float(state.best_val)
    model.save(out)
    for p in (checkpoint, best_path):
        p.unlink(missing_ok=True)
    return model


def _finish_in_memory(model, state: RunState, best: _BestInMemory):
    """The model with the best epoch's weights and the whole history (nothing written)."""
    if best.weights is not None:
        model.set_weights(best.weights)
    model.attrs["best_val_loss"] = float(state.best_val)
    return model


def _tc_reference(index) -> float:
    values = [g.get("Tc") for g in index.attrs.get("groups", {}).values()]
    values = [float(v) for v in values if v is not None and np.isfinite(float(v))]
    return values[0] if values else float("nan")


def command_line() -> str:
    return "fieldnet " + " ".join(shlex.quote(a) for a in sys.argv[1:])
