"""Bad arguments raise clear errors naming the argument and its value; good ones are never modified."""
import re

import numpy as np
import pytest

from deconvlab.kernels import fast, readable

IMPLS = pytest.mark.parametrize("impl", [fast, readable], ids=["fast", "readable"])
FORWARD = ["conv2d_forward", "conv_transpose2d_forward"]
BACKWARD = ["conv2d_backward", "conv_transpose2d_backward"]
ALL_OPS = pytest.mark.parametrize("op", FORWARD + BACKWARD)
FORWARD_OPS = pytest.mark.parametrize("op", FORWARD)
BACKWARD_OPS = pytest.mark.parametrize("op", BACKWARD)
TRANSPOSED_OPS = pytest.mark.parametrize("op", ["conv_transpose2d_forward", "conv_transpose2d_backward"])


def valid_args(op, dtype=np.float64, stride=1, padding=0, dilation=1, output_padding=0, seed=0):
    """Keyword arguments for a valid call: x (2, 3, 6, 5); 4 output channels; 3x2 kernel."""
    rng = np.random.default_rng(seed)
    transposed = "transpose" in op
    x = rng.standard_normal((2, 3, 6, 5)).astype(dtype)
    w = rng.standard_normal(((3, 4) if transposed else (4, 3)) + (3, 2)).astype(dtype)
    args = {"x": x, "w": w, "stride": stride, "padding": padding, "dilation": dilation}
    if transposed:
        args["output_padding"] = output_padding
        y = fast.conv_transpose2d_forward(x, w, None, stride, padding, output_padding, dilation)
    else:
        y = fast.conv2d_forward(x, w, None, stride, padding, dilation)
    if op.endswith("backward"):
        args["gy"] = rng.standard_normal(y.shape).astype(dtype)
    else:
        args["b"] = rng.standard_normal(4).astype(dtype)
    return args


def call(impl, op, **overrides):
    """Call ``op`` with valid arguments replaced by ``overrides`` (a b or gy the op does not take is dropped)."""
    args = valid_args(op)
    args.update((name, value) for name, value in overrides.items() if name in args or name not in ("b", "gy"))
    return getattr(impl, op)(**args)


def raises(exc, *fragments):
    """pytest.raises with every fragment (escaped) required in the message, in order."""
    return pytest.raises(exc, match=".*".join(re.escape(f) for f in fragments))


# --- shapes ---------------------------------------------------------------------------------------------


@IMPLS
@ALL_OPS
def test_wrong_ndim_is_a_value_error(impl, op):
    with raises(ValueError, "input must have 4 dimensions", "(3, 6, 5)"):
        call(impl, op, x=np.zeros((3, 6, 5)))
    with raises(ValueError, "weight must have 4 dimensions", "(4, 3, 3)"):
        call(impl, op, w=np.zeros((4, 3, 3)))


@IMPLS
@ALL_OPS
def test_channel_mismatch_is_a_value_error(impl, op):
    with raises(ValueError, "input has 2 channels, weight expects 3"):
        call(impl, op, x=np.zeros((2, 2, 6, 5)))


@IMPLS
@pytest.mark.parametrize("op", ["conv2d_forward", "conv2d_backward"])
def test_conv_output_smaller_than_one_pixel_is_a_value_error(impl, op):
    w = np.zeros((4, 3, 3, 3))
    with raises(ValueError, "input of shape (1, 3, 2, 7)", "size 0x5", "floor((H + 2p - d(k-1) - 1)/s) + 1"):
        call(impl, op, x=np.zeros((1, 3, 2, 7)), w=w, gy=np.zeros((1, 4, 1, 1)))
    with raises(ValueError, "input of shape (2, 3, 6, 5)", "size -2x"):
        call(impl, op, dilation=4, gy=np.zeros((1, 4, 1, 1)))


@IMPLS
@TRANSPOSED_OPS
def test_transposed_output_smaller_than_one_pixel_is_a_value_error(impl, op):
    x, w = np.zeros((1, 3, 1, 2)), np.zeros((3, 4, 1, 2))
    with raises(ValueError, "input of shape (1, 3, 1, 2)", "size -1x", "(H - 1)s - 2p + d(k-1) + output_padding + 1"):
        call(impl, op, x=x, w=w, padding=1, gy=np.zeros((1, 4, 1, 1)))


@IMPLS
@TRANSPOSED_OPS
@pytest.mark.parametrize(
    "stride, dilation, output_padding, limit",
    [(2, 1, 2, 2), (1, 1, 1, 1), (1, 3, (0, 3), 3), ((3, 1), (1, 2), (3, 0), 3), (2, 3, 5, 3)],
)
def test_output_padding_not_below_max_of_stride_and_dilation_is_a_value_error(
    impl, op, stride, dilation, output_padding, limit
):
    with raises(ValueError, f"output_padding {output_padding!r}", f"max(stride, dilation) = {limit}"):
        call(impl, op, stride=stride, dilation=dilation, output_padding=output_padding)


# --- stride, padding, dilation ----------------------------------------------------------------------------


@IMPLS
@ALL_OPS
@pytest.mark.parametrize("name, value", [("stride", 0), ("stride", -2), ("stride", (1, 0)),
                                         ("dilation", 0), ("dilation", (-1, 1)), ("padding", -1),
                                         ("padding", (0, -3))])
def test_out_of_range_stride_dilation_or_padding_is_a_value_error(impl, op, name, value):
    minimum = 0 if name == "padding" else 1
    with raises(ValueError, f"{name} must be >= {minimum}, got {value!r}"):
        call(impl, op, **{name: value})


@IMPLS
@ALL_OPS
@pytest.mark.parametrize("name, value", [("stride", 1.5), ("padding", (1, 2, 3)), ("dilation", True),
                                         ("stride", "2"), ("padding", (1.0, 1))])
def test_non_integer_stride_dilation_or_padding_is_a_type_error(impl, op, name, value):
    with raises(TypeError, f"{name} must be an int or a pair of ints, got {value!r}"):
        call(impl, op, **{name: value})


# --- dtypes, layout, types ---------------------------------------------------------------------------------


@IMPLS
@ALL_OPS
@pytest.mark.parametrize("dtype", [np.int64, np.float16, np.complex128, np.bool_])
def test_non_float_input_is_a_type_error(impl, op, dtype):
    with raises(TypeError, f"input has dtype {np.dtype(dtype)}", "expected float32 or float64"):
        call(impl, op, x=np.zeros((2, 3, 6, 5), dtype=dtype))


@IMPLS
@ALL_OPS
def test_mixed_dtypes_are_a_type_error_not_a_cast(impl, op):
    with raises(TypeError, "weight has dtype float32 but the input has dtype float64"):
        call(impl, op, w=valid_args(op)["w"].astype(np.float32))
    x32 = valid_args(op)["x"].astype(np.float32)
    w32 = valid_args(op)["w"].astype(np.float32)
    if op in FORWARD:
        with raises(TypeError, "bias has dtype float64 but the input has dtype float32"):
            call(impl, op, x=x32, w=w32)
    else:
        with raises(TypeError, "grad_output has dtype float64 but the input has dtype float32"):
            call(impl, op, x=x32, w=w32)


def array_arguments(*names):
    """(op, argument, label in messages) for every op that takes the argument."""
    labels = {"x": "input", "w": "weight", "b": "bias", "gy": "grad_output"}
    return [(op, name, labels[name]) for op in FORWARD + BACKWARD for name in names if name in valid_args(op)]


@IMPLS
@pytest.mark.parametrize("op, name, label", array_arguments("x", "w", "gy"))
def test_non_contiguous_arrays_are_a_value_error(impl, op, name, label):
    args = valid_args(op)
    fortran = np.asfortranarray(args[name])
    with raises(ValueError, f"{label} must be C-contiguous (got strides {fortran.strides})"):
        call(impl, op, **{name: fortran})
    wide = np.zeros(args[name].shape[:-1] + (2 * args[name].shape[-1],))[..., ::2]
    with raises(ValueError, f"{label} must be C-contiguous (got strides {wide.strides})"):
        call(impl, op, **{name: wide})


@IMPLS
@pytest.mark.parametrize("op, name, label", array_arguments("x", "w", "b", "gy"))
def test_non_array_arguments_are_a_type_error(impl, op, name, label):
    args = valid_args(op)
    with raises(TypeError, f"{label} must be a numpy.ndarray, got list"):
        call(impl, op, **{name: args[name].tolist()})


# --- bias and grad_output shapes -------------------------------------------------------------------------


@IMPLS
@FORWARD_OPS
def test_bias_of_wrong_shape_is_a_value_error(impl, op):
    with raises(ValueError, "bias has shape (3,), expected (4,)"):
        call(impl, op, b=np.zeros(3))
    with raises(ValueError, "bias must have 1 dimensions, got shape (4, 1)"):
        call(impl, op, b=np.zeros((4, 1)))


@IMPLS
@BACKWARD_OPS
def test_grad_output_of_wrong_shape_is_a_value_error(impl, op):
    good = valid_args(op)["gy"]
    bad = np.zeros(good.shape[:3] + (good.shape[3] + 1,))
    with raises(ValueError, f"grad_output has shape {bad.shape}, expected {good.shape}"):
        call(impl, op, gy=bad)
    with raises(ValueError, "grad_output must have 4 dimensions, got shape (4, 4)"):
        call(impl, op, gy=np.zeros((4, 4)))


# --- inputs are never modified -----------------------------------------------------------------------------


@IMPLS
@ALL_OPS
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("config", [{}, {"stride": 2, "padding": 1, "dilation": (2, 1), "output_padding": 1}])
def test_inputs_are_never_modified_nor_aliased(impl, op, dtype, config):
    if "transpose" not in op:
        config = {key: value for key, value in config.items() if key != "output_padding"}
    args = valid_args(op, dtype=dtype, seed=3, **config)
    before = {name: value.copy() for name, value in args.items() if isinstance(value, np.ndarray)}
    result = getattr(impl, op)(**args)
    outputs = result if isinstance(result, tuple) else (result,)
    for name, copy in before.items():
        np.testing.assert_array_equal(args[name], copy, err_msg=f"{op} modified its argument {name}")
        for out in outputs:
            assert out is None or not np.shares_memory(out, args[name]), f"{op} returned a view of {name}"
