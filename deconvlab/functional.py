"""Differentiable operations as functions, used as ``import deconvlab.functional as F``; imports NumPy,
``kernels`` and ``autograd``.

Each operation is an ``autograd.Function`` (forward and backward on ndarrays) wrapped by a lowercase function
that takes Tensors (or float arrays of the same dtype, or Python numbers) and returns a Tensor. Argument
names and orders follow ``torch.nn.functional``. Convolutions call ``deconvlab.kernels``: conv2d's input
gradient is a transposed convolution and conv_transpose2d's input gradient is a convolution.

Losses take ``reduction`` in {'mean', 'sum', 'none'} and an optional ``mask`` (1/True = hole, broadcastable
to the prediction): with a mask, 'mean' is the mean over the masked elements, Σ m·ℓ / Σ m.
"""
import numbers

import numpy as np

from . import kernels
from .kernels import elementwise
from .autograd import (
    Add,
    ByInput,
    ByOutput,
    Div,
    Exp,
    Function,
    Log,
    MatMul,
    Mean,
    Mul,
    Neg,
    Permute,
    Pow,
    PowScalar,
    Reshape,
    Sub,
    Sum,
    Tensor,
    as_tensor,
    lift,
)

__all__ = [
    "add", "sub", "mul", "div", "neg", "pow", "matmul", "sum", "mean", "reshape", "transpose", "permute",
    "exp", "log", "abs", "clip", "relu", "leaky_relu", "sigmoid", "tanh", "concatenate", "pad",
    "conv2d", "conv_transpose2d", "rfft2", "irfft2", "upsample_nearest2d", "upsample_bilinear2d", "interpolate", "avg_pool2d", "contextual_attention",
    "mse_loss", "l1_loss", "total_variation", "reparameterize", "gaussian_kl", "binary_cross_entropy", "binary_cross_entropy_with_logits",
]


def _elementwise(function, name, doc):
    """The public function ``name(x)``: ``function`` applied to ``x`` as a Tensor (``doc`` its docstring)."""

    def op(x):
        return function.apply(as_tensor(x))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return op


def _operands(a, b):
    """Both operands as Tensors of one dtype, taken from whichever is already a Tensor."""
    if isinstance(a, Tensor):
        return a, lift(b, a)
    if isinstance(b, Tensor):
        return lift(a, b), b
    a = as_tensor(a)
    return a, lift(b, a)


# arithmetic, reductions, shapes (the Functions live in autograd) -----------------------------------------
def add(a, b):
    """a + b, broadcasting."""
    return Add.apply(*_operands(a, b))


def sub(a, b):
    """a − b, broadcasting."""
    return Sub.apply(*_operands(a, b))


def mul(a, b):
    """a · b elementwise, broadcasting."""
    return Mul.apply(*_operands(a, b))


def div(a, b):
    """a / b elementwise, broadcasting."""
    return Div.apply(*_operands(a, b))


neg = _elementwise(Neg, "neg", "−x.")


def pow(base, exponent):
    """base^exponent elementwise; a number exponent is a constant, a Tensor exponent gets a gradient too."""
    if isinstance(exponent, numbers.Real) and not isinstance(exponent, np.ndarray):
        return PowScalar.apply(as_tensor(base), c=float(exponent))
    return Pow.apply(*_operands(base, exponent))


def matmul(a, b):
    """Matrix product with ``np.matmul`` semantics (1-D operands promoted, batch axes broadcast)."""
    return MatMul.apply(*_operands(a, b))


def sum(x, axis=None, keepdims=False):
    """Σ over ``axis`` (int, tuple, or None for all elements)."""
    return Sum.apply(as_tensor(x), axis=axis, keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    """Mean over ``axis`` (int, tuple, or None for all elements)."""
    return Mean.apply(as_tensor(x), axis=axis, keepdims=keepdims)


def reshape(x, shape):
    """The same elements in ``shape`` (one entry may be −1)."""
    return Reshape.apply(as_tensor(x), shape=tuple(shape))


def transpose(x, dim0, dim1):
    """Swap axes ``dim0`` and ``dim1``."""
    return as_tensor(x).transpose(dim0, dim1)


def permute(x, axes):
    """Reorder the axes: output axis i is input axis ``axes[i]``."""
    return Permute.apply(as_tensor(x), axes=tuple(axes))


exp = _elementwise(Exp, "exp", "eˣ elementwise.")


log = _elementwise(Log, "log", "ln x elementwise.")


# elementwise nonlinearities ---------------------------------------------------------------------------
class Abs(ByInput):
    """y = |x|;  ∂y/∂x = sign(x) (0 at 0)."""

    f = staticmethod(np.abs)
    df = staticmethod(np.sign)


class Clip(Function):
    """y = min(max(x, lo), hi);  ∂y/∂x = 1 where lo ≤ x ≤ hi (bounds included, as PyTorch's clamp), else 0."""

    @staticmethod
    def forward(ctx, x, *, lo, hi):
        ctx.inside = (x >= lo) & (x <= hi)
        return np.clip(x, lo, hi)

    @staticmethod
    def backward(ctx, g):
        return g * ctx.inside


class Relu(Function):
    """y = max(x, 0);  ∂y/∂x = 1 for x > 0, else 0."""

    @staticmethod
    def forward(ctx, x):
        ctx.positive = x > 0
        return np.maximum(x, 0)

    @staticmethod
    def backward(ctx, g):
        return g * ctx.positive


class LeakyRelu(Function):
    """y = x for x > 0, a·x otherwise;  ∂y/∂x = 1 or a.

    For C-contiguous float arrays this is ``kernels.elementwise``: one compiled pass instead of NumPy's several
    (activations are the largest arrays of a network), a NaN input getting a NaN gradient; a gradient that is
    a strided view is copied first. Other inputs take the literal form, ``np.where``; the numbers are the same.
    """

    @staticmethod
    def forward(ctx, x, *, negative_slope):
        ctx.x, ctx.slope = x, negative_slope
        if elementwise.accepts(x):
            return elementwise.leaky_relu(x, negative_slope)
        return np.where(x > 0, x, x * negative_slope)

    @staticmethod
    def backward(ctx, g):
        # A gradient that arrives as a strided view (a skip connection's slice of ``concatenate``'s gradient)
        # is copied first: the copy and one compiled pass take less time than np.where's three.
        g = np.ascontiguousarray(g)
        if elementwise.accepts(ctx.x, g):
            return elementwise.leaky_relu_grad(ctx.x, g, ctx.slope)
        return np.where(ctx.x > 0, g, g * ctx.slope)


def _stable_sigmoid(x):
    """1/(1 + e⁻ˣ), computed as e^(−|x|)/(1 + e^(−|x|)) for x < 0 so that no exp overflows."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


class Sigmoid(ByOutput):
    """σ(x) = 1/(1 + e⁻ˣ) (``_stable_sigmoid``);  ∂σ/∂x = σ(1 − σ)."""

    f = staticmethod(_stable_sigmoid)
    df = staticmethod(lambda y: y * (1 - y))


class Tanh(ByOutput):
    """y = tanh x;  ∂y/∂x = 1 − y²."""

    f = staticmethod(np.tanh)
    df = staticmethod(lambda y: 1 - y * y)


abs = _elementwise(Abs, "abs", "|x| elementwise (gradient sign(x), 0 at 0).")


def clip(x, min=None, max=None):
    """Clamp every element into [min, max] (either bound may be None); gradient 1 inside, bounds included."""
    if min is None and max is None:
        raise ValueError("clip: give min, max or both")
    lo = -np.inf if min is None else float(min)
    hi = np.inf if max is None else float(max)
    if lo > hi:
        raise ValueError(f"clip: min {min!r} is larger than max {max!r}")
    return Clip.apply(as_tensor(x), lo=lo, hi=hi)


relu = _elementwise(Relu, "relu", "max(x, 0) elementwise.")


def leaky_relu(x, negative_slope=0.01):
    """x for x > 0, ``negative_slope``·x otherwise."""
    return LeakyRelu.apply(as_tensor(x), negative_slope=float(negative_slope))


sigmoid = _elementwise(Sigmoid, "sigmoid", "1/(1 + e⁻ˣ), numerically stable for large |x|.")


tanh = _elementwise(Tanh, "tanh", "tanh x elementwise.")


# joining and padding -----------------------------------------------------------------------------------
class Concatenate(Function):
    """y = [x₁, x₂, …] joined along ``axis``; each input's gradient is its slice of ∂L/∂y."""

    @staticmethod
    def forward(ctx, *xs, axis=0):
        ctx.axis, ctx.sizes = axis, [x.shape[axis] for x in xs]
        return np.concatenate(xs, axis=axis)

    @staticmethod
    def backward(ctx, g):
        return tuple(np.split(g, np.cumsum(ctx.sizes)[:-1], axis=ctx.axis))


def concatenate(tensors, axis=0):
    """Join tensors along ``axis``; all other dimensions must agree."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("concatenate: needs at least one tensor")
    first = next((t for t in tensors if isinstance(t, Tensor)), None)
    if first is None:
        first = as_tensor(tensors[0])
    tensors = [lift(t, first) if not isinstance(t, Tensor) else t for t in tensors]
    ndim = first.ndim
    if not -ndim <= axis < ndim:
        raise ValueError(f"concatenate: axis {axis} is out of range for {ndim}-dimensional tensors")
    axis %= ndim
    for t in tensors:
        if t.ndim != ndim or any(t.shape[i] != first.shape[i] for i in range(ndim) if i != axis):
            shapes = [t.shape for t in tensors]
            raise ValueError(f"concatenate: shapes {shapes} differ outside axis {axis}")
    return Concatenate.apply(*tensors, axis=axis)


class Pad(Function):
    """y = x surrounded by a constant; the gradient is the centre slice of ∂L/∂y."""

    @staticmethod
    def forward(ctx, x, widths, value=0.0):
        ctx.inner = tuple(slice(before, before + n) for (before, _), n in zip(widths, x.shape))
        return np.pad(x, widths, mode="constant", constant_values=value)

    @staticmethod
    def backward(ctx, g):
        return g[ctx.inner]


def pad(input, pad, mode="constant", value=0.0):
    """Constant padding, PyTorch's convention: ``pad = (left, right, top, bottom, ...)`` pads the last
    dimension by (left, right), the one before it by (top, bottom), and so on. Widths are >= 0."""
    x = as_tensor(input)
    if mode != "constant":
        raise ValueError(f"pad: mode {mode!r} is not supported (only 'constant')")
    pad = tuple(pad)
    if len(pad) % 2 or len(pad) > 2 * x.ndim:
        raise ValueError(f"pad: {pad} must have an even length of at most 2·ndim = {2 * x.ndim}")
    if any(not isinstance(p, numbers.Integral) or p < 0 for p in pad):
        raise ValueError(f"pad: widths must be non-negative ints, got {pad}")
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        widths[x.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    return Pad.apply(x, widths=tuple(widths), value=float(value))


# convolutions ---------------------------------------------------------------------------------------
class _KernelLayer(Function):
    """A layer computed by a pair of kernels, ``kernels.<name>_forward`` and ``kernels.<name>_backward``
    (``kernel`` = name): inputs x, w and, when there is a bias, b; the geometry (stride, padding, ...) as
    keywords. The kernels are looked up at each call."""

    @staticmethod
    def forward(ctx, x, w, b=None, **geometry):
        x, w = np.ascontiguousarray(x), np.ascontiguousarray(w)
        b = None if b is None else np.ascontiguousarray(b)
        ctx.x, ctx.w, ctx.has_bias, ctx.geometry = x, w, b is not None, geometry
        return getattr(kernels, ctx.function.kernel + "_forward")(x, w, b, **geometry)

    @staticmethod
    def backward(ctx, g):
        need_bias = ctx.has_bias and ctx.needs_input_grad[2]
        backward = getattr(kernels, ctx.function.kernel + "_backward")
        gx, gw, gb = backward(np.ascontiguousarray(g), ctx.x, ctx.w, need_bias=need_bias,
                              need_input=ctx.needs_input_grad[0], **ctx.geometry)
        return (gx, gw, gb) if ctx.has_bias else (gx, gw)


class Conv2d(_KernelLayer):
    """y = conv2d(x, w) + b (cross-correlation, NCHW; see ``kernels.conv2d_forward``).

    ∂L/∂x = conv_transpose2d(∂L/∂y, w),  ∂L/∂w[o,c,u,v] = Σ_n,i,j ∂L/∂y[n,o,i,j] · x[n,c,i·s−p+u·d, j·s−p+v·d],
    ∂L/∂b[o] = Σ_n,i,j ∂L/∂y[n,o,i,j].
    """

    kernel = "conv2d"


class ConvTranspose2d(_KernelLayer):
    """y = conv_transpose2d(x, w) + b, w of shape (C_in, C_out, kH, kW) (see ``kernels``).

    ∂L/∂x = conv2d(∂L/∂y, w),  ∂L/∂w[c,o,u,v] = Σ_n,i,j x[n,c,i,j] · ∂L/∂y[n,o,i·s−p+u·d, j·s−p+v·d],
    ∂L/∂b[o] = Σ_n,i,j ∂L/∂y[n,o,i,j].
    """

    kernel = "conv_transpose2d"


def _check_groups(groups, op):
    if groups != 1:
        raise ValueError(f"{op}: groups={groups!r} is not supported; deconvlab implements groups=1 only")


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation, PyTorch's ``conv2d``:

        y[n,o,i,j] = b[o] + Σ_c Σ_u Σ_v w[o,c,u,v] · x[n, c, i·s−p+u·d, j·s−p+v·d]

    input (N, C_in, H, W), weight (C_out, C_in, kH, kW), bias (C_out,) or None;
    H_out = ⌊(H + 2p − d(kH − 1) − 1)/s⌋ + 1. stride, padding, dilation: int or (h, w).
    """
    _check_groups(groups, "conv2d")
    x = as_tensor(input)
    w = lift(weight, x)
    inputs = (x, w) if bias is None else (x, w, lift(bias, x))
    return Conv2d.apply(*inputs, stride=stride, padding=padding, dilation=dilation)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """2-D transposed convolution ("deconvolution"), PyTorch's ``conv_transpose2d``: every input pixel
    scatters a weighted copy of the kernel,

        y[n, o, i·s−p+u·d, j·s−p+v·d] += w[c,o,u,v] · x[n,c,i,j],   then y[n,o] += b[o]

    input (N, C_in, H, W), weight (C_in, C_out, kH, kW), bias (C_out,) or None;
    H_out = (H − 1)s − 2p + d(kH − 1) + output_padding + 1, with 0 ≤ output_padding < max(s, d).
    It is the adjoint (and the input gradient) of conv2d with the same weight.
    """
    _check_groups(groups, "conv_transpose2d")
    x = as_tensor(input)
    w = lift(weight, x)
    inputs = (x, w) if bias is None else (x, w, lift(bias, x))
    return ConvTranspose2d.apply(*inputs, stride=stride, padding=padding, output_padding=output_padding,
                                 dilation=dilation)


# upsampling and pooling ---------------------------------------------------------------------------------
# the Fourier transform over the last two axes -------------------------------------------------------------
def _hermitian_weights(w, dtype):
    """c[k] for the columns k = 0 … ⌊W/2⌋ of a half spectrum of width W: 1 for the columns that stand for
    themselves (k = 0 and, for even W, k = W/2), 2 for the others, which stand for a column and its mirror."""
    c = np.full(w // 2 + 1, 2.0, dtype=dtype)
    c[0] = 1.0
    if w % 2 == 0:
        c[-1] = 1.0
    return c


class Rfft2(Function):
    """Y = rfft2(x) with the unitary ("ortho") scaling, Y[k, l] = Σ_ij x[i, j]·e^(−2πi(ki/H + lj/W)) / √(HW) for
    l = 0 … ⌊W/2⌋, returned as real channels: y = [Re Y, Im Y] along axis 1 (C → 2C).

    The adjoint of x ↦ (Re Y, Im Y) for real x puts G = g_re + i·g_im back in the half of the spectrum it came
    from, zeros in the other half, and takes the real part of the inverse transform:
    ∂L/∂x = Re ifft2(G padded to W columns) (ortho)."""

    @staticmethod
    def forward(ctx, x):
        ctx.c, ctx.w = x.shape[1], x.shape[-1]
        y = np.fft.rfft2(x, norm="ortho")
        return np.concatenate([y.real, y.imag], axis=1).astype(x.dtype)

    @staticmethod
    def backward(ctx, g):
        c = ctx.c
        full = np.zeros(g.shape[:1] + (c,) + g.shape[2:3] + (ctx.w,), dtype=np.result_type(g.dtype, np.complex64))
        full[..., :g.shape[-1]] = g[:, :c] + 1j * g[:, c:]
        return np.fft.ifft2(full, norm="ortho").real.astype(g.dtype)


class Irfft2(Function):
    """x = irfft2(Y, s=(H, W)) with the unitary scaling, from real channels z = [Re Y, Im Y] (2C → C): the real
    image whose half spectrum is Y (the imaginary parts of the columns that stand for themselves are ignored,
    as NumPy and PyTorch do).

    The adjoint: ∂L/∂Y = c ⊙ rfft2(g) (ortho), c = ``_hermitian_weights`` per column (a column that stands for
    itself and its mirror counts twice), split into real and imaginary channels."""

    @staticmethod
    def forward(ctx, z, size):
        c = z.shape[1] // 2
        ctx.weights = _hermitian_weights(size[1], z.dtype)
        return np.fft.irfft2(z[:, :c] + 1j * z[:, c:], s=size, norm="ortho").astype(z.dtype)

    @staticmethod
    def backward(ctx, g):
        y = np.fft.rfft2(g, norm="ortho") * ctx.weights
        return np.concatenate([y.real, y.imag], axis=1).astype(g.dtype)


def rfft2(input):
    """The 2-D real Fourier transform of (N, C, H, W) over its last two axes, unitary scaling, as real channels
    (N, 2C, H, ⌊W/2⌋ + 1): ``[Re, Im]`` of ``torch.fft.rfft2(x, norm="ortho")`` joined along axis 1 (``Rfft2``)."""
    x = as_tensor(input)
    _check_4d(x, "rfft2")
    return Rfft2.apply(x)


def irfft2(input, size):
    """The inverse of ``rfft2``: (N, 2C, H, ⌊W/2⌋ + 1) real channels [Re, Im] -> the real (N, C, H, W) image,
    W = size[1] (``size`` = (H, W), as ``torch.fft.irfft2(…, s=size, norm="ortho")``; ``Irfft2``)."""
    z = as_tensor(input)
    _check_4d(z, "irfft2")
    h, w = (int(v) for v in size)
    if z.shape[1] % 2 or z.shape[2] != h or z.shape[3] != w // 2 + 1:
        raise ValueError(f"irfft2: expected (N, 2C, {h}, {w // 2 + 1}) for size {(h, w)}, got {z.shape}")
    return Irfft2.apply(z, size=(h, w))


def _scale_pair(scale_factor, op):
    values = scale_factor if isinstance(scale_factor, (tuple, list)) else (scale_factor, scale_factor)
    if len(values) != 2 or any(
        isinstance(v, bool) or not isinstance(v, numbers.Real) or v != int(v) or v < 1 for v in values
    ):
        raise ValueError(f"{op}: scale_factor must be a positive integer or a pair of them, got {scale_factor!r}")
    return int(values[0]), int(values[1])


def _check_4d(x, op):
    if x.ndim != 4:
        raise ValueError(f"{op}: input must be 4-D (N, C, H, W), got shape {x.shape}")


class UpsampleNearest2d(Function):
    """y[n,c,i,j] = x[n, c, ⌊i/s_h⌋, ⌊j/s_w⌋];  ∂L/∂x is ∂L/∂y summed over each s_h × s_w block."""

    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x.repeat(scale[0], axis=2).repeat(scale[1], axis=3)

    @staticmethod
    def backward(ctx, g):
        n, c, h, w = g.shape
        sh, sw = ctx.scale
        return g.reshape(n, c, h // sh, sh, w // sw, sw).sum(axis=(3, 5))


def _linear_taps(size, scale, dtype):
    """Taps of 1-D linear upsampling by an integer ``scale`` with align_corners=False (PyTorch's rule):
    output i reads source position src = max((i + ½)/s − ½, 0) from i0 = ⌊src⌋ and i1 = min(i0 + 1, size − 1)
    with weights 1 − λ and λ = src − i0."""
    src = np.maximum((np.arange(size * scale) + 0.5) / scale - 0.5, 0.0)
    i0 = np.floor(src).astype(np.intp)
    i1 = np.minimum(i0 + 1, size - 1)
    return i0, i1, (src - i0).astype(dtype)


def _along(weights, axis, ndim):
    shape = [1] * ndim
    shape[axis] = -1
    return weights.reshape(shape)


def _interpolate_axis(x, axis, taps):
    i0, i1, lam = taps
    lam = _along(lam, axis, x.ndim)
    return np.take(x, i0, axis=axis) * (1 - lam) + np.take(x, i1, axis=axis) * lam


def _interpolate_axis_grad(g, axis, size, taps):
    i0, i1, lam = taps
    lam = _along(lam, axis, g.ndim)
    gx = np.zeros(g.shape[:axis] + (size,) + g.shape[axis + 1 :], dtype=g.dtype)
    view = np.moveaxis(gx, axis, 0)
    np.add.at(view, i0, np.moveaxis(g * (1 - lam), axis, 0))
    np.add.at(view, i1, np.moveaxis(g * lam, axis, 0))
    return gx


class UpsampleBilinear2d(Function):
    """Bilinear upsampling by integer factors, align_corners=False: linear interpolation along H (taps of
    ``_linear_taps``), then along W. The gradient scatters each output's ∂L/∂y back to its four sources
    with the same weights."""

    @staticmethod
    def forward(ctx, x, scale):
        h, w = x.shape[2:]
        ctx.hw = h, w
        ctx.taps = _linear_taps(h, scale[0], x.dtype), _linear_taps(w, scale[1], x.dtype)
        return _interpolate_axis(_interpolate_axis(x, 2, ctx.taps[0]), 3, ctx.taps[1])

    @staticmethod
    def backward(ctx, g):
        g = _interpolate_axis_grad(g, 3, ctx.hw[1], ctx.taps[1])
        return _interpolate_axis_grad(g, 2, ctx.hw[0], ctx.taps[0])


def upsample_nearest2d(input, scale_factor):
    """Nearest-neighbour upsampling of (N, C, H, W) by integer factor(s): y[n,c,i,j] = x[n, c, ⌊i/s_h⌋, ⌊j/s_w⌋]."""
    x = as_tensor(input)
    _check_4d(x, "upsample_nearest2d")
    return UpsampleNearest2d.apply(x, scale=_scale_pair(scale_factor, "upsample_nearest2d"))


def upsample_bilinear2d(input, scale_factor):
    """Bilinear upsampling of (N, C, H, W) by integer factor(s), align_corners=False (pixel centres aligned,
    PyTorch's default): y = Σ of the two nearest source rows/columns weighted by 1 − λ and λ."""
    x = as_tensor(input)
    _check_4d(x, "upsample_bilinear2d")
    return UpsampleBilinear2d.apply(x, scale=_scale_pair(scale_factor, "upsample_bilinear2d"))


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """``torch.nn.functional.interpolate`` for integer upscaling of 4-D input: mode 'nearest' or 'bilinear'
    (align_corners False/None). ``size`` may replace ``scale_factor`` when it is a multiple of the input size."""
    x = as_tensor(input)
    _check_4d(x, "interpolate")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor")
    if size is not None:
        hw = kernels.pair(size, "size", "interpolate", 1)
        if hw[0] % x.shape[2] or hw[1] % x.shape[3]:
            raise ValueError(f"interpolate: size {hw} is not an integer multiple of the input size {x.shape[2:]}")
        scale_factor = (hw[0] // x.shape[2], hw[1] // x.shape[3])
    if align_corners:
        raise ValueError("interpolate: align_corners=True is not supported (only the default False)")
    if mode == "nearest":
        if align_corners is not None:
            raise ValueError("interpolate: align_corners applies only to mode 'bilinear'")
        return upsample_nearest2d(x, scale_factor)
    if mode == "bilinear":
        return upsample_bilinear2d(x, scale_factor)
    raise ValueError(f"interpolate: mode {mode!r} is not supported (use 'nearest' or 'bilinear')")


def avg_pool2d(input, kernel_size, stride=None, padding=0):
    """Average pooling, PyTorch's defaults (count_include_pad=True, ceil_mode=False):

        y[n,c,i,j] = 1/(kH·kW) · Σ_u Σ_v x[n, c, i·s−p+u, j·s−p+v]   (zero padding counted)

    computed as a conv2d of each channel, viewed as (N·C, 1, H, W), with the constant kernel 1/(kH·kW).
    stride defaults to kernel_size; padding ≤ kernel_size/2.
    """
    x = as_tensor(input)
    _check_4d(x, "avg_pool2d")
    k = kernels.pair(kernel_size, "kernel_size", "avg_pool2d", 1)
    s = k if stride is None else kernels.pair(stride, "stride", "avg_pool2d", 1)
    p = kernels.pair(padding, "padding", "avg_pool2d", 0)
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(f"avg_pool2d: padding {padding!r} must be at most half the kernel size {k}")
    n, c, h, w = x.shape
    weight = Tensor._wrap(np.full((1, 1) + k, 1.0 / (k[0] * k[1]), dtype=x.dtype))
    y = conv2d(x.reshape(n * c, 1, h, w), weight, None, s, p)
    return y.reshape(n, c, y.shape[2], y.shape[3])


def _key_positions(keys, max_keys):
    """(rows, cols) of the key positions of one (h, w) boolean map, at most ``max_keys`` of them (evenly spaced
    in reading order when there are more)."""
    rows, cols = np.nonzero(keys)
    if rows.size > max_keys:
        pick = np.unique(np.linspace(0, rows.size - 1, max_keys).round().astype(np.intp))
        rows, cols = rows[pick], cols[pick]
    return rows, cols


def contextual_attention(features, keys, scale=10.0, max_keys=1024, eps=1e-4):
    """Contextual attention (DeepFill v1, Yu et al. 2018): every position borrows the features of the key
    positions whose 3×3 patches look like its own — texture copied from the image itself. With, per sample,
    P_q the 3×3 patch (C, 3, 3) of the features around key position q (zeros beyond the border) and X_p the one
    around position p,

        s[q, p] = ⟨P_q / √(‖P_q‖² + ε²), X_p⟩          = conv2d(x, P̂, padding=1)          (cosine-like match)
        a[q, p] = exp(λ·s[q, p]) / Σ_q′ exp(λ·s[q′, p])                               (softmax over the keys)
        y[:, i, j] = 1/9 · Σ_q Σ_{u,v} a[q, i + 1 − u, j + 1 − v] · P_q[:, u, v]     = conv_transpose2d(a, P, padding=1) / 9

    (the patches pasted where they matched, overlaps averaged): the two kernels of this library, with weights
    taken from the data. ``features`` (N, C, h, w); ``keys`` (N, 1, h, w), true at the positions whose patches
    may be copied (e.g. the known part); at most ``max_keys`` of them per sample, evenly spaced. λ = ``scale``.
    A sample without keys gets zeros. Gradients flow into the features through both the matches and the pasted
    patches. Returns (N, C, h, w)."""
    x = as_tensor(features)
    _check_4d(x, "contextual_attention")
    keys = np.asarray(keys)
    n, c, h, w = x.shape
    if keys.shape != (n, 1, h, w):
        raise ValueError(f"contextual_attention: keys must have shape {(n, 1, h, w)}, got {keys.shape}")
    padded = pad(x, (1, 1, 1, 1))
    u = np.arange(3)
    out = []
    for k in range(n):
        rows, cols = _key_positions(keys[k, 0] > 0.5, max_keys)
        if rows.size == 0:
            out.append(x[k:k + 1] * 0.0)
            continue
        taps = padded[k][:, rows[:, None, None] + u[None, :, None], cols[:, None, None] + u[None, None, :]]
        patches = taps.permute((1, 0, 2, 3))  # (L, C, 3, 3)
        unit = patches / (sum(patches * patches, axis=(1, 2, 3), keepdims=True) + eps * eps) ** 0.5
        logits = conv2d(x[k:k + 1], unit, None, 1, 1) * scale
        e = exp(logits - Tensor._wrap(logits.data.max(axis=1, keepdims=True)))
        attention = e / sum(e, axis=1, keepdims=True)
        out.append(conv_transpose2d(attention, patches, None, 1, 1) / 9.0)
    return concatenate(out, axis=0)


# losses -------------------------------------------------------------------------------------------
_REDUCTIONS = ("mean", "sum", "none")


def _loss_operands(input, target, op):
    x = as_tensor(input)
    t = lift(target, x)
    if t.shape != x.shape:
        raise ValueError(f"{op}: target has shape {t.shape}, the prediction has shape {x.shape}; they must match")
    return x, t


def _mask_weights(mask, shape, dtype, op):
    m = mask.data if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype.kind not in "biuf":
        raise TypeError(f"{op}: mask must be bool or numeric, got dtype {m.dtype}")
    try:
        m = np.broadcast_to(m, shape)
    except ValueError:
        raise ValueError(
            f"{op}: mask of shape {m.shape} does not broadcast to the prediction's shape {shape}"
        ) from None
    m = m.astype(dtype)
    if not np.all(m >= 0):
        raise ValueError(f"{op}: mask has negative or NaN entries; use 1/True for hole pixels and 0 elsewhere")
    return m


def _reduce(loss, mask, reduction, op):
    """Apply ``reduction`` to the elementwise ``loss``, restricted to (weighted by) ``mask`` if given."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if mask is not None:
        m = _mask_weights(mask, loss.shape, loss.dtype, op)
        loss = loss * m
        if reduction == "mean":
            count = float(m.sum())
            if count == 0:
                raise ValueError(f"{op}: the mask selects no element, so the mean over the hole is undefined")
            return loss.sum() / count
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def reparameterize(mu, logvar, noise=None, rng=None):
    """A sample of N(μ, σ²) that gradients can flow through (the reparameterisation trick, Kingma & Welling 2014):

        z = μ + σ ⊙ ε,   σ = exp(½·logvar),   ε ~ N(0, I)

    ε is a constant: ``noise`` if given (an array of μ's shape), else drawn from ``rng`` (a Generator or a seed:
    the same seed gives the same z). So ∂z/∂μ = 1 and ∂z/∂logvar = ½·σ ⊙ ε."""
    mu, logvar = as_tensor(mu), lift(logvar, as_tensor(mu))
    if mu.shape != logvar.shape:
        raise ValueError(f"reparameterize: mu has shape {mu.shape}, logvar {logvar.shape}; they must match")
    if noise is None:
        generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        noise = generator.standard_normal(mu.shape)
    noise = np.asarray(noise)
    if noise.shape != mu.shape:
        raise ValueError(f"reparameterize: noise has shape {noise.shape}, mu {mu.shape}; they must match")
    return mu + exp(logvar * 0.5) * Tensor._wrap(noise.astype(mu.dtype))


def gaussian_kl(mu, logvar, prior_mu=None, prior_logvar=None, reduction="sum"):
    """The Kullback–Leibler divergence of N(μ, σ²) from N(μ_p, σ_p²), elementwise independent, in closed form:

        KL = ½ Σ ( logvar_p − logvar + (σ² + (μ − μ_p)²) / σ_p² − 1 )

    and against N(0, I) (the default prior): KL = ½ Σ (μ² + σ² − log σ² − 1). ``reduction``: 'sum' over every
    element (the divergence of the whole batch), 'mean' (per element) or 'none'. Every argument may carry a
    gradient (a learned prior network trains through ``prior_mu`` and ``prior_logvar``)."""
    mu = as_tensor(mu)
    logvar = lift(logvar, mu)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"gaussian_kl: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if prior_mu is None and prior_logvar is None:
        terms = (mu * mu + exp(logvar) - logvar - 1.0) * 0.5
    else:
        p_mu = lift(0.0 if prior_mu is None else prior_mu, mu)
        p_logvar = lift(0.0 if prior_logvar is None else prior_logvar, mu)
        diff = mu - p_mu
        terms = (p_logvar - logvar + (exp(logvar) + diff * diff) * exp(p_logvar * -1.0) - 1.0) * 0.5
    if terms.shape != mu.shape:
        raise ValueError(f"gaussian_kl: the shapes {mu.shape}, {logvar.shape} and the prior's do not match")
    return _reduce(terms, None, reduction, "gaussian_kl")


def mse_loss(input, target, mask=None, reduction="mean"):
    """Mean squared error, the seed's L = 1/(MN) Σ_i Σ_j (y_true − y_pred)²:

        'mean': Σ (x − t)² / (number of elements),  or with a mask m: Σ m·(x − t)² / Σ m
        'sum':  Σ m·(x − t)²;   'none': m·(x − t)² elementwise (m = 1 without a mask)

    input and target have the same shape; mask (1/True = hole) broadcasts to it.
    """
    x, t = _loss_operands(input, target, "mse_loss")
    d = x - t
    return _reduce(d * d, mask, reduction, "mse_loss")


def l1_loss(input, target, mask=None, reduction="mean"):
    """Mean absolute error: Σ m·|x − t| / Σ m for 'mean' (m = 1 without a mask), like ``mse_loss``."""
    x, t = _loss_operands(input, target, "l1_loss")
    return _reduce(abs(x - t), mask, reduction, "l1_loss")


def total_variation(input, mask=None):
    """Anisotropic total variation, the mean absolute difference of neighbouring pixels (a loss that punishes
    noise and ringing; Liu et al. 2018 apply it around the hole):

        TV = [Σ w_v·|x[..., i + 1, j] − x[..., i, j]| + Σ w_h·|x[..., i, j + 1] − x[..., i, j]|] / (Σ w_v + Σ w_h)

    Without a mask every difference counts (w = 1). With a mask (N, 1, H, W) or (N, C, H, W), 1 = the region,
    a difference counts when either of its two pixels is in the region (w = max of the two mask values); a mask
    with no pixel in it gives 0. input (N, C, H, W)."""
    x = as_tensor(input)
    _check_4d(x, "total_variation")
    dv, dh = abs(x[:, :, 1:] - x[:, :, :-1]), abs(x[:, :, :, 1:] - x[:, :, :, :-1])
    if mask is None:
        return (sum(dv) + sum(dh)) * (1.0 / (dv.data.size + dh.data.size))
    m = np.broadcast_to(mask.data if isinstance(mask, Tensor) else np.asarray(mask), x.shape).astype(x.dtype)
    wv, wh = np.maximum(m[:, :, 1:], m[:, :, :-1]), np.maximum(m[:, :, :, 1:], m[:, :, :, :-1])
    total = float(wv.sum() + wh.sum())
    if total == 0:
        return sum(dv) * 0.0
    return (sum(dv * Tensor(wv)) + sum(dh * Tensor(wh))) * (1.0 / total)


class BinaryCrossEntropy(Function):
    """ℓ = −[t·ln p + (1 − t)·ln(1 − p)] with each logarithm clamped at −100 (PyTorch's rule);
    ∂ℓ/∂p = (p − t) / max(p(1 − p), 10⁻¹²) (PyTorch's formula),  ∂ℓ/∂t = ln(1 − p) − ln p with the clamped
    logarithms of the forward (PyTorch uses unclamped ones here, which differs only where a log is clamped)."""

    @staticmethod
    def forward(ctx, p, t):
        if not np.all((p >= 0) & (p <= 1)):
            raise ValueError("binary_cross_entropy: input must be probabilities in [0, 1] (apply sigmoid first, "
                             "or use binary_cross_entropy_with_logits)")
        with np.errstate(divide="ignore"):
            log_p = np.maximum(np.log(p), -100.0)
            log_q = np.maximum(np.log1p(-p), -100.0)
        ctx.p, ctx.t, ctx.log_p, ctx.log_q = p, t, log_p, log_q
        return -(t * log_p + (1 - t) * log_q)

    @staticmethod
    def backward(ctx, g):
        p, t = ctx.p, ctx.t
        gp = g * (p - t) / np.maximum(p * (1 - p), 1e-12) if ctx.needs_input_grad[0] else None
        gt = g * (ctx.log_q - ctx.log_p) if ctx.needs_input_grad[1] else None
        return gp, gt


class BinaryCrossEntropyWithLogits(Function):
    """ℓ = max(x, 0) − x·t + ln(1 + e^(−|x|)), equal to −[t ln σ(x) + (1 − t) ln(1 − σ(x))] but finite for
    every logit x;  ∂ℓ/∂x = σ(x) − t,  ∂ℓ/∂t = −x."""

    @staticmethod
    def forward(ctx, x, t):
        ctx.x, ctx.t = x, t
        return np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))

    @staticmethod
    def backward(ctx, g):
        x, t = ctx.x, ctx.t
        gx = gt = None
        if ctx.needs_input_grad[0]:
            gx = g * (_stable_sigmoid(x) - t)
        if ctx.needs_input_grad[1]:
            gt = -g * x
        return gx, gt


def binary_cross_entropy(input, target, *, mask=None, reduction="mean"):
    """Binary cross-entropy on probabilities p = input ∈ [0, 1]:  ℓ = −[t ln p + (1 − t) ln(1 − p)], logs clamped
    at −100 as in PyTorch. ``reduction`` and ``mask`` as in ``mse_loss``."""
    p, t = _loss_operands(input, target, "binary_cross_entropy")
    return _reduce(BinaryCrossEntropy.apply(p, t), mask, reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(input, target, *, mask=None, reduction="mean"):
    """Binary cross-entropy on logits x (p = σ(x)), in the stable form max(x, 0) − x·t + ln(1 + e^(−|x|)).
    ``reduction`` and ``mask`` as in ``mse_loss``."""
    x, t = _loss_operands(input, target, "binary_cross_entropy_with_logits")
    return _reduce(BinaryCrossEntropyWithLogits.apply(x, t), mask, reduction, "binary_cross_entropy_with_logits")
