"""Supervised training of a phase classifier from a data file, resumable and reproducible.

Classes are ``0 = disordered`` and ``1 = ordered`` (the data file's labels).  Each epoch streams
shuffled, augmented mini-batches from the file (:mod:`fieldnet.training.batches`), evaluates the
validation split, records the history, and writes a checkpoint ``<output>.partial`` (weights,
optimiser state, dropout random state, epoch, best validation loss); the best weights so far go
to ``<output>.best.partial``.  The epoch's shuffling and augmentation are seeded by
``(seed, epoch)``, so a run resumed from a checkpoint continues bit for bit as if it had never
stopped.  A NaN or infinite loss stops training with :class:`TrainingDiverged` and keeps the
last good checkpoint.

The settings and their defaults are :class:`fieldnet.training.config.TrainConfig`.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

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
        model.shape_after(tuple(input_shape))
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
        try:
            model.shape_after(lat.shape)
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
                    where: str, checkpoint: Path, progress: bool) -> tuple[float, float]:
    """One pass of optimisation steps over ``batches`` (x, y, ...); returns (mean loss, accuracy).

    ``augment(x, rng)`` transforms each batch (None: no augmentation).  Raises TrainingDiverged
    at the first non-finite loss or parameter, naming ``checkpoint`` when it exists.
    """
    bar = _progress(n_samples, where, progress)
    seen, loss_sum, acc_sum = 0, 0.0, 0.0
    try:
        for b, (x, y, *_) in enumerate(batches):
            if augment is not None:
                x = augment(x, rng)
            value, accuracy = model.train_step(x, y, loss, optimizer)
            if _diverged(model, value):
                kept = f"the last good checkpoint is {checkpoint}" if checkpoint.exists() else "no checkpoint was written yet"
                raise TrainingDiverged(
                    f"training diverged at {where}, batch {b + 1} (loss {value}): the learning rate "
                    f"{optimizer.lr:g} is probably too large; rerun with a smaller --lr (e.g. {optimizer.lr / 10:g}); {kept}"
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


# -- the run ------------------------------------------------------------------------------------


def train(data: str | os.PathLike, output: str | os.PathLike, cfg: TrainConfig | None = None, *, resume: bool = False,
          overwrite: bool = False, progress: bool = True, command: str | None = None, log=print, **settings):
    """Train a classifier on a data file and write the model file ``output``; returns the model.

    From Python: ``train("data.h5", "model.h5", preset="gap", epochs=5, exclude_T=[(2.1, 2.45)])``.

    Args:
        data: a data file written by ``fieldnet simulate`` (labels 0/1 per sample).
        output: the model file to write (atomically, when training ends).
        cfg: the settings (see :class:`TrainConfig`); or give them as keywords (``settings``).
        resume: continue from ``<output>.partial`` (the checkpoint of an interrupted run).
        overwrite: replace an existing ``output``.
        progress: a tqdm bar on stderr with the running loss and accuracy.
        log: called with one line per epoch.
    """
    from fieldnet.engine.losses import get_loss
    from fieldnet.engine.optimizers import get_optimizer
    from fieldnet.engine.saving import load_checkpoint
    from fieldnet.engine.schedules import get_schedule
    from fieldnet.training.augment import augment_batch, symmetries_from_attrs
    from fieldnet.training.batches import read_index, stream_batches, supervised_split
    from fieldnet.training.predict import data_layout

    if cfg is None:
        cfg = TrainConfig.from_settings(**settings)
    elif settings:
        raise FieldnetError("give the training settings either as a TrainConfig or as keywords, not both")
    cfg = cfg.resolved()
    out = check_output_path(output, overwrite=overwrite, resume=resume)
    checkpoint, best_path = partial_path(out), partial_path(out.with_name(out.name + ".best"))
    index = read_index(data, cfg.sizes)
    train_idx, val_idx = supervised_split(index, exclude=cfg.exclude_T, val_fraction=cfg.val_fraction, seed=cfg.seed)
    model = build_network(cfg, train_idx.lattices[0].shape,
                          several_sizes=len({lat.shape for lat in train_idx.lattices}) > 1)
    _check_accepts(model, train_idx.lattices[1:])
    loss = get_loss("softmax_cross_entropy")
    optimizer = get_optimizer(cfg.optimizer, lr=cfg.lr)
    schedule = get_schedule(cfg.schedule, lr0=cfg.lr, total_epochs=cfg.epochs)
    symmetries = symmetries_from_attrs({"model": index.attrs.get("model"),
                                        **index.attrs.get("groups", {}).get(train_idx.lattices[0].L, {})})
    augment = (lambda x, rng: augment_batch(x, rng, symmetries)) if cfg.augment else None
    identity = {"config": cfg.as_json(), "data": str(Path(data).resolve())}
    state = RunState()
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
    for epoch in range(state.epoch, cfg.epochs):
        optimizer.lr = schedule.lr(epoch)
        rng = np.random.default_rng([cfg.seed, epoch])
        t0 = time.perf_counter()
        batches = stream_batches(train_idx, cfg.batch_size, shuffle=True, seed=int(rng.integers(2**63)))
        train_loss, train_acc = train_one_epoch(model, batches, train_idx.n_samples, loss, optimizer, augment=augment,
                                                rng=rng, where=f"epoch {epoch + 1}/{cfg.epochs}",
                                                checkpoint=checkpoint, progress=progress)
        if val_idx.n_samples:
            val_loss, val_acc = evaluate(model, stream_batches(val_idx, max(cfg.batch_size, 256), shuffle=False), loss)
        else:
            val_loss, val_acc = train_loss, train_acc
        record = EpochRecord(epoch + 1, optimizer.lr, train_loss, train_acc, val_loss, val_acc, time.perf_counter() - t0)
        for k, v in asdict(record).items():
            model.history.setdefault(k, []).append(float(v))
        log(f"epoch {epoch + 1}/{cfg.epochs}: loss {train_loss:.4f} acc {train_acc:.4f} "
            f"val_loss {val_loss:.4f} val_acc {val_acc:.4f} ({record.seconds:.1f} s)")
        state = _after_epoch(model, state, epoch, val_loss, best_path)
        model.save(checkpoint, optimizer=optimizer, extra={**asdict(state), **identity})
        if cfg.patience and state.stale >= cfg.patience and epoch + 1 < cfg.epochs:  # (not news after the last epoch)
            log(f"early stopping: no better validation loss for {cfg.patience} epochs")
            break
    return _finish(model, state, out, checkpoint, best_path, load_checkpoint)


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


def _after_epoch(model, state: RunState, epoch: int, val_loss: float, best_path: Path) -> RunState:
    """The state after ``epoch``; a better validation loss saves the weights to ``best_path``."""
    if val_loss < state.best_val:
        model.save(best_path)
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


def _tc_reference(index) -> float:
    values = [g.get("Tc") for g in index.attrs.get("groups", {}).values()]
    values = [float(v) for v in values if v is not None and np.isfinite(float(v))]
    return values[0] if values else float("nan")


def command_line() -> str:
    return "fieldnet " + " ".join(shlex.quote(a) for a in sys.argv[1:])
