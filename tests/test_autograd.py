"""Tensor and backward(): dtypes, broadcasting, accumulation, graph handling and error messages."""
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import deconvlab.functional as F
from deconvlab.autograd import Function, Tensor, no_grad
from deconvlab.gradcheck import gradcheck

rng = np.random.default_rng(0)


def randn(*shape):
    return rng.standard_normal(shape)


# dtypes ------------------------------------------------------------------------------------------------
def test_tensor_from_python_data_is_float32():
    assert Tensor([[1, 2], [3, 4]]).dtype == np.float32
    assert Tensor(2.5).dtype == np.float32
    assert Tensor([1.0], dtype=np.float64).dtype == np.float64


def test_float_arrays_keep_their_dtype_and_are_copied():
    a = np.ones(3)
    t = Tensor(a)
    assert t.dtype == np.float64
    a[0] = 7
    assert t.data[0] == 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_python_scalars_do_not_change_dtype(dtype):
    x = Tensor(np.array([0.5, 1.5], dtype=dtype), requires_grad=True)
    results = [x * 0.5, 0.5 * x, x + 1, 1 - x, x / 3, 3 / x, x**2, 2.0**x, x ** np.float64(1.5), -x,
               F.clip(x, 0.7, 1.0), F.leaky_relu(x, 0.1), F.sigmoid(x), F.mse_loss(x, x.detach() * 0.5)]
    for y in results:
        assert y.dtype == dtype
    sum(y.sum() for y in results).backward()
    assert x.grad.dtype == dtype


@pytest.mark.parametrize("bad", [np.arange(3), np.ones(3, dtype=np.float16), np.ones(3, dtype=bool)])
def test_unsupported_array_dtype_is_a_type_error(bad):
    with pytest.raises(TypeError, match="float32 or float64"):
        Tensor(bad)


def test_explicit_dtype_converts_other_arrays():
    assert Tensor(np.arange(3), dtype=np.float32).dtype == np.float32
    with pytest.raises(TypeError, match="not supported"):
        Tensor([1.0], dtype=np.int32)


def test_mixed_dtypes_are_a_type_error_never_a_cast():
    a32, a64 = Tensor([1.0, 2.0]), Tensor([1.0, 2.0], dtype=np.float64)
    with pytest.raises(TypeError, match="mixed dtypes float32 and float64"):
        a32 + a64
    with pytest.raises(TypeError, match="dtype float64 mixed with a float32 tensor"):
        a32 * np.ones(2)
    with pytest.raises(TypeError, match="mixed dtypes"):
        F.conv2d(Tensor(np.ones((1, 1, 3, 3))), Tensor(np.ones((1, 1, 2, 2), dtype=np.float32)))


def test_ndarray_on_the_left_defers_to_the_tensor():
    x = Tensor(np.ones(3), requires_grad=True)
    y = np.full(3, 2.0) * x + np.ones(3)
    assert isinstance(y, Tensor)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, 2.0])


# broadcasting ------------------------------------------------------------------------------------------
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
       op=st.sampled_from(["add", "sub", "mul", "div", "pow"]))
def test_broadcast_gradients_sum_over_broadcast_axes(shapes, op):
    sa, sb = shapes.input_shapes
    a = np.random.default_rng(1).uniform(0.5, 2.0, sa)
    b = np.random.default_rng(2).uniform(0.5, 2.0, sb)
    fn = {"add": F.add, "sub": F.sub, "mul": F.mul, "div": F.div, "pow": F.pow}[op]
    gradcheck(fn, a, b, atol=1e-8, rtol=1e-6)


def test_broadcast_gradient_of_a_bias_is_the_sum_over_the_batch():
    x = Tensor(randn(4, 3))
    b = Tensor(np.zeros(3), requires_grad=True)
    (x + b).sum().backward()
    np.testing.assert_array_equal(b.grad, [4.0, 4.0, 4.0])
    c = Tensor(np.zeros((4, 1)), requires_grad=True)
    (x * c).sum().backward()
    np.testing.assert_allclose(c.grad[:, 0], x.data.sum(axis=1))


# accumulation and graph ----------------------------------------------------------------------------------
def test_gradients_accumulate_across_backward_calls():
    x = Tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, [3 + 2, 3 + 4])


def test_a_tensor_used_twice_gets_the_sum_of_both_paths():
    x = Tensor([3.0], requires_grad=True)
    y = x * x + x  # dy/dx = 2x + 1
    y.backward()
    np.testing.assert_allclose(x.grad, [7.0])


def test_diamond_graph_is_visited_in_topological_order():
    x = Tensor([2.0], dtype=np.float64, requires_grad=True)
    a = x * 3
    b = a * a  # 9x²
    c = a + b  # 3x + 9x²
    d = c * a  # (3x + 9x²)·3x = 9x² + 27x³
    d.backward()
    np.testing.assert_allclose(x.grad, [18 * 2 + 81 * 4])


def test_deep_graph_does_not_hit_the_recursion_limit():
    depth = sys.getrecursionlimit() * 3
    x = Tensor([1.0], requires_grad=True)
    y = x
    for _ in range(depth):
        y = y + 1.0
    y.backward()
    np.testing.assert_array_equal(x.grad, [1.0])


def test_no_grad_records_nothing():
    x = Tensor([1.0], requires_grad=True)
    with no_grad():
        y = x * 2
    assert not y.requires_grad and y.is_leaf

    @no_grad()
    def double(t):
        return t * 2

    assert not double(x).requires_grad
    assert (x * 2).requires_grad


def test_detach_shares_data_and_cuts_the_graph():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = (x * 2).detach()
    assert not y.requires_grad and y.is_leaf
    z = x * 2
    assert np.shares_memory(z.detach().data, z.data)


def test_retain_grad_keeps_an_intermediate_gradient():
    x = Tensor([1.0, 2.0], requires_grad=True)
    h = (x * 3).retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad, 2 * h.data)
    np.testing.assert_allclose(x.grad, 3 * 2 * h.data)


def test_backward_on_a_non_scalar_without_grad_is_a_clear_error():
    y = Tensor(np.ones((2, 3)), requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"one-element tensor, this one has shape \(2, 3\)"):
        y.backward()
    y.backward(np.ones((2, 3)))


def test_backward_checks_the_given_grad():
    y = Tensor(np.ones((2, 3)), requires_grad=True) * 2
    with pytest.raises(ValueError, match=r"grad has shape \(3,\), the tensor has shape \(2, 3\)"):
        y.backward(np.ones(3))
    with pytest.raises(TypeError, match="grad has dtype float32"):
        y.backward(np.ones((2, 3), dtype=np.float32))


def test_backward_on_a_tensor_that_does_not_require_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        (Tensor([1.0]) * 2).backward()


def test_second_backward_needs_retain_graph():
    x = Tensor([1.0], requires_grad=True)
    y = x * x
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad, [4.0])
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_comparisons_return_plain_boolean_arrays():
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    for result in (x > 1.5, x >= 2, x < Tensor([2.0, 2.0, 2.0]), x <= 1, x == 2, x != 2):
        assert type(result) is np.ndarray and result.dtype == bool
    np.testing.assert_array_equal(x > 1.5, [False, True, True])


def test_properties_and_numpy():
    x = Tensor(np.arange(6.0).reshape(2, 3))
    assert (x.shape, x.ndim, x.size, x.dtype, len(x)) == ((2, 3), 2, 6, np.float64, 2)
    assert x.numpy() is x.data
    assert x[1, 2].item() == 5.0
    assert "grad_fn=<Mul>" in repr(Tensor([1.0], requires_grad=True) * 2)


# ops: values and gradients --------------------------------------------------------------------------
def test_fancy_index_gradient_adds_repeated_picks():
    x = Tensor(np.arange(4.0), requires_grad=True)
    x[np.array([0, 0, 3, 0])].sum().backward()
    np.testing.assert_array_equal(x.grad, [3, 0, 0, 1])


@pytest.mark.parametrize(
    "index",
    [1, (slice(None), 2), (Ellipsis, slice(1, None, 2)), (np.array([2, 0, 2]),),
     np.array([[True, False, True, True]] * 3), (slice(None), [0, 0, 1])],
    ids=["int", "column", "strided", "fancy-repeat", "bool-mask", "list"],
)
def test_getitem_gradcheck(index):
    result = gradcheck(lambda a: a[index], randn(3, 4))
    print(f"getitem {index!r}: {result}")
    assert result.max_rel_error < 1e-7


@pytest.mark.parametrize("sa,sb", [((3, 4), (4, 2)), ((4,), (4, 2)), ((3, 4), (4,)), ((4,), (4,)),
                                   ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (5, 4, 2)), ((4,), (2, 4, 3))])
def test_matmul_gradcheck(sa, sb):
    result = gradcheck(F.matmul, randn(*sa), randn(*sb))
    print(f"matmul {sa} @ {sb}: {result}")
    assert result.max_rel_error < 1e-7


@pytest.mark.parametrize("axis,keepdims", [(None, False), (0, False), (1, True), ((0, 2), False), (-1, True)])
@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_reductions_gradcheck(reduce, axis, keepdims):
    result = gradcheck(lambda a: getattr(a, reduce)(axis=axis, keepdims=keepdims), randn(2, 3, 4))
    print(f"{reduce} axis={axis} keepdims={keepdims}: {result}")
    assert result.max_rel_error < 1e-7


def test_shape_ops_gradcheck():
    w_reshape, w_swap, w_perm = randn(4, 6), randn(4, 3, 2), randn(3, 4, 2)
    for name, fn in [("reshape", lambda a: a.reshape(4, -1) * w_reshape),
                     ("transpose", lambda a: F.transpose(a, 0, 2) * w_swap),
                     ("permute", lambda a: a.permute(1, 2, 0) * w_perm),
                     ("T", lambda a: a.T * w_swap)]:
        result = gradcheck(fn, randn(2, 3, 4))
        print(f"{name}: {result}")
        assert result.max_rel_error < 1e-7


def test_custom_function_plugs_into_backward():
    class Cube(Function):
        """y = x³;  ∂y/∂x = 3x²."""

        @staticmethod
        def forward(ctx, x):
            ctx.x = x
            return x**3

        @staticmethod
        def backward(ctx, g):
            return g * 3 * ctx.x**2

    result = gradcheck(Cube.apply, randn(5))
    assert result.passed and result.max_rel_error < 1e-7


def test_wrong_gradient_is_caught_by_gradcheck():
    class WrongSquare(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.x = x
            return x * x

        @staticmethod
        def backward(ctx, g):
            return g * ctx.x  # should be 2x

    with pytest.raises(AssertionError, match="max relative error") as info:
        gradcheck(WrongSquare.apply, randn(4))
    print(info.value)
    assert not gradcheck(WrongSquare.apply, randn(4), raise_exception=False)
