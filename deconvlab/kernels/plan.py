"""The one place that decides how a layer is computed: its geometry, read once per call, and the algorithm
chosen for it; imports only the standard library and NumPy.

Every kernel call is seen as a convolution (its "conv view"): a (C_out, C_in, kH, kW) weight correlating an
input of in_hw pixels into an output of out_hw pixels with stride s, padding p, dilation d. conv2d's forward
is that correlation, its input gradient the adjoint (a scatter), its weight gradient the third reading of
the same index relation; conv_transpose2d is the same layer read backwards (its forward is the scatter), so
one geometry serves all four public kernels.

A dilated stride-1 layer whose dilation divides its padding and image sizes is first seen as a dense layer on
a batch of subgrid images (``subgrids``), and the algorithm is chosen for that.

The algorithms (``ALGORITHMS``):

- ``"im2col"``: unrolled windows times the weight matrix (BLAS). Any geometry.
- ``"winograd"``: F(2×2, r×r) tiles (``winograd``) on the polyphase split, for dilation 1 and kernels that
  split into square r×r sub-kernels, r = ⌈k/s⌉ ∈ {2, 3}: k3 s1 (r = 3), k2 s1 and k4 s2 (r = 2, the latter as
  four 2×2 sub-convolutions), also k3 s2, k5 s2 or k6 s2 (sub-kernels padded with zero taps).
- ``"winograd4"``: F(4×4, 2×2) tiles on the same split, for 2×2 sub-kernels only (k2 s1; k3 or k4 at stride 2):
  25 products per 16 outputs where ``"winograd"``'s F(2×2, 2×2) takes 36.
- ``"direct"``: compiled loops with output-channel blocks innermost and no unrolled copy (``direct``), on the
  same polyphase split, for dilation 1 and any kernel and stride.

The rule (``choose``): Winograd where it applies (F(2×2, 3×3) for k3 s1 and k5/k6 at stride 2, F(2×2, 2×2) or
F(4×4, 2×2) for k2 s1 and the k4 s2 layers of encoders and decoders) and its transforms are a small share of the
work, else im2col; among the two for 2×2 sub-kernels, F(4×4, 2×2) unless its weight transform is a large share
(``WINOGRAD_LARGE_WEIGHT_SHARE_MAX``). Per tile the transforms cost in proportion to C' + C_out and the products
to C'·C_out (C' = C_in times the phases), so the share is 1/C' + 1/C_out; Winograd is chosen where that is at most
``WINOGRAD_TRANSFORM_SHARE_MAX``. The direct loops measured slower than im2col on every shape tried, so they are
never chosen by default; they stay available through ``forced`` and are tested on every shape they accept. The
measurements are in docs/performance.md.

``forced(algorithm)`` makes ``choose`` return that algorithm for every call in its ``with`` block (all
threads), and a ValueError where it does not apply: the tests run every algorithm on every shape it accepts.
"""
import contextlib
from collections import namedtuple

ALGORITHMS = ("im2col", "winograd", "winograd4", "direct")

# The algorithms ``choose`` picks when nothing is forced (the direct loops only run when forced).
DEFAULT_ALGORITHMS = ("im2col", "winograd", "winograd4")

# The output tile side m of each Winograd algorithm: F(m×m, r×r).
WINOGRAD_TILE = {"winograd": 2, "winograd4": 4}

# The conv view of one kernel call (see the module docstring); stride, padding, dilation as (h, w) pairs.
Geometry = namedtuple("Geometry", "batch c_in c_out in_hw out_hw kernel_hw stride padding dilation itemsize")

# Winograd's transforms cost per tile in proportion to C' + C_out, its products in proportion to C'·C_out: it
# is chosen where the transforms' share, 1/C' + 1/C_out, is at most this (measured: docs/performance.md).
WINOGRAD_TRANSFORM_SHARE_MAX = 1 / 12

# For r = 2 (the k4 s2 layers) the rule takes F(4×4, 2×2) ("winograd4": 25 products per 16 outputs, where
# F(2×2, 2×2) needs 36) unless its weight transform is a large share of the work. Per call that transform makes
# α²·C'·C_out numbers once and the tile transforms α²·T·(C' + C_out) for the T tiles of the batch, so the share
# is C'·C_out / (T·(C' + C_out)), T counted in 4×4 tiles; "winograd4" is chosen where it is at most this.
# r = 3 (k3 s1) always uses F(2×2, 3×3). Measured: docs/performance.md.
WINOGRAD_LARGE_WEIGHT_SHARE_MAX = 1 / 3

_forced = [None]


def conv_geometry(x, w, s, p, d, out_hw):
    """The geometry of conv2d(x, w): x (N, C_in, H, W), w (C_out, C_in, kH, kW)."""
    return Geometry(x.shape[0], w.shape[1], w.shape[0], tuple(x.shape[2:]), tuple(out_hw), tuple(w.shape[2:]),
                    s, p, d, x.itemsize)


def conv_transpose_geometry(x, w, s, p, d, out_hw):
    """The geometry of conv_transpose2d(x, w), read as the convolution it is the adjoint of: w (C_in, C_out, kH, kW)
    is a conv weight mapping C_out channels of out_hw pixels to the C_in channels of x's pixels."""
    return Geometry(x.shape[0], w.shape[1], w.shape[0], tuple(out_hw), tuple(x.shape[2:]), tuple(w.shape[2:]),
                    s, p, d, x.itemsize)


def sub_kernel_size(geometry):
    """r per axis, ⌈k/s⌉: the taps of one phase of the polyphase split (dilation 1)."""
    return tuple(-(-geometry.kernel_hw[i] // geometry.stride[i]) for i in range(2))


def phases(geometry):
    """How many phases the polyphase split stores per axis at dilation 1: min(s, k)."""
    return tuple(min(geometry.stride[i], geometry.kernel_hw[i]) for i in range(2))


def subgrids(geometry):
    """A dilated stride-1 layer as d_h·d_w dense ones: the geometry each of them has, or None.

    With dilation d and padding p a multiple of d, output row a + d·i reads input rows a + d·(i − p/d + u): the
    output's subgrid of rows ≡ a (mod d) is a dilation-1 correlation of the input's subgrid ≡ a, padded by p/d.
    Where d divides the input and output sizes every subgrid has the same size, so the layer is one dense layer
    on a batch of N·d_h·d_w subgrid images (``fast`` moves the pixels there and back). Returned for stride 1,
    dilation > 1 on some axis and those divisibilities; None otherwise."""
    d, p = geometry.dilation, geometry.padding
    if geometry.stride != (1, 1) or d == (1, 1):
        return None
    if any(p[i] % d[i] or geometry.in_hw[i] % d[i] or geometry.out_hw[i] % d[i] for i in range(2)):
        return None
    return geometry._replace(batch=geometry.batch * d[0] * d[1], dilation=(1, 1),
                             in_hw=tuple(geometry.in_hw[i] // d[i] for i in range(2)),
                             out_hw=tuple(geometry.out_hw[i] // d[i] for i in range(2)),
                             padding=tuple(p[i] // d[i] for i in range(2)))


def why_not(algorithm, geometry):
    """None if ``algorithm`` can compute this geometry (for a dilated layer: its ``subgrids``), else the
    reason, as a phrase."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algorithm!r}; expected one of {ALGORITHMS}")
    if algorithm == "im2col":
        return None
    geometry = subgrids(geometry) or geometry
    if geometry.dilation != (1, 1):
        return (f"it needs dilation 1, not {geometry.dilation} (or, at stride 1, a padding and image sizes that "
                "the dilation divides)")
    r = sub_kernel_size(geometry)
    if algorithm == "winograd" and (r[0] != r[1] or r[0] not in (2, 3)):
        return (f"kernel {geometry.kernel_hw} with stride {geometry.stride} splits into {r[0]}x{r[1]} "
                "sub-kernels, and F(2x2, rxr) is used for r = 2 or 3 only")
    if algorithm == "winograd4" and r != (2, 2):
        return (f"kernel {geometry.kernel_hw} with stride {geometry.stride} splits into {r[0]}x{r[1]} "
                "sub-kernels, and F(4x4, 2x2) is for 2x2 sub-kernels only (k2 s1, k3 or k4 at stride 2)")
    return None


def _large_tiles_pay(geometry):
    """Whether F(4×4, 2×2)'s weight share C'·C_out / (T·(C' + C_out)) is at most
    ``WINOGRAD_LARGE_WEIGHT_SHARE_MAX`` (T = batch × ⌈H_out/4⌉ × ⌈W_out/4⌉, C' = C_in × phases)."""
    ph = phases(geometry)
    c, o = geometry.c_in * ph[0] * ph[1], geometry.c_out
    m = WINOGRAD_TILE["winograd4"]
    tiles = geometry.batch * (-(-geometry.out_hw[0] // m)) * (-(-geometry.out_hw[1] // m))
    return c * o <= WINOGRAD_LARGE_WEIGHT_SHARE_MAX * tiles * (c + o)


def _rule(geometry):
    """The default algorithm (module docstring) for a geometry as it stands (no subgrids)."""
    if why_not("winograd", geometry) is None and geometry.dilation == (1, 1):
        ph = phases(geometry)
        if 1 / (geometry.c_in * ph[0] * ph[1]) + 1 / geometry.c_out <= WINOGRAD_TRANSFORM_SHARE_MAX:
            return "winograd4" if why_not("winograd4", geometry) is None and _large_tiles_pay(geometry) else "winograd"
    return "im2col"


def layout(geometry):
    """(algorithm, sub) — how ``fast`` computes the layer: by ``algorithm`` on the layer itself (sub None) or on
    its ``subgrids`` (sub their geometry). Forced Winograd or direct loops use the subgrids where the layer has
    them (a ValueError where they cannot compute it either way), forced im2col never does. Unforced, the
    subgrids are used where the rule picks Winograd for them and their output sides are even (whole 2×2 tiles:
    an odd side wastes up to 3/4 of a tile's products, and im2col on the dilated layer measured faster then);
    else the rule decides for the layer as it stands."""
    sub = subgrids(geometry)
    algorithm = _forced[0]
    if algorithm is not None:
        on = sub if sub is not None and algorithm != "im2col" else geometry
        reason = why_not(algorithm, on)
        if reason is not None:
            raise ValueError(f"algorithm {algorithm!r} cannot compute this layer: {reason}")
        return algorithm, (sub if on is sub else None)
    if sub is not None and _rule(sub).startswith("winograd") and all(n % 2 == 0 for n in sub.out_hw):
        return _rule(sub), sub
    return _rule(geometry), None


def choose(geometry):
    """The algorithm for this geometry: the forced one if ``forced`` is in effect (a ValueError where it does not
    apply), else the rule of the module docstring (``layout`` says whether on the subgrids)."""
    return layout(geometry)[0]


@contextlib.contextmanager
def forced(algorithm):
    """``with forced("winograd"): ...`` — every kernel call in the block uses that algorithm (for tests)."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algorithm!r}; expected one of {ALGORITHMS}")
    saved = _forced[0]
    _forced[0] = algorithm
    try:
        yield
    finally:
        _forced[0] = saved
