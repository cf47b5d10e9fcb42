"""Per-replica random streams for numba kernels, reproducible whatever the thread count.

numba's own ``np.random`` inside ``prange`` keeps one state per *thread*, so results change
with ``NUMBA_NUM_THREADS``.  Here every replica (or every task) owns an xoshiro256** state,
shape (4,) uint64, seeded through ``numpy.random.SeedSequence`` from (seed, *key).  A kernel that
parallelises over replicas draws only from the replica's own row, so the output is bit-identical
on 1 or many threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint64

_TWO_M53 = 1.0 / 9007199254740992.0  # 2**-53


def seeded_states(seed: int, n: int, *key: int) -> np.ndarray:
    """Independent xoshiro256** states for ``n`` replicas.

    Args:
        seed: the user's seed (any non-negative int).
        n: number of streams.
        key: further integers that name the task, e.g. (lattice index, temperature index).

    Returns:
        (n, 4) uint64 array; rows never all zero.
    """
    ss = np.random.SeedSequence(entropy=int(seed), spawn_key=tuple(int(k) for k in key))
    state = ss.generate_state(4 * n, dtype=np.uint64).reshape(n, 4)
    state[np.all(state == 0, axis=1), 0] = np.uint64(0x9E3779B97F4A7C15)
    return state


@njit(inline="always", cache=True)
def _rotl(x, k):
    return (x << uint64(k)) | (x >> uint64(64 - k))


@njit(inline="always", cache=True)
def next_u64(state, i):
    """Next 64 random bits of stream ``i`` of ``state`` (n, 4) uint64, advancing it in place."""
    s0 = state[i, 0]
    s1 = state[i, 1]
    s2 = state[i, 2]
    s3 = state[i, 3]
    result = _rotl(s1 * uint64(5), 7) * uint64(9)
    t = s1 << uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    state[i, 0] = s0
    state[i, 1] = s1
    state[i, 2] = s2
    state[i, 3] = s3
    return result


@njit(inline="always", cache=True)
def next_double(state, i):
    """Uniform float64 in [0, 1) from stream ``i``."""
    return float(next_u64(state, i) >> uint64(11)) * _TWO_M53
