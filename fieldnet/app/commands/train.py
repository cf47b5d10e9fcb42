"""`fieldnet train DATA -o MODEL`: train a phase classifier on a data file."""

from __future__ import annotations

import argparse

DESCRIPTION = (
    "Train a convolutional phase classifier (0 disordered, 1 ordered: the data file's labels). "
    "Mini-batches stream from the file, augmented by the lattice's symmetries; a checkpoint is "
    "written every epoch (--resume continues it) and the history is stored in the model file."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", metavar="DATA", help="data file written by 'fieldnet simulate'")
    parser.add_argument("-o", "--output", default="model.h5", help="model file to write (default: model.h5)")
    arch = parser.add_mutually_exclusive_group()
    arch.add_argument("--preset", default="gap", help="architecture preset: r1, gap (any L), vgg, resnet (default: gap)")
    arch.add_argument("--architecture", metavar="FILE.json", help="architecture file (JSON list of layers)")
    parser.add_argument("--L", type=int, nargs="+", default=None, help="lattice sizes to train on (default: all in the file)")
    parser.add_argument("--epochs", type=int, default=10, help="maximum epochs (default: 10)")
    parser.add_argument("--batch-size", type=int, default=64, help="mini-batch size (default: 64)")
    parser.add_argument("--optimizer", default="sgd", choices=("sgd", "adam"), help="sgd (momentum 0.9, weight decay 5e-4) or adam")
    parser.add_argument("--lr", type=float, default=None, help="initial learning rate (default: 0.01 for sgd, 0.001 for adam)")
    parser.add_argument("--schedule", default="cosine", choices=("constant", "step", "cosine"), help="learning-rate schedule (default: cosine)")
    parser.add_argument("--val-fraction", type=float, default=0.1, help="share of each temperature held out for validation (default: 0.1)")
    parser.add_argument("--patience", type=int, default=4, help="early stopping after N epochs without a better validation loss (0: off)")
    parser.add_argument("--exclude-T", action="append", default=[], metavar="LOW:HIGH",
                        help="keep a temperature window out of training, e.g. 2.0:2.5 (repeatable)")
    parser.add_argument("--dropout", type=float, default=0.0, metavar="RATE",
                        help="Dropout before the preset's last layer (for 'fieldnet analyze uncertainty'; default 0: none)")
    parser.add_argument("--no-augment", action="store_true", help="no symmetry augmentation")
    parser.add_argument("--init", metavar="MODEL", default=None, help="fine-tune: start from this trained model")
    parser.add_argument("--freeze", type=int, default=0, metavar="K", help="with --init: keep the first K layers fixed")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights, split, shuffling and augmentation (default: 0)")
    parser.add_argument("--threads", type=int, default=None, help="numba threads (default: NUMBA_NUM_THREADS or all cores)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted training from <output>.partial")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing model file")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar or epoch lines")


def run(args: argparse.Namespace) -> int:
    from fieldnet.training.batches import parse_window
    from fieldnet.training.trainer import TrainConfig, command_line, train

    lr = args.lr if args.lr is not None else (0.01 if args.optimizer == "sgd" else 1e-3)
    cfg = TrainConfig(
        preset=args.preset, architecture=args.architecture, epochs=args.epochs, batch_size=args.batch_size,
        optimizer=args.optimizer, lr=lr, schedule=args.schedule, val_fraction=args.val_fraction,
        patience=args.patience, exclude_T=[parse_window(w) for w in args.exclude_T], augment=not args.no_augment,
        seed=args.seed, sizes=args.L, init_model=args.init, freeze=args.freeze, dropout=args.dropout,
    )
    args._resume_hint = f"rerun the same command with --resume (checkpoint: {args.output}.partial)"
    import sys

    log = (lambda *_: None) if args.quiet else (lambda line: print(line, file=sys.stderr))
    model = train(args.data, args.output, cfg, resume=args.resume, overwrite=args.overwrite,
                  progress=not args.quiet and sys.stderr.isatty(), command=command_line(), log=log)
    h = model.history
    print(f"wrote {args.output}: {len(h.get('loss', []))} epochs, val_accuracy {h['val_accuracy'][-1]:.4f}, "
          f"{model.param_count():,} parameters")
    return 0
