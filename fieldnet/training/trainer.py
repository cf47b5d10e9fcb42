"""Supervised training of a phase classifier from a data file, resumable and reproducible.

Classes are ``0 = disordered`` and ``1 = ordered`` (the data file's labels).  Each epoch streams
shuffled, augmented mini-batches from the file (:mod:`fieldnet.training.batches`), evaluates the
validation split, records the history, and writes a checkpoint ``<output>.partial`` (weights,
optimiser state, dropout random state, epoch, best validation loss); the best weights so far go
to ``<output>.best.partial``.  The epoch's shuffling and augmentation are seeded by
``(seed, epoch)``, so a run resumed from a checkpoint continues bit for bit as if it had never
stopped.  A NaN or infinite loss stops training with :class:`TrainingDiverged` and keeps the
last good checkpoint.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from fieldnet.errors import FieldnetError, TrainingDiverged
from fieldnet.io.atomic import check_output_path, partial_path

CLASSES = ("disordered", "ordered")


@dataclass
class TrainConfig:
    """Settings of one training run (all stored in the model file's provenance).

    Attributes:
        preset: named architecture (see fieldnet.training.presets), unless ``architecture`` is a JSON file.
        epochs: maximum number of passes over the training split.
        batch_size: samples per optimisation step.
        optimizer: "sgd" (momentum 0.9, weight decay 5e-4) or "adam".
        lr: initial learning rate.  schedule: "constant", "step" (x0.1 every third of the
            epochs) or "cosine".
        val_fraction: share of every (L, T) point held out for validation.
        patience: stop after this many epochs without a better validation loss (0: never).
        exclude_T: temperature windows (J/k_B) kept out of training and validation.
        augment: random translations, point-group symmetries and spin flips.
        seed: seeds weights, split, shuffling, augmentation and dropout.
        sizes: lattice sizes to train on (default: all in the file).
        init_model, freeze: fine-tune from a trained model, keeping its first ``freeze`` layers.
        dropout: rate of a Dropout layer before a preset's final Dense layer (0: none).
    """

    preset: str = "gap"
    architecture: str | None = None
    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "sgd"
    lr: float = 0.01
    schedule: str = "cosine"
    val_fraction: float = 0.1
    patience: int = 4
    exclude_T: list[tuple[float, float]] = field(default_factory=list)
    augment: bool = True
    seed: int = 0
    sizes: list[int] | None = None
    init_model: str | None = None
    freeze: int = 0
    dropout: float = 0.0

    def validate(self) -> None:
        if self.epochs < 1:
            raise FieldnetError(f"--epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise FieldnetError(f"--batch-size must be positive, got {self.batch_size}")
        if not (self.lr > 0 and np.isfinite(self.lr)):
            raise FieldnetError(f"--lr must be a positive number, got {self.lr}")
        if self.patience < 0:
            raise FieldnetError(f"--patience must be >= 0, got {self.patience}")
        if self.freeze < 0:
            raise FieldnetError(f"--freeze must be >= 0, got {self.freeze}")
        if self.freeze and not self.init_model:
            raise FieldnetError("--freeze K needs --init MODEL (the layers to keep come from a trained model)")


def _make_model(cfg: TrainConfig, input_shape: tuple[int, ...], several_sizes: bool):
    from fieldnet.training.presets import SIZE_AGNOSTIC, build_preset

    if cfg.init_model:
        from fieldnet.engine.saving import load_model

        model = load_model(cfg.init_model)
        try:
            model.shape_after(tuple(input_shape))
        except Exception as exc:
            raise FieldnetError(f"--init {cfg.init_model} does not accept this data's configurations {input_shape}: {exc}") from None
        if tuple(model.input_shape) != tuple(input_shape):
            model.input_shape = tuple(input_shape)  # size-agnostic network moved to a new L
        if cfg.freeze > len(model.layers):
            raise FieldnetError(f"--freeze {cfg.freeze}: the model has only {len(model.layers)} layers")
        model.freeze(cfg.freeze)
        model.history = {}
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


def _schedule(cfg: TrainConfig):
    from fieldnet.engine.schedules import Constant, Cosine, StepDecay

    if cfg.schedule == "constant":
        return Constant(cfg.lr)
    if cfg.schedule == "step":
        return StepDecay(cfg.lr, step=max(1, cfg.epochs // 3), factor=0.1)
    if cfg.schedule == "cosine":
        return Cosine(cfg.lr, total_epochs=cfg.epochs, lr_min=cfg.lr * 0.01)
    raise FieldnetError(f"unknown --schedule {cfg.schedule!r}; choose constant, step or cosine")


def _optimizer(cfg: TrainConfig):
    from fieldnet.engine.optimizers import SGD, Adam

    if cfg.optimizer == "sgd":
        return SGD(lr=cfg.lr, momentum=0.9, weight_decay=5e-4)
    if cfg.optimizer == "adam":
        return Adam(lr=cfg.lr)
    raise FieldnetError(f"unknown --optimizer {cfg.optimizer!r}; choose sgd or adam")


def _progress(total: int, desc: str, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="sample", file=sys.stderr, leave=False, dynamic_ncols=True)


def _evaluate(model, index, loss, batch_size: int) -> tuple[float, float]:
    from fieldnet.training.batches import stream_batches

    total, correct, n = 0.0, 0, 0
    for x, y, _, _ in stream_batches(index, max(batch_size, 256), shuffle=False):
        out = model.predict(x, batch_size=len(x))
        total += loss.forward(out, y) * len(y)
        correct += int(np.sum(np.argmax(out, axis=1) == y))
        n += len(y)
    return (total / n, correct / n) if n else (float("nan"), float("nan"))


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
    from fieldnet.engine.saving import load_checkpoint
    from fieldnet.training.augment import augment_batch, symmetries_from_attrs
    from fieldnet.training.batches import read_index, stream_batches, supervised_split

    if cfg is None:
        unknown = sorted(set(settings) - set(TrainConfig.__dataclass_fields__))
        if unknown:
            raise FieldnetError(f"unknown training setting(s) {unknown}; known: {sorted(TrainConfig.__dataclass_fields__)}")
        cfg = TrainConfig(**settings)
        cfg.exclude_T = [tuple(map(float, w)) for w in cfg.exclude_T]
    elif settings:
        raise FieldnetError("give the training settings either as a TrainConfig or as keywords, not both")
    cfg.validate()
    out = check_output_path(output, overwrite=overwrite, resume=resume)
    ckpt, best_path = partial_path(out), partial_path(out.with_name(out.name + ".best"))
    index = read_index(data, cfg.sizes)
    train_idx, val_idx = supervised_split(index, exclude=cfg.exclude_T, val_fraction=cfg.val_fraction, seed=cfg.seed)
    shapes = {lat.shape for lat in train_idx.lattices}
    first = train_idx.lattices[0]
    model = _make_model(cfg, first.shape, several_sizes=len(shapes) > 1)
    for lat in train_idx.lattices[1:]:
        try:
            model.shape_after(lat.shape)
        except Exception as exc:
            raise FieldnetError(f"the network does not accept L={lat.L} configurations {lat.shape}: {exc}") from None
    loss = get_loss("softmax_cross_entropy")
    optimizer = _optimizer(cfg)
    schedule = _schedule(cfg)
    symmetries = symmetries_from_attrs({"model": index.attrs.get("model"), **index.attrs.get("groups", {}).get(first.L, {})})
    start_epoch, best_val, stale = 0, np.inf, 0
    if resume and ckpt.exists():
        model, opt_state, extra = load_checkpoint(ckpt)
        if extra.get("config") != _jsonable(cfg) or extra.get("data") != str(Path(data).resolve()):
            raise FieldnetError(f"{ckpt} was written by a run with other settings or data; rerun without --resume "
                                "(and with --overwrite) to start afresh")
        if cfg.freeze:
            model.freeze(cfg.freeze)
        if opt_state:
            optimizer.set_state(opt_state)
        start_epoch, best_val, stale = int(extra["epoch"]), float(extra["best_val"]), int(extra["stale"])
        log(f"resuming {out} from epoch {start_epoch}")
    elif resume:
        log(f"no checkpoint {ckpt} to resume; starting afresh")
    model.attrs = {
        "data": str(data), "command": command or "", "classes": list(CLASSES), "train_config": _jsonable(cfg),
        "lattice_sizes": [lat.L for lat in train_idx.lattices], "model": index.attrs.get("model", ""),
        "Tc_reference": _tc_reference(index), "n_train": train_idx.n_samples, "n_val": val_idx.n_samples,
    }
    n_train = train_idx.n_samples
    for epoch in range(start_epoch, cfg.epochs):
        optimizer.lr = schedule.lr(epoch)
        rng = np.random.default_rng([cfg.seed, epoch])
        bar = _progress(n_train, f"epoch {epoch + 1}/{cfg.epochs}", progress)
        t0, seen, loss_sum, acc_sum = time.perf_counter(), 0, 0.0, 0.0
        for b, (x, y, _, _) in enumerate(stream_batches(train_idx, cfg.batch_size, shuffle=True, seed=int(rng.integers(2**63)))):
            if cfg.augment:
                x = augment_batch(x, rng, symmetries)
            value, accuracy = model.train_step(x, y, loss, optimizer)
            if not np.isfinite(value) or not all(np.all(np.isfinite(p)) for _, p, _ in model.named_parameters()):
                if bar:
                    bar.close()
                kept = f"the last good checkpoint is {ckpt}" if ckpt.exists() else "no checkpoint was written yet"
                raise TrainingDiverged(
                    f"training diverged at epoch {epoch + 1}, batch {b + 1} (loss {value}): the learning rate "
                    f"{optimizer.lr:g} is probably too large; rerun with a smaller --lr (e.g. {optimizer.lr / 10:g}); {kept}"
                )
            seen += len(y)
            loss_sum += value * len(y)
            acc_sum += accuracy * len(y)
            if bar:
                bar.update(len(y))
                bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{acc_sum / seen:.3f}", refresh=False)
        if bar:
            bar.close()
        val_loss, val_acc = _evaluate(model, val_idx, loss, cfg.batch_size) if val_idx.n_samples else (loss_sum / seen, acc_sum / seen)
        record = {"epoch": epoch + 1, "lr": optimizer.lr, "loss": loss_sum / seen, "accuracy": acc_sum / seen,
                  "val_loss": val_loss, "val_accuracy": val_acc, "seconds": time.perf_counter() - t0}
        for k, v in record.items():
            model.history.setdefault(k, []).append(float(v))
        log(f"epoch {epoch + 1}/{cfg.epochs}: loss {record['loss']:.4f} acc {record['accuracy']:.4f} "
            f"val_loss {val_loss:.4f} val_acc {val_acc:.4f} ({record['seconds']:.1f} s)")
        if val_loss < best_val:
            best_val, stale = val_loss, 0
            model.save(best_path)
        else:
            stale += 1
        extra = {"epoch": epoch + 1, "best_val": best_val, "stale": stale, "config": _jsonable(cfg),
                 "data": str(Path(data).resolve())}
        model.save(ckpt, optimizer=optimizer, extra=extra)
        if cfg.patience and stale >= cfg.patience and epoch + 1 < cfg.epochs:  # (not news after the last epoch)
            log(f"early stopping: no better validation loss for {cfg.patience} epochs")
            break
    final = model
    if best_path.exists():
        best, _, _ = load_checkpoint(best_path)
        model.set_weights(best.get_weights())  # the best epoch's weights, with the full history
    final.attrs["best_val_loss"] = float(best_val)
    final.save(out)
    for p in (ckpt, best_path):
        p.unlink(missing_ok=True)
    return final


def _tc_reference(index) -> float:
    values = [g.get("Tc") for g in index.attrs.get("groups", {}).values()]
    values = [float(v) for v in values if v is not None and np.isfinite(float(v))]
    return values[0] if values else float("nan")


def _jsonable(cfg: TrainConfig) -> dict:
    d = asdict(cfg)
    d["exclude_T"] = [list(map(float, w)) for w in cfg.exclude_T]
    return d


def command_line() -> str:
    return "fieldnet " + " ".join(shlex.quote(a) for a in sys.argv[1:])
