"""The analysis's defaults: the one home of each, read by the Python functions, the command line
and the pipeline alike (this module imports nothing, so ``fieldnet --help`` stays instant)."""

#: bootstrap replicas of the statistical errors of Tc and nu
BOOTSTRAP = 100

#: seed of that bootstrap (the pipeline and `analyze tc` share it, so the same predictions give
#: the same numbers either way)
BOOTSTRAP_SEED = 0

#: the block size b of the renormalisation-group step whose two sides are matched (L and L/b)
BLOCK = 2
