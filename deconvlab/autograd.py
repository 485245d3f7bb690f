"""Reverse-mode automatic differentiation: Tensor, Function, backward() and the core array ops; imports NumPy only.

A ``Tensor`` wraps an ndarray. Every operation on tensors is a ``Function``: its ``forward(ctx, ...)`` computes
the output from plain arrays and leaves in ``ctx`` what its ``backward(ctx, grad_output)`` will need; the
output tensor remembers that ``ctx`` and the input tensors. ``loss.backward()`` visits the recorded graph in
reverse topological order and applies the chain rule

    ∂L/∂x = Σ over the uses of x  (∂L/∂y) · ∂y/∂x

accumulating into ``.grad`` of every leaf tensor that has ``requires_grad=True``.

dtypes: float32 (the default) or float64, never mixed in one operation (a TypeError, never a silent cast).
Python scalars take the tensor's dtype, so ``x * 0.5`` stays float32. Broadcasting follows NumPy; the gradient
of a broadcast operand is summed back over the broadcast axes.

The elementwise, reduction and shape ops that Tensor's operators and methods need live here; the rest of the
ops (activations, convolutions, upsampling, losses) are in ``deconvlab.functional``.
"""
import contextlib
import numbers

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
DEFAULT_DTYPE = np.dtype(np.float32)

_grad_enabled = True


@contextlib.contextmanager
def no_grad():
    """Context manager (and decorator) in which operations record no graph: outputs have requires_grad=False."""
    global _grad_enabled
    previous = _grad_enabled
    _grad_enabled = False
    try:
        yield
    finally:
        _grad_enabled = previous


def is_grad_enabled():
    """True unless inside ``no_grad()``."""
    return _grad_enabled


def as_float_dtype(dtype):
    """Return ``np.dtype(dtype)`` if it is float32 or float64, else raise TypeError."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{dtype!r} is not a dtype; use numpy.float32 or numpy.float64") from None
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"dtype {dt} is not supported: tensors are float32 or float64")
    return dt


def _array_from(data, dtype):
    """A new float32/float64 array holding ``data`` (the Tensor constructor's conversion rules)."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        dtype = as_float_dtype(dtype)
    if isinstance(data, (np.ndarray, np.generic)):
        arr = np.asarray(data)
        if dtype is None:
            if arr.dtype not in FLOAT_DTYPES:
                raise TypeError(
                    f"Tensor: array has dtype {arr.dtype}; tensors are float32 or float64. "
                    "Pass dtype=numpy.float32 (or .astype(...)) to convert explicitly"
                )
            dtype = arr.dtype
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"Tensor: cannot convert an array of dtype {arr.dtype} to {dtype}")
        return np.array(arr, dtype=dtype, copy=True)
    arr = np.array(data)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"Tensor: cannot make a float tensor from {type(data).__name__} (dtype {arr.dtype})")
    return arr.astype(dtype if dtype is not None else DEFAULT_DTYPE)


def _operator(name, reflected=False):
    """A Tensor operator method: the Function ``name`` applied to (self, other), or to (other, self) for the
    reflected form, ``other`` lifted to a Tensor of self's dtype."""

    def method(self, other):
        function = globals()[name]
        other = lift(other, self)
        return function.apply(other, self) if reflected else function.apply(self, other)

    method.__name__ = f"__r{name.lower()}__" if reflected else f"__{name.lower()}__"
    return method


class Tensor:
    """An ndarray ``data`` with an optional gradient ``grad`` and the record of how it was computed.

    ``Tensor(data, requires_grad=False, dtype=None)`` copies ``data``. Python numbers and lists become
    float32 unless ``dtype`` says otherwise; float32/float64 arrays keep their dtype; other arrays need an
    explicit ``dtype``.
    """

    __array_ufunc__ = None  # ndarray ⊕ Tensor calls Tensor's reflected operator instead of looping in NumPy
    __hash__ = object.__hash__  # __eq__ is elementwise; tensors hash by identity

    def __init__(self, data, requires_grad=False, dtype=None):
        self.data = _array_from(data, dtype)
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._ctx = None
        self._retains_grad = False

    @classmethod
    def _wrap(cls, array, requires_grad=False):
        """A Tensor around ``array`` without copying or checking (for outputs of Functions)."""
        t = cls.__new__(cls)
        t.data = array
        t.grad = None
        t.requires_grad = requires_grad
        t._ctx = None
        t._retains_grad = False
        return t

    shape = property(lambda self: self.data.shape, doc="Shape of ``data``.")
    dtype = property(lambda self: self.data.dtype, doc="dtype of ``data`` (float32 or float64).")
    ndim = property(lambda self: self.data.ndim, doc="Number of dimensions.")
    size = property(lambda self: self.data.size, doc="Number of elements.")
    is_leaf = property(lambda self: self._ctx is None, doc="True unless produced by a recorded operation.")

    def numpy(self):
        """The underlying ndarray (shared, not copied)."""
        return self.data

    def item(self):
        """The value of a one-element tensor as a Python float."""
        if self.data.size != 1:
            raise ValueError(f"item(): tensor has {self.data.size} elements (shape {self.shape}), expected 1")
        return self.data.item()

    def __array__(self, dtype=None, copy=None):
        """``numpy.asarray(tensor)`` is ``data`` (outside the graph)."""
        if dtype is not None and np.dtype(dtype) != self.data.dtype:
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    def __bool__(self):
        return bool(self.data)

    def __float__(self):
        return float(self.item())

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self):
        body = np.array2string(self.data, separator=", ", prefix="Tensor(")
        extra = "" if self.dtype == DEFAULT_DTYPE else f", dtype={self.dtype}"
        if self._ctx is not None:
            extra += f", grad_fn=<{self._ctx.function.__name__}>"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"Tensor({body}{extra})"

    def detach(self):
        """A new leaf tensor sharing ``data``, cut from the graph (requires_grad=False)."""
        return Tensor._wrap(self.data)

    def retain_grad(self):
        """Keep ``.grad`` on this non-leaf tensor too during backward()."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad(): tensor does not require grad")
        self._retains_grad = True
        return self

    def backward(self, grad=None, retain_graph=False):
        """Accumulate ∂self/∂x into ``x.grad`` for every leaf x with requires_grad that self depends on.

        ``grad`` is ∂L/∂self for some outer L (shape of self); it may be omitted only for a one-element
        tensor, where it is 1. The graph's saved arrays are freed afterwards unless ``retain_graph``.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward(): this tensor does not require grad (no input had requires_grad=True, "
                "or it was computed under no_grad())"
            )
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward(): grad can be omitted only for a one-element tensor, this one has shape "
                    f"{self.shape}; reduce it first (e.g. .sum()) or pass grad= an array of shape {self.shape}"
                )
            grad = np.ones_like(self.data)
        else:
            grad = _as_gradient(grad, self)
        _run_backward(self, grad, retain_graph)

    # operators ------------------------------------------------------------------------------------
    # ``a + b`` is Add.apply(a, b); the reflected form ``2 + t`` calls t.__radd__(2), Add.apply(2, t).
    __add__, __radd__ = _operator("Add"), _operator("Add", reflected=True)
    __sub__, __rsub__ = _operator("Sub"), _operator("Sub", reflected=True)
    __mul__, __rmul__ = _operator("Mul"), _operator("Mul", reflected=True)
    __truediv__, __rtruediv__ = _operator("Div"), _operator("Div", reflected=True)
    __matmul__, __rmatmul__ = _operator("MatMul"), _operator("MatMul", reflected=True)
    __rpow__ = _operator("Pow", reflected=True)

    def __pow__(self, exponent):
        if isinstance(exponent, numbers.Real) and not isinstance(exponent, np.ndarray):
            return PowScalar.apply(self, c=float(exponent))
        return Pow.apply(self, lift(exponent, self))

    def __neg__(self):
        return Neg.apply(self)

    def __pos__(self):
        return self

    def __lt__(self, other):
        return self.data < _plain(other)

    def __le__(self, other):
        return self.data <= _plain(other)

    def __gt__(self, other):
        return self.data > _plain(other)

    def __ge__(self, other):
        return self.data >= _plain(other)

    def __eq__(self, other):
        return self.data == _plain(other)

    def __ne__(self, other):
        return self.data != _plain(other)

    def __getitem__(self, index):
        return GetItem.apply(self, index=index)

    # methods ---------------------------------------------------------------------------------------
    def sum(self, axis=None, keepdims=False):
        """Σ over ``axis`` (int, tuple or None for all)."""
        return Sum.apply(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        """Arithmetic mean over ``axis`` (int, tuple or None for all)."""
        return Mean.apply(self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape):
        """Same data in a new shape; ``reshape(2, -1)`` or ``reshape((2, -1))``."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return Reshape.apply(self, shape=shape)

    def permute(self, *axes):
        """Reorder the axes: output axis i is input axis ``axes[i]``."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return Permute.apply(self, axes=axes)

    def transpose(self, dim0, dim1):
        """Swap two axes (PyTorch's ``transpose``; use ``permute`` for a full reordering)."""
        axes = list(range(self.ndim))
        axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
        return Permute.apply(self, axes=tuple(axes))

    @property
    def T(self):
        """All axes reversed."""
        return Permute.apply(self, axes=tuple(reversed(range(self.ndim))))

    def exp(self):
        """Elementwise e^x."""
        return Exp.apply(self)

    def log(self):
        """Elementwise natural logarithm."""
        return Log.apply(self)


def _plain(value):
    return value.data if isinstance(value, Tensor) else value


def lift(value, like):
    """``value`` as a Tensor with the dtype of Tensor ``like``: Python/NumPy numbers take that dtype,
    float arrays must already have it (TypeError otherwise), Tensors are returned unchanged."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, numbers.Number) and not isinstance(value, np.ndarray):
        if isinstance(value, numbers.Complex) and not isinstance(value, numbers.Real):
            raise TypeError(f"complex scalar {value!r} cannot be mixed with a {like.dtype} tensor")
        return Tensor._wrap(np.asarray(value, dtype=like.dtype))
    if isinstance(value, np.ndarray):
        if value.dtype != like.dtype:
            raise TypeError(
                f"array of dtype {value.dtype} mixed with a {like.dtype} tensor; "
                f"convert explicitly (e.g. .astype(numpy.{like.dtype}))"
            )
        return Tensor._wrap(value)
    raise TypeError(f"cannot combine a Tensor with {type(value).__name__}")


def as_tensor(value, dtype=None):
    """``value`` as a Tensor without copying when it is already a Tensor or a float32/float64 ndarray.

    Python numbers and lists become ``dtype`` (default float32); other arrays raise TypeError.
    """
    if isinstance(value, Tensor):
        if dtype is not None and value.dtype != as_float_dtype(dtype):
            raise TypeError(f"expected a {np.dtype(dtype)} tensor, got {value.dtype}")
        return value
    if isinstance(value, np.ndarray) and value.dtype in FLOAT_DTYPES and dtype is None:
        return Tensor._wrap(value)
    return Tensor(value, dtype=dtype)


def _as_gradient(grad, tensor):
    g = grad.data if isinstance(grad, Tensor) else grad
    if isinstance(g, numbers.Number):
        g = np.full(tensor.shape, g, dtype=tensor.dtype)
    g = np.asarray(g)
    if g.dtype != tensor.dtype:
        raise TypeError(f"backward(): grad has dtype {g.dtype}, the tensor has dtype {tensor.dtype}")
    if g.shape != tensor.shape:
        raise ValueError(f"backward(): grad has shape {g.shape}, the tensor has shape {tensor.shape}")
    return g


class Context:
    """What a Function's forward leaves for its backward: any attributes, plus ``needs_input_grad``.

    ``needs_input_grad[i]`` tells whether input i needs a gradient, so a backward can skip work nobody will
    use.
    """

    def __init__(self, function, needs_input_grad):
        self.function = function
        self.needs_input_grad = needs_input_grad
        self.parents = ()
        self.released = False

    def release(self):
        """Drop the saved arrays and the links to the inputs (the graph below this node is freed)."""
        function = self.function
        self.__dict__.clear()
        self.function, self.released = function, True


class Function:
    """One differentiable operation: ``forward(ctx, *inputs, **constants)`` and ``backward(ctx, grad_output)``.

    Both are static methods on plain ndarrays. The positional arguments of ``apply`` are the inputs, all
    Tensors; everything else (numbers, shapes, flags) is passed by keyword and reaches ``forward`` untouched.
    ``backward`` returns one gradient per input (a tuple, or a bare array for a single input), each with that
    input's shape and dtype; it may return None for an input whose ``ctx.needs_input_grad`` is False.
    ``Function.apply(*inputs, **constants)`` runs forward on the arrays and, if any input requires grad,
    records the operation for backward().
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise TypeError("Function.forward is abstract: a Function subclass defines forward(ctx, ...)")

    @staticmethod
    def backward(ctx, grad_output):
        raise TypeError("Function.backward is abstract: a Function subclass defines backward(ctx, grad_output)")

    @classmethod
    def apply(cls, *inputs, **constants):
        """Run ``forward`` on the arrays inside the Tensor ``inputs`` (with the ``constants`` as keywords) and
        return the output Tensor, recording the graph edge when gradients are enabled and some input requires
        grad. The inputs must be Tensors of one dtype (TypeError otherwise)."""
        for a in inputs:
            if not isinstance(a, Tensor):
                raise TypeError(f"{cls.__name__}.apply: inputs are Tensors, got a {type(a).__name__}; pass "
                                "constants (numbers, shapes, None) as keyword arguments")
        dtypes = {a.dtype for a in inputs}
        if len(dtypes) > 1:
            raise TypeError(f"{cls.__name__}: mixed dtypes {' and '.join(sorted(map(str, dtypes)))}; tensors in "
                            "one operation must share a dtype (convert one explicitly)")
        needs = tuple(a.requires_grad for a in inputs)
        track = _grad_enabled and any(needs)
        ctx = Context(cls, needs if track else (False,) * len(inputs))
        out = np.asarray(cls.forward(ctx, *(a.data for a in inputs), **constants))
        if dtypes and out.dtype not in dtypes:
            raise TypeError(f"{cls.__name__}.forward returned dtype {out.dtype} for {inputs[0].dtype} inputs")
        result = Tensor._wrap(out, requires_grad=track)
        if track:
            ctx.parents = inputs
            result._ctx = ctx
        return result


def _topological_order(root):
    """Tensors that need a gradient and that ``root`` depends on, each after all its inputs (iterative DFS)."""
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        node, finished = stack.pop()
        if finished:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        if node._ctx is not None:
            if node._ctx.released:
                raise RuntimeError(
                    "backward(): this part of the graph was already freed by an earlier backward(); "
                    "pass retain_graph=True to the first backward() to call it twice"
                )
            for parent in node._ctx.parents:
                if parent is not None and parent.requires_grad and id(parent) not in visited:
                    stack.append((parent, False))
    return order


def _run_backward(root, grad, retain_graph):
    """The chain rule over the recorded graph, from ``root`` (with ∂L/∂root = ``grad``) back to the leaves:
    each node, after every node that uses it, passes its gradient through its Function's backward to its
    inputs, where the contributions of all uses add up."""
    grads = {id(root): grad}
    for node in reversed(_topological_order(root)):
        g = grads.pop(id(node), None)
        if g is None:
            continue
        if node.is_leaf or node._retains_grad:
            if node.grad is None:
                node.grad = np.array(g, copy=True)
            else:
                node.grad += g
        if node.is_leaf:
            continue
        for parent, pg in zip(node._ctx.parents, _input_gradients(node._ctx, g)):
            if pg is not None and parent.requires_grad:
                grads[id(parent)] = pg if id(parent) not in grads else grads[id(parent)] + pg
        if not retain_graph:
            node._ctx.release()


def _input_gradients(ctx, g):
    """``ctx.function.backward(ctx, g)`` as a tuple, one gradient per input; RuntimeError if it returns
    another number of gradients, or one of the wrong shape or dtype for an input that needs it."""
    name = ctx.function.__name__
    grads = ctx.function.backward(ctx, g)
    grads = grads if isinstance(grads, tuple) else (grads,)
    if len(grads) != len(ctx.parents):
        raise RuntimeError(f"{name}.backward returned {len(grads)} gradients for {len(ctx.parents)} inputs")
    checked = []
    for parent, pg in zip(ctx.parents, grads):
        if pg is not None and parent.requires_grad:
            pg = np.asarray(pg)
            if pg.shape != parent.shape or pg.dtype != parent.dtype:
                raise RuntimeError(
                    f"{name}.backward returned a gradient of shape {pg.shape} and dtype {pg.dtype} for an "
                    f"input of shape {parent.shape} and dtype {parent.dtype}"
                )
        checked.append(pg)
    return checked


def unbroadcast(grad, shape):
    """Sum ``grad`` over the axes that broadcasting added or stretched, so that it has ``shape``."""
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1
    )
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


# elementwise arithmetic --------------------------------------------------------------------------------
class Add(Function):
    """y = a + b;  ∂y/∂a = 1, ∂y/∂b = 1 (summed over broadcast axes)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = a.shape, b.shape
        return a + b

    @staticmethod
    def backward(ctx, g):
        return unbroadcast(g, ctx.shapes[0]), unbroadcast(g, ctx.shapes[1])


class Sub(Function):
    """y = a − b;  ∂y/∂a = 1, ∂y/∂b = −1."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = a.shape, b.shape
        return a - b

    @staticmethod
    def backward(ctx, g):
        gb = unbroadcast(-g, ctx.shapes[1]) if ctx.needs_input_grad[1] else None
        return unbroadcast(g, ctx.shapes[0]), gb


class Mul(Function):
    """y = a · b;  ∂y/∂a = b, ∂y/∂b = a."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.a, ctx.b
        ga = unbroadcast(g * b, a.shape) if ctx.needs_input_grad[0] else None
        gb = unbroadcast(g * a, b.shape) if ctx.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    """y = a / b;  ∂y/∂a = 1/b, ∂y/∂b = −a/b²."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        return a / b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.a, ctx.b
        ga = unbroadcast(g / b, a.shape) if ctx.needs_input_grad[0] else None
        gb = unbroadcast(-g * a / (b * b), b.shape) if ctx.needs_input_grad[1] else None
        return ga, gb


class Neg(Function):
    """y = −x;  ∂y/∂x = −1."""

    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, g):
        return -g


class PowScalar(Function):
    """y = x^c for a constant number c;  ∂y/∂x = c·x^(c−1)."""

    @staticmethod
    def forward(ctx, x, *, c):
        ctx.x, ctx.c = x, c
        return x**c

    @staticmethod
    def backward(ctx, g):
        x, c = ctx.x, ctx.c
        return g * c * x ** (c - 1)


class Pow(Function):
    """y = a^b elementwise;  ∂y/∂a = b·a^(b−1), ∂y/∂b = a^b · ln a."""

    @staticmethod
    def forward(ctx, a, b):
        y = a**b
        ctx.a, ctx.b, ctx.y = a, b, y
        return y

    @staticmethod
    def backward(ctx, g):
        a, b, y = ctx.a, ctx.b, ctx.y
        ga = unbroadcast(g * b * a ** (b - 1), a.shape) if ctx.needs_input_grad[0] else None
        gb = unbroadcast(g * y * np.log(a), b.shape) if ctx.needs_input_grad[1] else None
        return ga, gb


class MatMul(Function):
    """Y = A @ B (np.matmul semantics: 1-D operands are promoted, leading axes broadcast);
    ∂L/∂A = G @ Bᵀ, ∂L/∂B = Aᵀ @ G."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        return np.matmul(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.a, ctx.b
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        if b.ndim == 1:
            g = g[..., None]
        if a.ndim == 1:
            g = g[..., None, :]
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = unbroadcast(np.matmul(g, np.swapaxes(b2, -1, -2)), a2.shape).reshape(a.shape)
        if ctx.needs_input_grad[1]:
            gb = unbroadcast(np.matmul(np.swapaxes(a2, -1, -2), g), b2.shape).reshape(b.shape)
        return ga, gb


class ByOutput(Function):
    """An elementwise y = f(x) whose derivative is a function of the output alone, ∂y/∂x = df(y) (exp, tanh,
    sigmoid): forward keeps y instead of x. Subclasses give ``f`` and ``df`` as static methods on arrays."""

    @staticmethod
    def forward(ctx, x):
        ctx.y = ctx.function.f(x)
        return ctx.y

    @staticmethod
    def backward(ctx, g):
        return g * ctx.function.df(ctx.y)


class Exp(ByOutput):
    """y = eˣ;  ∂y/∂x = y."""

    f = staticmethod(np.exp)
    df = staticmethod(lambda y: y)


class ByInput(Function):
    """An elementwise y = f(x) with ∂y/∂x = df(x) (log, abs): forward keeps x. Subclasses give ``f`` and ``df``
    as static methods on arrays."""

    @staticmethod
    def forward(ctx, x):
        ctx.x = x
        return ctx.function.f(x)

    @staticmethod
    def backward(ctx, g):
        return g * ctx.function.df(ctx.x)


class Log(ByInput):
    """y = ln x;  ∂y/∂x = 1/x."""

    f = staticmethod(np.log)
    df = staticmethod(np.reciprocal)


# reductions and shape ops ------------------------------------------------------------------------------
def _normalize_axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
    out = []
    for ax in axes:
        if not -ndim <= ax < max(ndim, 1):
            raise ValueError(f"axis {ax} is out of range for a tensor with {ndim} dimensions")
        out.append(ax % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise ValueError(f"repeated axis in {axis!r}")
    return tuple(out)


def _expand_reduced(g, shape, axes, keepdims):
    """Broadcast the gradient of a reduction over ``axes`` back to the input ``shape``."""
    if not keepdims:
        g = np.expand_dims(g, axes) if axes else g
    return np.broadcast_to(g, shape)


class Sum(Function):
    """y = Σ_axis x;  ∂y/∂x = 1 on every summed element."""

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        ctx.shape, ctx.axes, ctx.keepdims = x.shape, _normalize_axes(axis, x.ndim), keepdims
        return np.sum(x, axis=ctx.axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        return _expand_reduced(g, ctx.shape, ctx.axes, ctx.keepdims)


class Mean(Function):
    """y = (1/n) Σ_axis x over the n reduced elements;  ∂y/∂x = 1/n."""

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        ctx.shape, ctx.axes, ctx.keepdims = x.shape, _normalize_axes(axis, x.ndim), keepdims
        ctx.count = int(np.prod([x.shape[a] for a in ctx.axes]))
        return np.mean(x, axis=ctx.axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        return _expand_reduced(g / ctx.count, ctx.shape, ctx.axes, ctx.keepdims)


class Reshape(Function):
    """y = x viewed in another shape; the gradient is reshaped back."""

    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        return np.reshape(x, shape)

    @staticmethod
    def backward(ctx, g):
        return np.reshape(g, ctx.shape)


class Permute(Function):
    """y = x with axes reordered (y.shape[i] = x.shape[axes[i]]); the gradient is permuted back."""

    @staticmethod
    def forward(ctx, x, axes):
        if sorted(a % max(x.ndim, 1) for a in axes) != list(range(x.ndim)):
            raise ValueError(f"permute: {tuple(axes)} is not a permutation of the {x.ndim} axes of shape {x.shape}")
        ctx.axes = tuple(a % x.ndim for a in axes)
        return np.transpose(x, ctx.axes)

    @staticmethod
    def backward(ctx, g):
        return np.transpose(g, np.argsort(ctx.axes))


def _is_advanced_index(index):
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, (list, np.ndarray)) for p in parts)


class GetItem(Function):
    """y = x[index] (NumPy indexing). The gradient scatters back: assignment for basic indexing, ``np.add.at``
    for integer/boolean array indices, which may select an element more than once."""

    @staticmethod
    def forward(ctx, x, index):
        parts = index if isinstance(index, tuple) else (index,)
        if any(isinstance(p, Tensor) for p in parts):
            raise TypeError("index a Tensor with ints, slices or NumPy integer/bool arrays, not with a Tensor")
        ctx.shape, ctx.index, ctx.advanced = x.shape, index, _is_advanced_index(index)
        return np.array(x[index], copy=True)

    @staticmethod
    def backward(ctx, g):
        gx = np.zeros(ctx.shape, dtype=g.dtype)
        if ctx.advanced:
            np.add.at(gx, ctx.index, g)
        else:
            gx[ctx.index] = g
        return gx
