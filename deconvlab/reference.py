"""The seed article's formulas written literally as Python loops — the slow oracle; imports NumPy only.

Nothing here is vectorised: every function walks its index sets one element at a time, exactly as its
docstring's formula reads, and accumulates in float64 (results are float64 whatever the input's float
type). It is slow on purpose and meant for tiny arrays: tests, notebooks and exercises check the fast
kernels against it.

Notation follows the article: the input x is P×Q and indexed by (p, q); a kernel (h for convolution,
k for deconvolution) is K×L and is zero outside 0 <= row < K, 0 <= column < L.

- ``seed_conv2d``, ``seed_correlate2d``, ``seed_deconv2d``, ``seed_mse``: the article's single-channel
  formulas, plus the cross-correlation that deep learning calls "convolution".
- ``conv2d``, ``conv_transpose2d``: the NCHW layers with PyTorch's semantics and weight layouts, built as
  sums over channels of single-channel planes that extend the seed formulas with stride, padding and dilation.
"""
import numpy as np


def _plane(a, name, op):
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"{op}: {name} must be 2-D (one channel), got shape {a.shape}")
    return a


def _pair(value, name, op, minimum):
    """``value`` (an int or an (h, w) pair) as a pair of ints, each >= minimum."""
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or any(int(v) != v for v in pair) or min(pair) < minimum:
        raise ValueError(f"{op}: {name} must be an int or a pair of ints >= {minimum}, got {value!r}")
    return int(pair[0]), int(pair[1])


def _full_sum(x, h, tap, op):
    """The full 2-D sum y(i,j) = Σ_p Σ_q x(p,q) · h(tap(i, j, p, q)) over every (i, j) of the
    (P+K−1)×(Q+L−1) output, a term counting only where the tap lies inside h."""
    x = _plane(x, "x", op)
    h = _plane(h, "h", op)
    (P, Q), (K, L) = x.shape, h.shape
    y = np.zeros((P + K - 1, Q + L - 1))
    for i in range(P + K - 1):
        for j in range(Q + L - 1):
            total = 0.0
            for p in range(P):
                for q in range(Q):
                    a, b = tap(i, j, p, q, K, L)
                    if 0 <= a < K and 0 <= b < L:
                        total += x[p, q] * h[a, b]
            y[i, j] = total
    return y


def seed_conv2d(x, h):
    """Full 2-D convolution of one channel (the article's formula 1, a true convolution: h is flipped)::

        y(i,j) = Σ_{p=0}^{P−1} Σ_{q=0}^{Q−1} x(p,q) · h(i−p, j−q)

    x is P×Q, h is K×L; y is (P+K−1)×(Q+L−1), every (i, j) where some term can be non-zero.
    """
    return _full_sum(x, h, lambda i, j, p, q, K, L: (i - p, j - q), "seed_conv2d")


def seed_correlate2d(x, h):
    """Full 2-D cross-correlation of one channel (deep learning's "convolution": h is not flipped)::

        y(i,j) = Σ_{p=0}^{P−1} Σ_{q=0}^{Q−1} x(p,q) · h(p−i+K−1, q−j+L−1)

    x is P×Q, h is K×L; y is (P+K−1)×(Q+L−1). Output (i, j) places h's top-left tap over x(i−K+1, j−L+1),
    so the block y[K−1 : P, L−1 : Q] is the "valid" correlation Σ_u Σ_v h(u,v)·x(i+u, j+v) of a
    deep-learning conv layer. Substituting h'(a,b) = h(K−1−a, L−1−b) turns this into ``seed_conv2d(x, h')``.
    """
    return _full_sum(x, h, lambda i, j, p, q, K, L: (p - i + K - 1, q - j + L - 1), "seed_correlate2d")


def seed_deconv2d(x, k, stride=1):
    """Transposed convolution ("deconvolution") of one channel, in scatter form (the article's formula 2)::

        y(i,j) = Σ_{p=0}^{P−1} Σ_{q=0}^{Q−1} x(p,q) · k(i − s·p, j − s·q)

    x is P×Q, k is K×L, s the stride (an int or an (s_h, s_w) pair; the article writes s = 1, where this is
    ``seed_conv2d``). Each input pixel x(p,q) stamps a copy of k, scaled by x(p,q), with its corner at
    (s·p, s·q); y is ((P−1)s+K)×((Q−1)s+L), every (i, j) some stamp reaches.
    """
    x = _plane(x, "x", "seed_deconv2d")
    k = _plane(k, "k", "seed_deconv2d")
    s_h, s_w = _pair(stride, "stride", "seed_deconv2d", 1)
    (P, Q), (K, L) = x.shape, k.shape
    y = np.zeros(((P - 1) * s_h + K, (Q - 1) * s_w + L))
    for i in range(y.shape[0]):
        for j in range(y.shape[1]):
            total = 0.0
            for p in range(P):
                for q in range(Q):
                    if 0 <= i - s_h * p < K and 0 <= j - s_w * q < L:
                        total += x[p, q] * k[i - s_h * p, j - s_w * q]
            y[i, j] = total
    return y


def seed_mse(y_true, y_pred, mask=None):
    """Mean squared error (the article's formula 3), optionally over the hole only::

        L = 1/(MN) Σ_{i=0}^{M−1} Σ_{j=0}^{N−1} (y_true(i,j) − y_pred(i,j))²

    y_true and y_pred have the same shape (M×N in the article; any shape works, the sum running over
    every element and MN becoming the element count). With ``mask`` (same shape, bool or 0/1, True/1 =
    missing pixel) the mean runs over the masked elements only:

        L = Σ mask(i,j)·(y_true(i,j) − y_pred(i,j))² / Σ mask(i,j)

    A mask with no masked element is a ValueError: the mean over an empty hole is undefined.
    Returns a Python float.
    """
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"seed_mse: y_true has shape {y_true.shape} but y_pred has shape {y_pred.shape}")
    if mask is None:
        mask = np.ones(y_true.shape, dtype=bool)
    mask = np.asarray(mask)
    if mask.shape != y_true.shape:
        raise ValueError(f"seed_mse: mask has shape {mask.shape}, expected {y_true.shape} (y_true's shape)")
    total, count = 0.0, 0
    for index in np.ndindex(y_true.shape):
        if mask[index] not in (0, 1):
            raise ValueError(f"seed_mse: mask must hold only 0/1 or booleans, got {mask[index]!r} at {index}")
        if mask[index]:
            total += (y_true[index] - y_pred[index]) ** 2
            count += 1
    if count == 0:
        raise ValueError("seed_mse: mask selects no element; the mean over an empty hole is undefined")
    return total / count


def _correlate_plane(x, h, stride, padding, dilation, y):
    """Add one channel of a deep-learning conv layer into the plane y: the valid part of ``seed_correlate2d``,
    generalised with stride s, padding pad and dilation d::

        y(i,j) += Σ_u Σ_v h(u,v) · x(i·s_h − pad_h + u·d_h,  j·s_w − pad_w + v·d_w)

    with x = 0 outside its P×Q support (the zero padding). With s = d = 1 and no padding the sum is
    ``seed_correlate2d(x, h)[K−1 : P, L−1 : Q]``.
    """
    (P, Q), (K, L) = x.shape, h.shape
    for i in range(y.shape[0]):
        for j in range(y.shape[1]):
            total = 0.0
            for u in range(K):
                for v in range(L):
                    p = i * stride[0] - padding[0] + u * dilation[0]
                    q = j * stride[1] - padding[1] + v * dilation[1]
                    if 0 <= p < P and 0 <= q < Q:
                        total += h[u, v] * x[p, q]
            y[i, j] += total


def _deconv_plane(x, k, stride, padding, dilation, y):
    """Add one channel of a transposed conv layer into the plane y: ``seed_deconv2d`` with a dilated kernel,
    cropped by the padding::

        y(i,j) += Σ_p Σ_q Σ_u Σ_v x(p,q) · k(u,v)   over  s_h·p + d_h·u − pad_h = i,
                                                      s_w·q + d_w·v − pad_w = j

    for 0 <= i < H_out, 0 <= j < W_out. Written as the scatter it is: x(p,q) stamps k, taps d apart, with its
    corner at (s·p − pad, s·q − pad); stamp pixels outside the output are dropped. With d = 1 and no padding,
    u = i − s·p and this is the seed's ``y(i,j) = Σ_p Σ_q x(p,q)·k(i − s·p, j − s·q)``.
    """
    (P, Q), (K, L) = x.shape, k.shape
    for p in range(P):
        for q in range(Q):
            for u in range(K):
                for v in range(L):
                    i = stride[0] * p + dilation[0] * u - padding[0]
                    j = stride[1] * q + dilation[1] * v - padding[1]
                    if 0 <= i < y.shape[0] and 0 <= j < y.shape[1]:
                        y[i, j] += x[p, q] * k[u, v]


def _layer_arrays(x, w, b, op, c_in_axis, c_out_axis):
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(f"{op}: input and weight must be 4-D, got shapes {x.shape} and {w.shape}")
    if x.shape[1] != w.shape[c_in_axis]:
        raise ValueError(
            f"{op}: input has {x.shape[1]} channels, weight expects {w.shape[c_in_axis]} (weight shape {w.shape})"
        )
    b = np.zeros(w.shape[c_out_axis]) if b is None else np.asarray(b, dtype=np.float64)
    if b.shape != (w.shape[c_out_axis],):
        raise ValueError(f"{op}: bias has shape {b.shape}, expected ({w.shape[c_out_axis]},)")
    return x, w, b


def _check_out_hw(op, x_shape, out_hw):
    if min(out_hw) < 1:
        raise ValueError(f"{op}: input of shape {x_shape} gives an output of size {out_hw[0]}x{out_hw[1]}")


def _geometry(stride, padding, dilation, op):
    """stride, padding and dilation as pairs (>= 1, >= 0, >= 1)."""
    return _pair(stride, "stride", op, 1), _pair(padding, "padding", op, 0), _pair(dilation, "dilation", op, 1)


def _sum_over_channels(x, b, out_hw, add_plane):
    """y[n, o] = b[o] + Σ_c (plane of input channel c), each plane added into y[n, o] by
    ``add_plane(n, o, c, y[n, o])``: the layer as a sum of single-channel seed formulas."""
    n_batch, c_in = x.shape[:2]
    y = np.zeros((n_batch, b.size) + out_hw)
    for n in range(n_batch):
        for o in range(b.size):
            y[n, o].fill(b[o])
            for c in range(c_in):
                add_plane(n, o, c, y[n, o])
    return y


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1):
    """Deep learning's conv layer (cross-correlation), NCHW, PyTorch's semantics::

        y[n, o] = b[o] + Σ_c  correlate_plane(x[n, c], w[o, c])

    each plane being y(i,j) = Σ_u Σ_v w[o,c](u,v) · x[n,c](i·s − pad + u·d, j·s − pad + v·d), zero outside x.
    x (N, C_in, H, W), w (C_out, C_in, kH, kW), b (C_out,) or None; stride, padding, dilation an int or a pair.
    y (N, C_out, H_out, W_out), H_out = floor((H + 2·pad − d(kH − 1) − 1)/s) + 1.
    """
    x, w, b = _layer_arrays(x, w, b, "conv2d", c_in_axis=1, c_out_axis=0)
    s, pad, d = _geometry(stride, padding, dilation, "conv2d")
    out_hw = tuple((x.shape[2 + a] + 2 * pad[a] - d[a] * (w.shape[2 + a] - 1) - 1) // s[a] + 1 for a in range(2))
    _check_out_hw("conv2d", x.shape, out_hw)
    return _sum_over_channels(x, b, out_hw, lambda n, o, c, y_no: _correlate_plane(x[n, c], w[o, c], s, pad, d, y_no))


def conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0, dilation=1):
    """Deep learning's transposed conv layer ("deconvolution"), NCHW, PyTorch's semantics::

        y[n, o] = b[o] + Σ_c  deconv_plane(x[n, c], w[c, o])

    each plane being the seed's scatter with a dilated kernel, cropped by pad on each side:
    y(i,j) = Σ x[n,c](p,q) · w[c,o](u,v) over s·p + d·u − pad = i (rows; columns alike).
    x (N, C_in, H, W), w (C_in, C_out, kH, kW) (PyTorch's layout), b (C_out,) or None; stride, padding,
    output_padding, dilation an int or a pair, 0 <= output_padding < max(s, d).
    y (N, C_out, H_out, W_out), H_out = (H − 1)s − 2·pad + d(kH − 1) + output_padding + 1.
    """
    x, w, b = _layer_arrays(x, w, b, "conv_transpose2d", c_in_axis=0, c_out_axis=1)
    s, pad, d = _geometry(stride, padding, dilation, "conv_transpose2d")
    extra = _pair(output_padding, "output_padding", "conv_transpose2d", 0)
    if extra[0] >= max(s[0], d[0]) or extra[1] >= max(s[1], d[1]):
        raise ValueError(
            f"conv_transpose2d: output_padding {output_padding!r} must be < max(stride, dilation) "
            f"(stride {stride!r}, dilation {dilation!r})"
        )
    out_hw = tuple(
        (x.shape[2 + a] - 1) * s[a] - 2 * pad[a] + d[a] * (w.shape[2 + a] - 1) + extra[a] + 1 for a in range(2)
    )
    _check_out_hw("conv_transpose2d", x.shape, out_hw)
    return _sum_over_channels(x, b, out_hw, lambda n, o, c, y_no: _deconv_plane(x[n, c], w[c, o], s, pad, d, y_no))
