"""The network's inner product as explicit vector code: pairs of int16 inputs times pairs of int16 weights summed
into int32 lanes, which x86 compiles to pmaddwd (other targets get plain vector integer ops). Numba does not
vectorise this loop by itself, and it is most of the decoder's time."""

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

from lcodec.model.fixed_point import PAIR_LANES


def madd_rows(acc, wbuf, w_off, width, n_pairs, x, j, g):
    """acc[j:j + 8g] += x @ W[:, j:j + 8g] for a layer's paired weights (`weights.paired`), stored from w_off of
    the flat int16 wbuf as n_pairs rows of `width`; int16 inputs x, g = 1..8 groups of 8 outputs (int32; exact by
    the weight-file bounds). NumPy here (pure-Python runs); compiled code gets `_madd_rows_ir`."""
    w = wbuf[w_off:w_off + n_pairs * width].reshape(n_pairs, width)[:, 2 * j:2 * (j + PAIR_LANES * g)]
    w = w.astype(np.int64)
    xs = np.asarray(x[:2 * n_pairs], np.int64)
    acc[j:j + PAIR_LANES * g] += (xs[0::2] @ w[:, 0::2] + xs[1::2] @ w[:, 1::2]).astype(np.int32)


def _madd_rows_loop(builder, intp, acc_arr, w_arr, w_off, width, n_pairs, x_arr, j, g):
    """IR of acc[j:j + 8g] += x @ W[:, j:j + 8g] for a fixed g: the g accumulators stay in registers across the
    loop over input pairs, and each pair is one sign-extend, multiply and add of the even and odd lanes per 8
    outputs. The pair (x[2i], x[2i + 1]) is loaded as one 32-bit word and broadcast."""
    i16, i32 = ir.IntType(16), ir.IntType(32)
    v16x16, v16x32, v8x32 = ir.VectorType(i16, 16), ir.VectorType(i32, 16), ir.VectorType(i32, 8)
    slots = []
    for q in range(g):
        ptr = builder.bitcast(builder.gep(acc_arr.data, [builder.add(j, ir.Constant(intp, PAIR_LANES * q))]),
                              v8x32.as_pointer())
        slot = cgutils.alloca_once(builder, v8x32)
        builder.store(builder.load(ptr, align=4), slot)
        slots.append((ptr, slot))
    with cgutils.for_range(builder, n_pairs) as loop:
        i = loop.index
        x_ptr = builder.bitcast(builder.gep(x_arr.data, [builder.shl(i, ir.Constant(intp, 1))]), i32.as_pointer())
        one = builder.insert_element(ir.Constant(v8x32, None), builder.load(x_ptr, align=2), ir.Constant(i32, 0))
        xs = builder.shuffle_vector(one, one, ir.Constant(v8x32, [0] * 8))  # (x0, x1) in every 32-bit lane
        xs = builder.sext(builder.bitcast(xs, v16x16), v16x32)
        base = builder.add(w_off, builder.add(builder.mul(i, width), builder.shl(j, ir.Constant(intp, 1))))
        for q, (_, slot) in enumerate(slots):
            w_ptr = builder.bitcast(builder.gep(w_arr.data, [builder.add(base, ir.Constant(intp, 16 * q))]),
                                    v16x16.as_pointer())
            prod = builder.mul(builder.sext(builder.load(w_ptr, align=2), v16x32), xs)
            even = builder.shuffle_vector(prod, prod, ir.Constant(v8x32, list(range(0, 16, 2))))
            odd = builder.shuffle_vector(prod, prod, ir.Constant(v8x32, list(range(1, 16, 2))))
            builder.store(builder.add(builder.load(slot), builder.add(even, odd)), slot)
    for ptr, slot in slots:
        builder.store(builder.load(slot), ptr, align=4)


@intrinsic
def _madd_rows_ir(typingctx, acc, wbuf, w_off, width, n_pairs, x, j, g):
    """madd_rows in compiled code: a switch on g (1..8; other values do nothing) over one register-resident
    loop per group count."""
    sig = types.void(acc, wbuf, types.intp, types.intp, types.intp, x, types.intp, types.intp)

    def codegen(context, builder, signature, args):
        intp = context.get_value_type(types.intp)
        acc_arr, w_arr, x_arr = (context.make_array(signature.args[i])(context, builder, args[i]) for i in (0, 1, 5))
        w_off, width, n_pairs, j, g = args[2], args[3], args[4], args[6], args[7]
        done = builder.append_basic_block("madd.done")
        switch = builder.switch(g, done)
        for n in range(1, 9):
            case = builder.append_basic_block(f"madd.g{n}")
            switch.add_case(ir.Constant(g.type, n), case)
            builder.position_at_end(case)
            _madd_rows_loop(builder, intp, acc_arr, w_arr, w_off, width, n_pairs, x_arr, j, n)
            builder.branch(done)
        builder.position_at_end(done)
        return context.get_dummy_value()

    return sig, codegen


@overload(madd_rows, inline="always")
def _madd_rows_compiled(acc, wbuf, w_off, width, n_pairs, x, j, g):
    if not all(isinstance(a, types.Array) and a.layout == "C" for a in (acc, wbuf, x)) or not (
            acc.dtype == types.int32 and wbuf.dtype == types.int16 and x.dtype == types.int16):
        return None
    return lambda acc, wbuf, w_off, width, n_pairs, x, j, g: _madd_rows_ir(acc, wbuf, w_off, width, n_pairs, x, j, g)
