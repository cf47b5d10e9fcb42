"""`fieldnet train DATA -o MODEL`: train a phase classifier on a data file."""

from __future__ import annotations

import argparse

from fieldnet.app.commands import analyze
from fieldnet.training.config import TrainConfig

DESCRIPTION = (
    "Train a convolutional phase classifier (0 disordered, 1 ordered: the data file's labels). "
    "Mini-batches stream from the file, augmented by the lattice's symmetries; a checkpoint is "
    "written every epoch (--resume continues it) and the history is stored in the model file."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = TrainConfig()  # every default shown here is the Python API's
    analyze.add_data_argument(parser)
    parser.add_argument("-o", "--output", default="model.h5", help="model file to write (default: model.h5)")
    arch = parser.add_mutually_exclusive_group()
    arch.add_argument("--preset", default=d.preset, help=f"architecture preset: r1, gap (any L), vgg, resnet (default: {d.preset})")
    arch.add_argument("--architecture", metavar="FILE.json", help="architecture file (JSON list of layers)")
    parser.add_argument("--L", type=int, nargs="+", default=d.sizes, dest="sizes",
                        help="lattice sizes to train on (default: all in the file)")
    parser.add_argument("--epochs", type=int, default=d.epochs, help=f"maximum epochs (default: {d.epochs})")
    parser.add_argument("--batch-size", type=int, default=d.batch_size, help=f"mini-batch size (default: {d.batch_size})")
    parser.add_argument("--optimizer", default=d.optimizer, choices=("sgd", "adam"),
                        help=f"sgd (momentum 0.9, weight decay 5e-4) or adam (default: {d.optimizer})")
    parser.add_argument("--lr", type=float, default=d.lr, help="initial learning rate (default: 0.01 for sgd, 0.001 for adam)")
    parser.add_argument("--schedule", default=d.schedule, choices=("constant", "step", "cosine"),
                        help=f"learning-rate schedule (default: {d.schedule})")
    parser.add_argument("--val-fraction", type=float, default=d.val_fraction,
                        help=f"share of each temperature held out for validation (default: {d.val_fraction})")
    parser.add_argument("--patience", type=int, default=d.patience,
                        help=f"early stopping after N epochs without a better validation loss (0: off; default: {d.patience})")
    parser.add_argument("--exclude-T", action="append", default=[], metavar="LOW:HIGH",
                        help="keep a temperature window out of training, e.g. 2.0:2.5 (repeatable)")
    parser.add_argument("--ordered-below", type=float, default=d.ordered_below, metavar="T1",
                        help="label by temperature (J/k_B): T <= T1 ordered (needs --disordered-above; default: the "
                        "data file's labels, which come from the model's known Tc)")
    parser.add_argument("--disordered-above", type=float, default=d.disordered_above, metavar="T2",
                        help="label by temperature (J/k_B): T >= T2 disordered; samples between the bands are not used")
    parser.add_argument("--dropout", type=float, default=d.dropout, metavar="RATE",
                        help="Dropout before the preset's last layer (for 'fieldnet analyze uncertainty'; default 0: none)")
    parser.add_argument("--no-augment", action="store_false", dest="augment", default=d.augment,
                        help="no symmetry augmentation")
    parser.add_argument("--init", metavar="MODEL", default=d.init_model, dest="init_model",
                        help="fine-tune: start from this trained model")
    parser.add_argument("--freeze", type=int, default=d.freeze, metavar="K", help="with --init: keep the first K layers fixed")
    parser.add_argument("--seed", type=int, default=d.seed,
                        help=f"seed of weights, split, shuffling and augmentation (default: {d.seed})")
    parser.add_argument("--threads", type=int, default=None, help="numba threads (default: NUMBA_NUM_THREADS or all cores)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted training from <output>.partial")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing model file")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar or epoch lines")
    dist = parser.add_argument_group("ensembles and Dask (--workers, --scheduler need: pip install \"fieldnet[dist]\")")
    dist.add_argument("--ensemble", type=int, default=None, metavar="K",
                      help="train K networks with seeds SEED..SEED+K-1 into <stem>_net1.h5 .. <stem>_netK.h5 of -o")
    dist.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                      help="train each network as a task on this Dask scheduler's workers (shared storage)")
    dist.add_argument("--workers", type=int, default=None, metavar="N",
                      help="train each network as a task on N local single-threaded Dask worker processes")


#: TrainConfig fields the command line sets under the same name
CONFIG_OPTIONS = ("preset", "architecture", "sizes", "epochs", "batch_size", "optimizer", "lr", "schedule",
                  "val_fraction", "patience", "dropout", "augment", "init_model", "freeze", "seed",
                  "ordered_below", "disordered_above")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig the parsed arguments describe."""
    from fieldnet.training.batches import parse_window

    return TrainConfig(exclude_T=[parse_window(w) for w in args.exclude_T],
                       **{name: getattr(args, name) for name in CONFIG_OPTIONS})


def run(args: argparse.Namespace) -> int:
    import sys

    from fieldnet.app.cli import lock_output
    from fieldnet.io.atomic import check_output_path, require_regular_file
    from fieldnet.training.trainer import command_line, train

    cfg = config_from_args(args)
    inputs = [args.data] + [p for p in (args.architecture, args.init_model) if p is not None]
    out = check_output_path(args.output, overwrite=args.overwrite, resume=args.resume, inputs=inputs)
    if args.architecture is not None:
        require_regular_file(args.architecture, "architecture file", "write one as a JSON list of layers")
    lock_output(args, out)
    args._resume_hint = f"rerun the same command with --resume (checkpoint: {args.output}.partial)"
    log = (lambda *_: None) if args.quiet else (lambda line: print(line, file=sys.stderr))
    if args.ensemble is not None or args.workers is not None or args.scheduler is not None:
        from fieldnet.app.executors import train_ensemble  # each network an independent task

        args._resume_hint = "rerun the same command with --resume (each network continues from its .partial checkpoint)"
        for path, model in train_ensemble(args.data, args.output, cfg, args.ensemble, workers=args.workers,
                                          scheduler=args.scheduler, resume=args.resume, overwrite=args.overwrite,
                                          progress=not args.quiet and sys.stderr.isatty(), command=command_line(), log=log):
            print(f"wrote {path}: {len(model.history.get('loss', []))} epochs, val_accuracy "
                  f"{model.history['val_accuracy'][-1]:.4f}, {model.param_count():,} parameters")
        return 0
    model = train(args.data, args.output, cfg, resume=args.resume, overwrite=args.overwrite,
                  progress=not args.quiet and sys.stderr.isatty(), command=command_line(), log=log)
    h = model.history
    print(f"wrote {args.output}: {len(h.get('loss', []))} epochs, val_accuracy {h['val_accuracy'][-1]:.4f}, "
          f"{model.param_count():,} parameters")
    return 0
