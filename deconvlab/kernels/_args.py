"""Argument checking and output-size arithmetic shared by every kernel; imports only NumPy.

Every public kernel validates its inputs here first, so the error messages are the same whichever
implementation (fast or readable) runs, and the compiled loops can assume well-formed arguments.
"""
import numbers

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def pair(value, name, op, minimum):
    """Return ``value`` as a ``(h, w)`` tuple of ints, each ``>= minimum``.

    ``value`` is an int or a pair of ints, as in PyTorch.
    """
    if isinstance(value, (numbers.Integral,)) and not isinstance(value, bool):
        result = (int(value), int(value))
    elif (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value)
    ):
        result = (int(value[0]), int(value[1]))
    else:
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    if min(result) < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return result


def check_array(a, name, op, ndim=4, dtype=None):
    """Check that ``a`` is a C-contiguous float32/float64 ndarray of ``ndim`` dimensions.

    With ``dtype`` given, ``a`` must have exactly that dtype (mixed dtypes are an error, never a cast).
    """
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{op}: {name} must be a numpy.ndarray, got {type(a).__name__}")
    if a.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{op}: {name} has dtype {a.dtype}, expected float32 or float64")
    if dtype is not None and a.dtype != dtype:
        raise TypeError(
            f"{op}: {name} has dtype {a.dtype} but the input has dtype {dtype}; "
            "mixed dtypes are not cast implicitly"
        )
    if a.ndim != ndim:
        raise ValueError(f"{op}: {name} must have {ndim} dimensions, got shape {a.shape}")
    if not a.flags.c_contiguous:
        raise ValueError(
            f"{op}: {name} must be C-contiguous (got strides {a.strides}); "
            "pass numpy.ascontiguousarray(...)"
        )
    return a


def check_bias(b, c_out, op, dtype):
    """Check an optional bias of shape ``(c_out,)``."""
    if b is None:
        return None
    check_array(b, "bias", op, ndim=1, dtype=dtype)
    if b.shape != (c_out,):
        raise ValueError(f"{op}: bias has shape {b.shape}, expected ({c_out},)")
    return b


def conv_output_size(size, kernel, stride, padding, dilation):
    """Convolution output length: floor((H + 2p - d(k-1) - 1) / s) + 1."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def conv_transpose_output_size(size, kernel, stride, padding, output_padding, dilation):
    """Transposed-convolution output length: (H - 1)s - 2p + d(k-1) + output_padding + 1."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def _check_out_size(op, x_shape, out_hw, formula):
    if min(out_hw) < 1:
        raise ValueError(
            f"{op}: input of shape {tuple(x_shape)} gives an output of size {out_hw[0]}x{out_hw[1]} "
            f"(H_out = {formula}); the output must be at least 1x1"
        )


def _check_weight_size(w, op):
    if 0 in w.shape:
        raise ValueError(f"{op}: weight has a zero-size axis (weight shape {w.shape}); every axis must be >= 1")


def _layer_args(x, w, b, stride, padding, dilation, op, in_axis, layout=""):
    """The checks both layers share: arrays, weight size, stride/padding/dilation pairs, the input channels
    against weight axis ``in_axis`` and the bias against the other channel axis; returns (s, p, d)."""
    check_array(x, "input", op)
    check_array(w, "weight", op, dtype=x.dtype)
    _check_weight_size(w, op)
    s = pair(stride, "stride", op, 1)
    p = pair(padding, "padding", op, 0)
    d = pair(dilation, "dilation", op, 1)
    if x.shape[1] != w.shape[in_axis]:
        raise ValueError(
            f"{op}: input has {x.shape[1]} channels, weight expects {w.shape[in_axis]} "
            f"(input shape {x.shape}, weight shape {w.shape}{layout})"
        )
    check_bias(b, w.shape[1 - in_axis], op, x.dtype)
    return s, p, d


def conv2d_args(x, w, b, stride, padding, dilation, op="conv2d"):
    """Validate conv2d arguments; return ``(stride, padding, dilation, (H_out, W_out))`` as pairs.

    x: (N, C_in, H, W); w: (C_out, C_in, kH, kW); b: (C_out,) or None.
    """
    s, p, d = _layer_args(x, w, b, stride, padding, dilation, op, in_axis=1)
    out_hw = tuple(conv_output_size(x.shape[2 + i], w.shape[2 + i], s[i], p[i], d[i]) for i in range(2))
    _check_out_size(op, x.shape, out_hw, "floor((H + 2p - d(k-1) - 1)/s) + 1")
    return s, p, d, out_hw


def conv_transpose2d_args(x, w, b, stride, padding, output_padding, dilation, op="conv_transpose2d"):
    """Validate conv_transpose2d arguments; return ``(stride, padding, output_padding, dilation, out_hw)``.

    x: (N, C_in, H, W); w: (C_in, C_out, kH, kW) (PyTorch's layout); b: (C_out,) or None.
    0 <= output_padding < max(stride, dilation) in each direction.
    """
    s, p, d = _layer_args(x, w, b, stride, padding, dilation, op, in_axis=0,
                          layout="; layout (C_in, C_out, kH, kW)")
    op_ = pair(output_padding, "output_padding", op, 0)
    for i in range(2):
        if op_[i] >= max(s[i], d[i]):
            raise ValueError(
                f"{op}: output_padding {output_padding!r} must be smaller than "
                f"max(stride, dilation) = {max(s[i], d[i])} in each direction "
                f"(stride {stride!r}, dilation {dilation!r})"
            )
    out_hw = tuple(
        conv_transpose_output_size(x.shape[2 + i], w.shape[2 + i], s[i], p[i], op_[i], d[i]) for i in range(2)
    )
    _check_out_size(op, x.shape, out_hw, "(H - 1)s - 2p + d(k-1) + output_padding + 1")
    return s, p, op_, d, out_hw


def check_grad_output(gy, expected_shape, dtype, op):
    """Check the incoming gradient of a backward kernel against the forward output's shape."""
    check_array(gy, "grad_output", op, dtype=dtype)
    if gy.shape != tuple(expected_shape):
        raise ValueError(
            f"{op}: grad_output has shape {gy.shape}, expected {tuple(expected_shape)} "
            "(the forward output's shape)"
        )
    return gy
