"""Inpainting networks built from deconvlab layers: InpaintNet, HoleNet, and the source article's network (SeedNet), with
``build`` (a network by name) and ``predict`` (inference in batches); imports nn, functional, autograd, baselines
and parallel.

Conventions (docs/design.md, "Conventions"): images NCHW floats in [0, 1]; masks N×1×H×W with 1 = missing pixel.
"""
import numpy as np

from . import baselines
from . import functional as F
from . import nn, parallel
from .autograd import Tensor, no_grad


def _plain(a):
    """The ndarray inside a Tensor, or the array itself."""
    return a.data if isinstance(a, Tensor) else np.asarray(a)


def known_mean(image, mask):
    """Per-image, per-channel mean of the known pixels, broadcast over the image: the mean fill.

    mean[n, c] = Σ_ij (1 − m[n,0,i,j]) · x[n,c,i,j] / Σ_ij (1 − m[n,0,i,j])   (0.5 where nothing is known).
    image (N, C, H, W) and mask (N, 1, H, W) ndarrays; returns an (N, C, 1, 1) ndarray.
    """
    known = 1.0 - mask
    count = known.sum(axis=(2, 3), keepdims=True)
    total = (image * known).sum(axis=(2, 3), keepdims=True)
    return np.where(count > 0, total / np.maximum(count, 1.0), 0.5).astype(image.dtype)


BATCH_HARMONIC_MAX_SIDE = 128
"""Training patches up to this side get their harmonic start from one batched solve (``harmonic_start``)."""


def harmonic_start(image, mask):
    """The harmonic fill (``baselines.harmonic_fill``: each hole pixel the mean of its 4 neighbours, known
    pixels fixed) of every image of a batch, as a starting fill for the network; ``known_mean`` for an image
    with no known or no missing pixel. image (N, C, H, W), mask (N, 1, H, W) ndarrays; returns (N, C, H, W).

    Patches up to ``BATCH_HARMONIC_MAX_SIDE`` pixels a side are solved together
    (``baselines.harmonic_fill_batch``; each system stops on its own, so splitting the batch over the cores as
    the kernels do changes nothing), larger images one by one (``harmonic_fill``, which crops to the hole).
    """
    out = np.broadcast_to(known_mean(image, mask), image.shape).copy()
    holes = mask[:, 0] > 0.5
    some = holes.reshape(len(holes), -1)
    todo = np.flatnonzero(some.any(axis=1) & ~some.all(axis=1))
    if todo.size == 0:
        return out
    if max(image.shape[2:]) <= BATCH_HARMONIC_MAX_SIDE:
        parts = parallel.run_in_parts(
            todo.size, lambda n0, n1: baselines.harmonic_fill_batch(image[todo[n0:n1]], holes[todo[n0:n1]])
        )
        out[todo] = np.concatenate(parts)
        return out
    for n in todo:
        chw = image[n].transpose(1, 2, 0)
        out[n] = baselines.harmonic_fill(chw, holes[n]).transpose(2, 0, 1)
    return out


STARTS = {"mean": known_mean, "harmonic": harmonic_start}


CONTRAST_RADIUS = 64
"""Half-width of the box over which ``visible_contrast`` pools the Laplacian: wide enough that the centre of a
128-pixel hole still sees the visible pixels around it."""


def _box_sum(a, radius):
    """Σ of a (N, H, W) over the (2r+1)×(2r+1) box around each pixel, clipped at the borders (float64, from
    an integral image)."""
    n, h, w = a.shape
    total = np.zeros((n, h + 1, w + 1))
    total[:, 1:, 1:] = np.cumsum(np.cumsum(a, axis=1, dtype=np.float64), axis=2)
    lo_r, hi_r = np.clip(np.arange(h) - radius, 0, h), np.clip(np.arange(h) + radius + 1, 0, h)
    lo_c, hi_c = np.clip(np.arange(w) - radius, 0, w), np.clip(np.arange(w) + radius + 1, 0, w)
    return (total[:, hi_r][:, :, hi_c] - total[:, lo_r][:, :, hi_c]
            - total[:, hi_r][:, :, lo_c] + total[:, lo_r][:, :, lo_c])


def visible_contrast(image, mask, radius=CONTRAST_RADIUS):
    """How much texture the visible pixels around each pixel hold: the root mean square, over channels and over
    the visible pixels of the (2r+1)×(2r+1) box around it, of the 5-point Laplacian

        L[c, i, j] = x[c, i−1, j] + x[c, i+1, j] + x[c, i, j−1] + x[c, i, j+1] − 4·x[c, i, j],
        v[i, j] = 1 where all five of those pixels are inside the image and known,
        s[i, j] = sqrt( Σ_box v·mean_c L² / Σ_box v )       (0 where the box holds no such pixel).

    s is 0 on flat and linearly shaded images (the Laplacian of an affine function is 0): exactly the images on
    which the harmonic fill is right. image (N, C, H, W), mask (N, 1, H, W) ndarrays; returns (N, 1, H, W) in
    the image's dtype."""
    x = np.asarray(image)
    known = np.asarray(mask)[:, 0] < 0.5
    n, _, h, w = x.shape
    energy, valid = np.zeros((n, h, w)), np.zeros((n, h, w))
    if h >= 3 and w >= 3:
        centre = x[:, :, 1:-1, 1:-1].astype(np.float64)
        lap = (x[:, :, :-2, 1:-1] + x[:, :, 2:, 1:-1] + x[:, :, 1:-1, :-2] + x[:, :, 1:-1, 2:]) - 4.0 * centre
        v = (known[:, 1:-1, 1:-1] & known[:, :-2, 1:-1] & known[:, 2:, 1:-1]
             & known[:, 1:-1, :-2] & known[:, 1:-1, 2:])
        energy[:, 1:-1, 1:-1] = np.where(v, np.mean(lap ** 2, axis=1), 0.0)
        valid[:, 1:-1, 1:-1] = v
    count = _box_sum(valid, radius)
    s = np.sqrt(np.maximum(_box_sum(energy, radius), 0.0) / np.maximum(count, 1.0)) * (count > 0.5)
    return s[:, None].astype(x.dtype)


def _network_inputs(net, image, mask, fill):
    """(x, m, f) ndarrays for an encoder-decoder's forward: the image, the mask in the image's dtype and the
    starting fill (``fill``, or the network's ``start`` fill); ValueError naming the network for shapes it cannot
    take (N, C, H, W) and (N, 1, H, W) with H and W multiples of 8."""
    name = type(net).__name__
    x, m = _plain(image), _plain(mask).astype(_plain(image).dtype)
    if x.ndim != 4 or m.ndim != 4 or m.shape[1] != 1 or x.shape[0] != m.shape[0] or x.shape[2:] != m.shape[2:]:
        raise ValueError(f"{name}: expected image (N, {net.in_channels}, H, W) and mask (N, 1, H, W), "
                         f"got {x.shape} and {m.shape}")
    if x.shape[2] % 8 or x.shape[3] % 8:
        raise ValueError(f"{name}: height and width must be multiples of 8, got {x.shape[2]}x{x.shape[3]}")
    f = STARTS[net.start](x, m) if fill is None else _plain(fill).astype(x.dtype)
    return x, m, f


class InpaintNet(nn.Module):
    """Encoder-decoder for inpainting: strided convolutions down, transposed convolutions up, skip connections.

    Input: the image with its holes replaced by a starting fill f, and the mask as a fourth channel. The
    decoder predicts a residual r added to that start; known pixels are pasted back at the end:

        x₀ = (1 − m)·x + m·f           y = (1 − m)·x + m·(x₀ + r(x₀, m))

    ``start`` names the default f: ``"mean"`` (the known pixels' mean colour, ``known_mean``) or ``"harmonic"``
    (the harmonic fill, ``harmonic_start``: smooth, reaches across any hole, so the network only learns the
    correction — texture and edges the diffusion cannot make). With the harmonic start the last layer starts at
    zero, so the untrained network returns exactly the harmonic fill.

    With ``width`` w the feature maps are w, 2w, 4w, 4w channels at scales 1, 1/2, 1/4, 1/8; every
    transposed convolution is k4 s2 p1 (uniform overlap: no checkerboard, docs/design.md, identity 8).
    ``rng`` (Generator or seed) draws the initial parameters. Fully convolutional: any H, W divisible by 8 (``deconvlab.inpaint`` pads other sizes).
    """

    receptive_radius = 39
    """How far one output pixel reads: it depends on the inputs at most 39 pixels away in each direction (the
    tests measure it by perturbing single pixels); ``inpaint`` gives each tile that much context."""

    def __init__(self, width=32, in_channels=3, dtype=np.float32, rng=None, start="mean"):
        super().__init__()
        w = int(width)
        if w < 1:
            raise ValueError(f"InpaintNet: width must be a positive integer, got {width!r}")
        if start not in STARTS:
            raise ValueError(f"InpaintNet: start must be one of {sorted(STARTS)}, got {start!r}")
        self.width, self.in_channels, self.start = w, in_channels, start
        c = in_channels
        self.enc1 = nn.Conv2d(c + 1, w, 3, padding=1, dtype=dtype, rng=rng)
        self.enc2 = nn.Conv2d(w, 2 * w, 4, stride=2, padding=1, dtype=dtype, rng=rng)
        self.enc3 = nn.Conv2d(2 * w, 4 * w, 4, stride=2, padding=1, dtype=dtype, rng=rng)
        self.enc4 = nn.Conv2d(4 * w, 4 * w, 4, stride=2, padding=1, dtype=dtype, rng=rng)
        self.mid = nn.Conv2d(4 * w, 4 * w, 3, padding=2, dilation=2, dtype=dtype, rng=rng)
        self.dec3 = nn.ConvTranspose2d(4 * w, 4 * w, 4, stride=2, padding=1, dtype=dtype, rng=rng)
        self.dec2 = nn.ConvTranspose2d(8 * w, 2 * w, 4, stride=2, padding=1, dtype=dtype, rng=rng)
        self.dec1 = nn.ConvTranspose2d(4 * w, w, 4, stride=2, padding=1, dtype=dtype, rng=rng)
        self.out = nn.Conv2d(2 * w, c, 3, padding=1, dtype=dtype, rng=rng)
        self.act = nn.LeakyReLU(0.2)
        if start == "harmonic":
            self.out.weight.data[...] = 0
            self.out.bias.data[...] = 0

    def forward(self, image, mask, fill=None):
        """image (N, C, H, W) and mask (N, 1, H, W), Tensors or ndarrays -> the filled image (N, C, H, W) Tensor.

        ``fill`` (N, C, H, W) or broadcastable: starting values in the hole (default: the ``start`` fill).
        """
        x, m, f = _network_inputs(self, image, mask, fill)
        base = (1.0 - m) * x + m * f
        act = self.act
        e1 = act(self.enc1(Tensor(np.concatenate([base, m], axis=1))))
        e2 = act(self.enc2(e1))
        e3 = act(self.enc3(e2))
        d = act(self.dec3(act(self.mid(act(self.enc4(e3))))))
        # Each skip connection is joined, then dropped: without a graph (no_grad) that frees it at once, so a
        # large tile needs little more memory than its two largest feature maps.
        d, e3 = F.concatenate([d, e3], axis=1), None
        d = act(self.dec2(d))
        d, e2 = F.concatenate([d, e2], axis=1), None
        d = act(self.dec1(d))
        d, e1 = F.concatenate([d, e1], axis=1), None
        residual = self.out(d)
        return Tensor(base) + Tensor(m) * residual


def resize_conv_kernel(v):
    """The 4×4 kernel of a k4 s2 p1 transposed convolution that computes exactly what a 2× nearest-neighbour
    upsampling followed by the 3×3 convolution ``v`` (C_out, C_in, 3, 3), padding 1, computes (design identity
    13): the full 2-D convolution of the flipped ``v`` with a 2×2 box,

        w[c, o, a, b] = Σ_{i, j ∈ {0, 1}} v[o, c, 2 − (a − i), 2 − (b − j)]   (terms with 0 <= a − i, b − j <= 2),

    returned in ConvTranspose2d's (C_in, C_out, 4, 4) layout. Nearest upsampling repeats each pixel 2×2, so the
    four phases of such a kernel are sums of the same taps: no phase is favoured, no checkerboard (ICNR-style
    initialisation, Aitken et al. 2017)."""
    v = np.asarray(v)[:, :, ::-1, ::-1]
    w = np.zeros(v.shape[:2] + (4, 4), dtype=v.dtype)
    for i in range(2):
        for j in range(2):
            w[:, :, i:i + 3, j:j + 3] += v
    return np.ascontiguousarray(w.transpose(1, 0, 2, 3))


def _holenet_layers(width, in_channels, dilations, gated=False, resize=False, partial=False):
    """HoleNet's layers as (name, kind, c_in, c_out, kernel, stride, padding, dilation), in order; kind is
    "conv", "gated" (``nn.GatedConv2d``: the encoder's and middle layers when ``gated``), "partial"
    (``nn.PartialConv2d``: those layers when ``partial``), "up" (a k4 s2 p1 transposed convolution) or, with
    ``resize``, "resize" (a 3×3 convolution after 2× nearest upsampling)."""
    w, c, e = int(width), int(in_channels), "gated" if gated else "partial" if partial else "conv"
    up = ("resize", 3, 1, 1) if resize else ("up", 4, 2, 1)
    layers = [("enc1", e, c + 1, w, 3, 1, 1, 1), ("enc2", e, w, 2 * w, 4, 2, 1, 1),
              ("enc3", e, 2 * w, 4 * w, 4, 2, 1, 1), ("enc4", e, 4 * w, 4 * w, 4, 2, 1, 1)]
    layers += [(f"mid{k + 1}", e, 4 * w, 4 * w, 3, 1, int(d), int(d)) for k, d in enumerate(dilations)]
    kind, k, s, p = up
    layers += [("dec3", kind, 4 * w, 4 * w, k, s, p, 1), ("dec2", kind, 8 * w, 2 * w, k, s, p, 1),
               ("dec1", kind, 4 * w, w, k, s, p, 1), ("out", "conv", 2 * w, c + 1, 3, 1, 1, 1)]
    return layers


def _block_masks(mask, block=8):
    """For (N, 1, H, W) hole masks: which block×block blocks hold a hole pixel (N, 1, H/b, W/b), and which blocks
    may lend their features (``F.contextual_attention``'s keys): those whose 3×3 neighbourhood of blocks inside
    the image is wholly known."""
    n, _, h, w = mask.shape
    holes = (mask.reshape(n, 1, h // block, block, w // block, block) > 0.5).any(axis=(3, 5))
    padded = np.pad(holes, ((0, 0), (0, 0), (1, 1), (1, 1)))
    near = np.zeros_like(holes)
    for u in range(3):
        for v in range(3):
            near |= padded[:, :, u:u + h // block, v:v + w // block]
    return holes.astype(mask.dtype), ~near


class HoleNet(nn.Module):
    """InpaintNet grown for real holes: the same encoder down to 1/8 scale and decoder back up with skip
    connections, plus

    - a receptive field that spans the hole: residual dilated 3×3 convolutions at 1/8 scale (``dilations``,
      default 2 and 4: d ← d + φ(conv_dilated(d)); Iizuka et al. 2017 use 2, 4, 8, 16), so one output pixel
      reads ``receptive_radius`` = 23 + 8·Σd = 71 pixels around it instead of 39;
    - a decoder initialised as resize-convolution (``resize_conv_kernel``): each k4 s2 transposed convolution
      starts as nearest upsampling + a random 3×3 convolution, free of the checkerboard; with ``resize=True`` the
      decoder *is* resize-convolution (``F.upsample_nearest2d`` then a 3×3 ``Conv2d``) and stays so in training:
      nearest upsampling has no energy at the Nyquist frequency and a convolution adds none;
    - with ``gated=True``, gated convolutions (``nn.GatedConv2d``) in the encoder and the middle, so each
      layer learns how far to trust features computed from hole pixels; with ``partial=True`` partial
      convolutions there instead (``nn.PartialConv2d``, Liu et al. 2018): each layer reads only the pixels its
      mask says are known, re-weighted by how many its window found, and passes the grown mask on, so the hole
      shrinks layer by layer and no feature is computed from a missing pixel;
    - a learned gate on the correction instead of InpaintNet's fixed fade with the distance to known pixels:
      the last layer gives the residual r and a gate logit g,

          x₀ = (1 − m)·x + m·f          y = (1 − m)·x + m·(x₀ + σ(g)·r),

      so where the network is unsure (flat or smoothly shaded areas) it can keep the starting fill f, and deep
      inside a hole it may still act. r starts at zero: the untrained network returns f exactly;
    - with ``spectral=True``, a residual Fourier unit after the dilated layers (``nn.FourierUnit``, started at
      zero): a 1×1 convolution over the 1/8-scale features' spectrum, so the middle of the network reads the
      whole tile at once (LaMa). The result then depends on the whole tile, not only on ``receptive_radius``
      pixels: tiles cut from a photo see different surroundings (``global_reach``);
    - with ``attention=True``, contextual attention at 1/8 scale (``F.contextual_attention``; DeepFill v1): the
      features of each 8×8 block that holds hole pixels are joined by those of the fully known blocks whose
      3×3 neighbourhoods match theirs, through a 1×1 convolution started at zero,
      d ← d + m₈ ⊙ W·attention(d), so the hole can copy texture from the tile around it (which also makes the
      result depend on the whole tile: ``global_reach``);
    - with ``contrast`` τ > 0, a gate that knows when not to act without learning it: the correction is scaled
      by a = min(1, s/τ), s the ``visible_contrast`` around the pixel (the visible pixels' Laplacian), so on
      flat and linearly shaded surroundings, where the harmonic fill is exact, the network changes nothing:

          y = (1 − m)·x + m·(x₀ + a·σ(g)·r).

    ``start``: as InpaintNet's (default "harmonic"). Sides must be multiples of 8. ``rng`` draws the parameters.
    """

    fades = False
    """``inpaint`` keeps the whole correction (InpaintNet's is faded out with the distance to known pixels)."""

    def __init__(self, width=32, in_channels=3, dilations=(2, 4), gated=False, dtype=np.float32, rng=None,
                 start="harmonic", contrast=0.0, spectral=False, attention=False, resize=False, partial=False):
        super().__init__()
        if isinstance(contrast, bool) or not isinstance(contrast, (int, float, np.floating, np.integer)) \
                or not np.isfinite(contrast) or contrast < 0:
            raise ValueError(f"HoleNet: contrast must be a finite number >= 0, got {contrast!r}")
        self.contrast = float(contrast)
        if isinstance(width, bool) or int(width) != width or width < 1:
            raise ValueError(f"HoleNet: width must be a positive integer, got {width!r}")
        if start not in STARTS:
            raise ValueError(f"HoleNet: start must be one of {sorted(STARTS)}, got {start!r}")
        dilations = tuple(int(d) for d in dilations)
        if any(d < 1 for d in dilations):
            raise ValueError(f"HoleNet: dilations must be positive integers, got {dilations!r}")
        self.width, self.in_channels, self.start, self.dilations = int(width), in_channels, start, dilations
        self.gated, self.spectral, self.attention = bool(gated), bool(spectral), bool(attention)
        self.resize, self.partial = bool(resize), bool(partial)
        if self.gated and self.partial:
            raise ValueError("HoleNet: gated and partial convolutions are alternatives; choose one")
        self.global_reach = self.spectral or self.attention
        # InpaintNet's 39 pixels without its one dilation-2 layer at 1/8 scale (16), plus 8·d for each dilated
        # layer here (a 3×3 of dilation d at 1/8 scale reads 8·d pixels farther); the tests measure it. The
        # contrast gate reads CONTRAST_RADIUS + 1 pixels.
        self.receptive_radius = max(23 + 8 * sum(dilations), CONTRAST_RADIUS + 1 if self.contrast else 0)
        rng = nn._generator(rng)
        for name, kind, c_in, c_out, k, s, p, d in _holenet_layers(width, in_channels, dilations, gated, resize,
                                                                   partial):
            if kind == "gated":
                layer = nn.GatedConv2d(c_in, c_out, k, stride=s, padding=p, dilation=d, dtype=dtype, rng=rng)
            elif kind == "partial":
                layer = nn.PartialConv2d(c_in, c_out, k, stride=s, padding=p, dilation=d, dtype=dtype, rng=rng)
            elif kind in ("conv", "resize"):
                layer = nn.Conv2d(c_in, c_out, k, stride=s, padding=p, dilation=d, dtype=dtype, rng=rng)
            else:
                layer = nn.ConvTranspose2d(c_in, c_out, k, stride=s, padding=p, dtype=dtype, rng=rng)
                bound = 1.0 / np.sqrt(c_in * 9)
                layer.weight.data[...] = resize_conv_kernel(rng.uniform(-bound, bound, (c_out, c_in, 3, 3)))
            setattr(self, name, layer)
        if spectral:
            self.fourier = nn.FourierUnit(4 * self.width, zero=True, dtype=dtype, rng=rng)
        if attention:
            self.attend = _zero(nn.Conv2d(4 * self.width, 4 * self.width, 1, dtype=dtype, rng=rng))
        self.out.weight.data[:in_channels] = 0  # r = 0: the untrained network returns the start
        self.out.bias.data[...] = 0
        self.act = nn.LeakyReLU(0.2)

    def forward(self, image, mask, fill=None):
        """image (N, C, H, W) and mask (N, 1, H, W), Tensors or ndarrays -> the filled image (N, C, H, W) Tensor.

        ``fill`` (N, C, H, W) or broadcastable: starting values in the hole (default: the ``start`` fill)."""
        x, m, f = _network_inputs(self, image, mask, fill)
        base, skips, d = self._encode(x, m, f)
        return self._decode(x, m, base, skips, self._middle(d, m))

    def _encoder_act(self, t):
        return t if self.gated else self.act(t)  # a gated layer applies its own φ(·)⊙σ(·)

    def _encode(self, x, m, f):
        """The start x₀ (ndarray), the skip features [e1, e2, e3] and the 1/8-scale features e4."""
        base = (1.0 - m) * x + m * f
        enc = self._encoder_act
        t = Tensor(np.concatenate([base, m], axis=1))
        if self.partial:  # each layer reads the known pixels of its input only and passes the grown mask on
            valid, features = 1.0 - m, []
            for name in ("enc1", "enc2", "enc3", "enc4"):
                t, valid = getattr(self, name)(t, valid)
                t = enc(t)
                features.append(t)
            return base, features[:3], features[3]
        e1 = enc(self.enc1(t))
        e2 = enc(self.enc2(e1))
        e3 = enc(self.enc3(e2))
        return base, [e1, e2, e3], enc(self.enc4(e3))

    def _valid_at_eighth(self, m):
        """With partial convolutions: the mask of known features after the encoder (N, 1, H/8, W/8), a function
        of the hole mask alone (``nn.PartialConv2d.window_counts`` through enc1..enc4)."""
        valid = 1.0 - m
        for name in ("enc1", "enc2", "enc3", "enc4"):
            valid = (getattr(self, name).window_counts(valid) > 0.5).astype(m.dtype)
        return valid

    def _middle(self, d, m):
        """The 1/8-scale layers: the residual dilated convolutions, then the Fourier unit and the attention."""
        valid = self._valid_at_eighth(m) if self.partial else None
        for k in range(len(self.dilations)):
            layer = getattr(self, f"mid{k + 1}")
            if self.partial:
                t, valid = layer(d, valid)
                d = d + self.act(t)
            else:
                d = d + self._encoder_act(layer(d))
        if self.spectral:
            d = d + self.fourier(d)
        if self.attention:
            holes8, keys8 = _block_masks(m)
            d = d + Tensor(holes8) * self.attend(F.contextual_attention(d, keys8))
        return d

    def _decode(self, x, m, base, skips, d):
        """Up the decoder with the skips (each joined, then dropped, as in InpaintNet) to the gated correction."""
        act = self.act
        for layer in (self.dec3, self.dec2, self.dec1):
            d = F.upsample_nearest2d(d, 2) if self.resize else d
            d = F.concatenate([act(layer(d)), skips.pop()], axis=1)
        out = self.out(d)
        c = self.in_channels
        correction = F.sigmoid(out[:, c:]) * out[:, :c]
        gate = m if self.contrast == 0 else m * np.minimum(1.0, visible_contrast(x, m) / self.contrast)
        return Tensor(base) + Tensor(gate.astype(x.dtype)) * correction


class InpaintVAE(HoleNet):
    """A conditional variational autoencoder for inpainting (Sohn et al. 2015; Zheng et al. 2019): a hole has many
    plausible fills, and instead of their average (what a network trained with MSE learns) it draws one per
    latent sample. HoleNet's encoder and decoder, plus a latent map z of ``latent`` channels at 1/8 scale
    added to the middle features through a 1×1 convolution (``inject``, started at zero):

        prior      p(z | visible) = N(μ_p, σ_p²)     from the start x₀ and the mask (``prior_head`` on e4)
        posterior  q(z | photo)   = N(μ_q, σ_q²)     from the whole photo and the mask (``post1..3``, ``post_head``)
        training   z = μ_q + σ_q ⊙ ε  (``F.reparameterize``),  loss = MSE over the hole + β·KL(q ‖ p)
        sampling   z = μ_p + T·σ_p ⊙ ε  (ε ~ N(0, I), ``noise``), or z = μ_p without noise

    log σ² is bounded to ±6 (6·tanh(·/6)). Both heads start at zero (p = q = N(0, I), KL = 0) and so does
    ``inject``: the untrained network returns its start exactly, as HoleNet does. Sides multiples of 8.
    """

    default_latent = 8

    def __init__(self, width=32, latent=default_latent, in_channels=3, dtype=np.float32, rng=None,
                 start="harmonic", contrast=0.0):
        super().__init__(width, in_channels, dtype=dtype, rng=rng, start=start, contrast=contrast)
        latent = nn._positive_int(latent, "latent", "InpaintVAE")
        self.latent = latent
        # the prior's 3×3 head at 1/8 scale reads one block (8 pixels) farther than HoleNet (the tests measure it)
        self.receptive_radius += 8
        w, c = self.width, self.in_channels
        rng = nn._generator(rng)
        self.prior_head = _zero(nn.Conv2d(4 * w, 2 * latent, 3, padding=1, dtype=dtype, rng=rng))
        self.post1 = nn.Conv2d(c + 1, w, 4, stride=2, padding=1, dtype=dtype, rng=rng)
        self.post2 = nn.Conv2d(w, 2 * w, 4, stride=2, padding=1, dtype=dtype, rng=rng)
        self.post3 = nn.Conv2d(2 * w, 2 * w, 4, stride=2, padding=1, dtype=dtype, rng=rng)
        self.post_head = _zero(nn.Conv2d(6 * w, 2 * latent, 3, padding=1, dtype=dtype, rng=rng))
        self.inject = _zero(nn.Conv2d(latent, 4 * w, 1, dtype=dtype, rng=rng))

    def _gaussian(self, head):
        """(μ, log σ²) from a head's 2·latent channels."""
        k = self.latent
        return head[:, :k], F.tanh(head[:, k:] * (1.0 / 6.0)) * 6.0

    def _check_noise(self, noise, x):
        want = (x.shape[0], self.latent, x.shape[2] // 8, x.shape[3] // 8)
        noise = np.asarray(noise)
        if noise.shape != want:
            raise ValueError(f"InpaintVAE: noise must have shape {want} (one latent vector per 8×8 block), "
                             f"got {noise.shape}")
        return noise

    def forward(self, image, mask, fill=None, noise=None, temperature=1.0):
        """One fill per image from the prior: z = μ_p + T·σ_p ⊙ ``noise`` ((N, latent, H/8, W/8) standard normal
        values, e.g. ``rng.standard_normal``), or z = μ_p (the prior's most likely latent) when ``noise`` is
        None. T = ``temperature``. Otherwise as HoleNet's forward."""
        x, m, f = _network_inputs(self, image, mask, fill)
        base, skips, e4 = self._encode(x, m, f)
        mu, logvar = self._gaussian(self.prior_head(e4))
        z = mu if noise is None else mu + F.exp(logvar * 0.5) * Tensor(
            (float(temperature) * self._check_noise(noise, x)).astype(x.dtype))
        return self._decode(x, m, base, skips, self._middle(e4 + self.inject(z), m))

    def elbo_terms(self, image, mask, rng, fill=None):
        """The training pass: z drawn from the posterior of the whole ``image`` (``F.reparameterize`` with
        noise from ``rng``), decoded. Returns (fill (N, C, H, W) Tensor, KL(q ‖ p) elementwise
        (N, latent, H/8, W/8) Tensor)."""
        x, m, f = _network_inputs(self, image, mask, fill)
        base, skips, e4 = self._encode(x, m, f)
        mu_p, logvar_p = self._gaussian(self.prior_head(e4))
        act = self.act
        h = act(self.post3(act(self.post2(act(self.post1(Tensor(np.concatenate([x, m], axis=1))))))))
        mu_q, logvar_q = self._gaussian(self.post_head(F.concatenate([h, e4], axis=1)))
        z = F.reparameterize(mu_q, logvar_q, rng=rng)
        y = self._decode(x, m, base, skips, self._middle(e4 + self.inject(z), m))
        return y, F.gaussian_kl(mu_q, logvar_q, mu_p, logvar_p, reduction="none")


def _zero(layer):
    """The layer with its weight and bias set to zero."""
    layer.weight.data[...] = 0
    layer.bias.data[...] = 0
    return layer


class SeedNet(nn.Module):
    """The source article's Keras network, rebuilt layer for layer:

        Conv2D(64, 3x3, 'valid') + ReLU  ->  Conv2DTranspose(3, 3x3, strides 2, 'same') + sigmoid

    On a 32x32 image the convolution gives 30x30 features and the transposed convolution, whose 'same'
    padding means "output = input × stride", gives 60x60 — not the 32x32 of the image it should fill, and the
    article trains it against CIFAR-10 class labels with binary cross-entropy, so it cannot learn inpainting.
    Keras's 'same' here is PyTorch's full transposed convolution (61x61) with the last row and column cut off.
    """

    def __init__(self, dtype=np.float32, rng=None):
        super().__init__()
        self.conv = nn.Conv2d(3, 64, 3, dtype=dtype, rng=rng)
        self.deconv = nn.ConvTranspose2d(64, 3, 3, stride=2, dtype=dtype, rng=rng)

    def features(self, x):
        """The 64-channel feature map after Conv2D + ReLU: (N, 64, H − 2, W − 2)."""
        return F.relu(self.conv(x))

    def forward(self, x):
        """x (N, 3, H, W) -> (N, 3, 2(H − 2), 2(W − 2)) in (0, 1)."""
        y = self.deconv(self.features(x))
        h, w = 2 * (x.shape[2] - 2), 2 * (x.shape[3] - 2)
        return F.sigmoid(y[:, :, :h, :w])


class SeedNetFixed(nn.Module):
    """The article's two layers, corrected for inpainting: the output has the input's size and is trained
    against the image itself with MSE.

        Conv2d(C+1 -> 64, 3x3, padding 1) + ReLU  ->  ConvTranspose2d(64 -> C, 3x3, stride 1, padding 1) + sigmoid

    Input: the image with holes zeroed plus the mask channel, so the network knows what to fill.
    """

    receptive_radius = 2  # a 3x3 convolution, then a 3x3 transposed convolution

    def __init__(self, in_channels=3, hidden=64, dtype=np.float32, rng=None):
        super().__init__()
        self.conv = nn.Conv2d(in_channels + 1, hidden, 3, padding=1, dtype=dtype, rng=rng)
        self.deconv = nn.ConvTranspose2d(hidden, in_channels, 3, stride=1, padding=1, dtype=dtype, rng=rng)

    def forward(self, image, mask, fill=None):
        """image (N, C, H, W), mask (N, 1, H, W) -> the image with its holes filled, same size.

        ``fill``: values shown to the network inside the hole (default 0, as the article's zeroed pixels)."""
        x, m = _plain(image), _plain(mask).astype(_plain(image).dtype)
        start = (1.0 - m) * x if fill is None else (1.0 - m) * x + m * _plain(fill).astype(x.dtype)
        inp = Tensor(np.concatenate([start, m], axis=1))
        pred = F.sigmoid(self.deconv(F.relu(self.conv(inp))))
        return Tensor((1.0 - m) * x) + Tensor(m) * pred


MODELS = {"inpaintnet": InpaintNet, "holenet": HoleNet, "holenet-gated": HoleNet, "holenet-fourier": HoleNet,
          "holenet-attention": HoleNet, "holenet-resize": HoleNet, "holenet-partial": HoleNet, "vae": InpaintVAE,
          "seednet-fixed": SeedNetFixed}


def build(name, width=32, start="harmonic", dtype="float32", seed=0, contrast=0.0):
    """A fresh network by its name in MODELS, its parameters drawn from ``seed``: ``InpaintNet(width,
    start=start)``, ``HoleNet(width, start=start, contrast=contrast)`` ("holenet"; "holenet-gated":
    ``gated=True``; "holenet-fourier": ``spectral=True``; "holenet-attention": ``attention=True``;
    "holenet-resize": ``resize=True``; "holenet-partial": ``partial=True``),
    ``InpaintVAE(width, start=start, contrast=contrast)`` ("vae") or ``SeedNetFixed(hidden=width)`` (which has no starting
    fill: ``start`` is ignored). ``contrast`` is HoleNet's contrast gate (0: none). An unknown name or dtype, or a
    bad width, start or contrast, is a ValueError."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {sorted(MODELS)}")
    if str(dtype) not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    rng = np.random.default_rng(seed)
    if name == "inpaintnet":
        return InpaintNet(width, dtype=np.dtype(dtype), rng=rng, start=start)
    if name == "vae":
        return InpaintVAE(width, dtype=np.dtype(dtype), rng=rng, start=start, contrast=contrast)
    if name.startswith("holenet"):
        return HoleNet(width, gated=name == "holenet-gated", spectral=name == "holenet-fourier",
                       attention=name == "holenet-attention", resize=name == "holenet-resize",
                       partial=name == "holenet-partial", dtype=np.dtype(dtype), rng=rng, start=start,
                       contrast=contrast)
    if contrast:
        raise ValueError(f"contrast is a setting of the HoleNet models, not of {name!r}")
    return SeedNetFixed(hidden=width, dtype=np.dtype(dtype), rng=rng)


def parameter_count(name, width=32, in_channels=3):
    """The number of parameter values of ``build(name, width)``, computed from the layer shapes without building
    anything (a file's settings are checked against its arrays before a network is allocated). ValueError for an
    unknown name or a width that is not a positive integer."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {sorted(MODELS)}")
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1:
        raise ValueError(f"width must be a positive integer, got {width!r}")
    w, c = int(width), in_channels
    conv = lambda c_in, c_out, k: c_in * c_out * k * k + c_out
    if name == "seednet-fixed":
        return conv(c + 1, w, 3) + conv(w, c, 3)
    if name == "vae":
        k = InpaintVAE.default_latent
        return (parameter_count("holenet", width, in_channels) + conv(4 * w, 2 * k, 3) + conv(c + 1, w, 4)
                + conv(w, 2 * w, 4) + conv(2 * w, 2 * w, 4) + conv(6 * w, 2 * k, 3) + conv(k, 4 * w, 1))
    if name.startswith("holenet"):
        extra = {"holenet-fourier": conv(8 * w, 8 * w, 1), "holenet-attention": conv(4 * w, 4 * w, 1)}.get(name, 0)
        return extra + sum(conv(c_in, 2 * c_out if kind == "gated" else c_out, k)
                             for _, kind, c_in, c_out, k, *_ in _holenet_layers(w, c, (2, 4), name == "holenet-gated",
                                                                                 name == "holenet-resize"))
    return (conv(c + 1, w, 3) + conv(w, 2 * w, 4) + conv(2 * w, 4 * w, 4) + conv(4 * w, 4 * w, 4)
            + conv(4 * w, 4 * w, 3) + conv(4 * w, 4 * w, 4) + conv(8 * w, 2 * w, 4) + conv(4 * w, w, 4)
            + conv(2 * w, c, 3))


def model_dtype(model):
    """The dtype of a model's parameters."""
    return next(iter(model.parameters())).dtype


def predict(model, images, hole_masks, fills=None, batch_size=50, side_by_side=False, noise=None):
    """Run ``model`` without recording gradients over (N, C, H, W) images and (N, 1, H, W) masks in batches of
    ``batch_size``; ``fills`` (like images) are the starting values inside the holes (default: the model's own
    start, e.g. the harmonic fill for ``InpaintNet(start="harmonic")``). Inputs are converted to the model's
    dtype; returns a float32 ndarray (N, C, H, W).

    ``side_by_side=True``: the samples of a batch go through the whole network at once, each part of the batch
    on a thread of its own (``parallel.run_in_parts``; the kernels inside do not split again). For a few large
    images (photo tiles): the elementwise work between the kernels then runs on every core too, instead of on
    one while the others wait. The numbers are the same. ``noise``: a sampling network's latent noise
    (``InpaintVAE.forward``), one (latent, H/8, W/8) array per image."""
    dtype = model_dtype(model)
    outs = []

    def run(part):
        fill = None if fills is None else fills[part].astype(dtype)
        if noise is not None:
            return model(images[part].astype(dtype), hole_masks[part].astype(dtype), fill, noise=noise[part]).data
        return model(images[part].astype(dtype), hole_masks[part].astype(dtype), fill).data

    with no_grad():  # entered here, not on the worker threads: the switch is process-wide
        for start in range(0, images.shape[0], batch_size):
            stop = min(images.shape[0], start + batch_size)
            if side_by_side:
                outs.extend(parallel.run_in_parts(stop - start, lambda n0, n1: run(slice(start + n0, start + n1))))
            else:
                outs.append(run(slice(start, stop)))
    return np.concatenate(outs).astype(np.float32)
