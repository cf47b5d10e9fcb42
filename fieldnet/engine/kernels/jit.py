"""The decorator of the engine's kernels: ``numba.njit(parallel=True, cache=True)`` with full-width vectors.

LLVM tunes every AVX-512 processor to prefer 256-bit vectors ("prefer-256-bit"), so numba's
auto-vectorised loops use half of the vector width these machines have.  For the convolution
kernels, whose inner loops are long multiply-add streams over L1-resident rows, 512-bit
vectors are 1.2-1.4x faster (measured on Sapphire Rapids; see benchmarks/engine.py).

The kernels are therefore compiled by a private copy of numba's CPU target whose code generator
drops that one tuning preference.  It changes nothing outside these kernels: the process's own
numba target, and so every other jitted function (a user's, the simulators'), is untouched and
no environment variable or LLVM option is set.  The cache key of a compiled kernel includes the
target's feature string, so its cache entries never mix with plain ones.  On a processor without
AVX-512, or with a numba whose internals differ, the decorator is plain ``numba.njit``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numba


def _wide_dispatcher() -> type | None:
    """A numba Dispatcher class compiling with 512-bit vectors preferred, or None."""
    try:
        from numba.core import codegen, cpu, registry
        from numba.core.base import OverloadSelector
        from numba.core.compiler_lock import global_compiler_lock
        from numba.core.utils import threadsafe_cached_property

        base_codegen, base_context = codegen.JITCPUCodegen, cpu.CPUContext
        base_target, base_dispatcher = registry.CPUTarget, registry.CPUDispatcher
    except (ImportError, AttributeError):  # pragma: no cover - numba reorganised its internals
        return None

    class WideCodegen(base_codegen):
        def _customize_tm_features(self) -> str:
            features = super()._customize_tm_features()
            if "+avx512f" in features.split(","):
                features += ",-prefer-256-bit"
            return features

    class AdoptedDefinitions(defaultdict):
        """Lowerings by key; a key this target lacks is adopted from numba's own CPU target.

        numba compiles the implementations of ``@overload`` functions (np.empty, ...) with its
        own CPU target and registers their lowering there; calls to them from a kernel find
        them through this fallback and link their code into the kernel.
        """

        def __missing__(self, key: Any) -> Any:
            selector = self[key] = OverloadSelector()
            own = registry.cpu_target.target_context._defns
            if key in own:
                selector.versions.extend(own[key].versions)
            return selector

    class WideContext(base_context):
        @global_compiler_lock
        def init(self) -> None:
            super().init()
            self._internal_codegen = WideCodegen("fieldnet.engine.kernels")
            self._defns = AdoptedDefinitions()

    class WideTarget(base_target):
        @threadsafe_cached_property
        def _toplevel_target_context(self) -> Any:
            return WideContext(self.typing_context, self._target_name)

        @property
        def typing_context(self) -> Any:
            # types are the process's; only the code generation differs
            return registry.cpu_target.typing_context

    class WideDispatcher(base_dispatcher):
        targetdescr = WideTarget("cpu")

    return WideDispatcher


_DISPATCHER = None
_RESOLVED = False


def kernel(*, fastmath: bool | set[str] = False) -> Callable[[Callable], Callable]:
    """``@kernel()``: a parallel, cached numba kernel compiled with full-width vectors.

    Args:
        fastmath: numba's fastmath flags for this kernel.
    """
    global _DISPATCHER, _RESOLVED
    if not _RESOLVED:
        _DISPATCHER = None if numba.config.DISABLE_JIT else _wide_dispatcher()
        _RESOLVED = True

    def wrap(func: Callable) -> Callable:
        if _DISPATCHER is None:
            return numba.njit(parallel=True, cache=True, fastmath=fastmath)(func)
        options = {"nopython": True, "parallel": True, "fastmath": fastmath, "boundscheck": None}
        dispatcher = _DISPATCHER(py_func=func, locals={}, targetoptions=options)
        dispatcher.enable_caching()
        return dispatcher

    return wrap
