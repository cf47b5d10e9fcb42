"""Short vectors of floats as numba values, for register-blocked kernels.

numba's own loops are vectorised by LLVM, which keeps an accumulator in a register only while
one loop runs.  A convolution's micro-kernel needs the opposite: a tile of outputs (several
output channels times a few vectors of positions) held in registers while the loop over input
channels and filter taps streams through the inputs, as a GEMM micro-kernel does.  The type
:class:`Lanes` is such a tile element: LLVM's ``<LANES x float>`` (or double), a value that lives
in a register like any scalar local.  A kernel writes each accumulator of its tile as one local
variable; the intrinsics below are the only operations on it:

* :func:`lanes_zero` -- all lanes 0 (of the float type of an array);
* :func:`lanes_load` -- ``arr[i : i + LANES]`` (unaligned);
* :func:`lanes_fma` -- ``acc + s * x`` with the scalar ``s`` in every lane, one fused multiply-add
  per lane (the rounding of ``fma``, as numba's contracted ``acc += s * x`` loops have);
* :func:`lanes_store_range` -- ``arr[i + l] = relu?(v[l] + s)`` for lanes ``lo <= l < hi`` only
  (a masked store: other lanes' memory is not touched, so ``i`` may point outside the row);
* :func:`prefetch` -- a hint to bring the cache line of ``arr[i]`` in (never faults).

LANES = 16 float32 is one AVX-512 register (two AVX2 registers); LLVM splits the vectors to what
the processor has, so the kernels stay correct on any x86 or ARM machine.  float64 uses the same
lane count (the gradient checks; speed does not matter there).
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

#: lanes per vector value
LANES = 16


class Lanes(types.Type):
    """numba type of a vector of ``LANES`` floats of ``dtype``."""

    def __init__(self, dtype: types.Float) -> None:
        self.dtype = dtype
        super().__init__(name=f"Lanes({dtype} x {LANES})")


@register_model(Lanes)
class _LanesModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type) -> None:
        super().__init__(dmm, fe_type, ir.VectorType(dmm.lookup(fe_type.dtype).get_value_type(), LANES))


def _pointer(context, builder, array_type, array, index, vector_type):  # pragma: no cover - compile time
    """Pointer to ``array[index]`` as a pointer to a vector (no bounds check)."""
    data = context.make_array(array_type)(context, builder, array).data
    return builder.bitcast(builder.gep(data, [index]), vector_type.as_pointer())


def _splat(builder, value, vector_type):  # pragma: no cover - compile time
    """``value`` in every lane."""
    undef = ir.Constant(vector_type, ir.Undefined)
    one = builder.insert_element(undef, value, ir.Constant(ir.IntType(32), 0))
    return builder.shuffle_vector(one, undef, ir.Constant(ir.VectorType(ir.IntType(32), LANES), [0] * LANES))


@intrinsic
def lanes_zero(typingctx, like):
    """A vector of zeros of ``like``'s float type (``like`` is an array)."""
    vector = Lanes(like.dtype)

    def codegen(context, builder, signature, args):  # pragma: no cover - compile time
        return ir.Constant(context.get_value_type(vector), None)

    return vector(like), codegen


@intrinsic
def lanes_load(typingctx, array, index):
    """``array[index : index + LANES]`` of a contiguous array, as a vector (unaligned load)."""
    vector = Lanes(array.dtype)

    def codegen(context, builder, signature, args):  # pragma: no cover - compile time
        array_type = signature.args[0]
        index_value = context.cast(builder, args[1], signature.args[1], types.intp)
        pointer = _pointer(context, builder, array_type, args[0], index_value, context.get_value_type(vector))
        return builder.load(pointer, align=array_type.dtype.bitwidth // 8)

    return vector(array, index), codegen


@intrinsic
def lanes_fma(typingctx, acc, scalar, x):
    """``acc + scalar * x`` lane by lane, fused (one rounding)."""
    if not isinstance(acc, Lanes) or acc != x:
        return None

    def codegen(context, builder, signature, args):  # pragma: no cover - compile time
        total, s, xv = args
        vector_type = total.type
        s = context.cast(builder, s, signature.args[1], signature.args[0].dtype)
        suffix = {32: "f32", 64: "f64"}[signature.args[0].dtype.bitwidth]
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vector_type, [vector_type] * 3),
                                             f"llvm.fma.v{LANES}{suffix}")
        return builder.call(fma, [_splat(builder, s, vector_type), xv, total])

    return acc(acc, scalar, x), codegen


@intrinsic
def lanes_store_range(typingctx, array, index, vector, lo, hi, add, relu):
    """``array[index + l] = v[l] + add`` (then ``max(., 0)`` when ``relu``) for ``lo <= l < hi``.

    Only those lanes' memory is written (a masked store), so ``index + l`` may be out of the
    array for the other lanes.  ``max(v, 0)`` keeps NaN and -0.0 as numba's ``max(v, 0.0)`` does.
    """
    if not isinstance(vector, Lanes):
        return None

    def codegen(context, builder, signature, args):  # pragma: no cover - compile time
        array_type, _, _, lo_type, hi_type, add_type, _ = signature.args
        value = args[2]
        vector_type = value.type
        index_value = context.cast(builder, args[1], signature.args[1], types.intp)
        pointer = _pointer(context, builder, array_type, args[0], index_value, vector_type)
        shift = context.cast(builder, args[5], add_type, array_type.dtype)
        value = builder.fadd(value, _splat(builder, shift, vector_type))
        zeros = ir.Constant(vector_type, None)
        rectified = builder.select(builder.fcmp_ordered("<", value, zeros), zeros, value)
        value = builder.select(args[6], rectified, value)
        lane_type = ir.IntType(64)
        lanes = ir.Constant(ir.VectorType(lane_type, LANES), list(range(LANES)))
        first = _splat(builder, context.cast(builder, args[3], lo_type, types.int64), lanes.type)
        end = _splat(builder, context.cast(builder, args[4], hi_type, types.int64), lanes.type)
        mask = builder.and_(builder.icmp_signed(">=", lanes, first), builder.icmp_signed("<", lanes, end))
        mask_type = ir.VectorType(ir.IntType(1), LANES)
        suffix = {32: "f32", 64: "f64"}[array_type.dtype.bitwidth]
        store = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(ir.VoidType(), [vector_type, vector_type.as_pointer(), ir.IntType(32), mask_type]),
            f"llvm.masked.store.v{LANES}{suffix}.p0v{LANES}{suffix}",
        )
        builder.call(store, [value, pointer, ir.Constant(ir.IntType(32), array_type.dtype.bitwidth // 8), mask])
        return context.get_dummy_value()

    return types.void(array, index, vector, lo, hi, add, relu), codegen


@intrinsic
def lanes_mul_add(typingctx, acc, a, b):
    """``acc + a * b`` lane by lane for vectors ``a`` and ``b``, fused (one rounding)."""
    if not isinstance(acc, Lanes) or acc != a or acc != b:
        return None

    def codegen(context, builder, signature, args):  # pragma: no cover - compile time
        total, av, bv = args
        vector_type = total.type
        suffix = {32: "f32", 64: "f64"}[signature.args[0].dtype.bitwidth]
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vector_type, [vector_type] * 3),
                                             f"llvm.fma.v{LANES}{suffix}")
        return builder.call(fma, [av, bv, total])

    return acc(acc, a, b), codegen


@intrinsic
def lanes_sum(typingctx, vector):
    """The sum of the lanes, always in the same pairwise tree: halves added lane by lane
    (l + l+8, then l + l+4, l + l+2), then lane 0 + lane 1 -- the order of LLVM's vectorised
    reductions, so a kernel written with vectors sums exactly as its auto-vectorised form did."""
    if not isinstance(vector, Lanes):
        return None

    def codegen(context, builder, signature, args):  # pragma: no cover - compile time
        value = args[0]
        width = LANES
        while width > 1:
            half = width // 2
            low = builder.shuffle_vector(value, value, ir.Constant(ir.VectorType(ir.IntType(32), half), list(range(half))))
            high = builder.shuffle_vector(value, value,
                                          ir.Constant(ir.VectorType(ir.IntType(32), half), list(range(half, width))))
            value = builder.fadd(high, low) if half > 1 else builder.fadd(
                builder.extract_element(high, ir.Constant(ir.IntType(32), 0)),
                builder.extract_element(low, ir.Constant(ir.IntType(32), 0)))
            width = half
        return value

    return vector.dtype(vector), codegen


@intrinsic
def prefetch(typingctx, array, index):
    """Ask the cache for the line holding ``array[index]`` (a hint: never faults, any index)."""

    def codegen(context, builder, signature, args):  # pragma: no cover - compile time
        array_type = signature.args[0]
        index_value = context.cast(builder, args[1], signature.args[1], types.intp)
        data = context.make_array(array_type)(context, builder, args[0]).data
        address = builder.bitcast(builder.gep(data, [index_value]), ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [ir.IntType(8).as_pointer(), i32, i32, i32]), "llvm.prefetch.p0i8"
        )
        # read, locality 3 (keep in all levels), data cache
        builder.call(function, [address, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return types.none(array, index), codegen
