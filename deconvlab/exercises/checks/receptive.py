"""Checks of the exercise receptive_field: where one output pixel of a conv stack looks; imports NumPy,
Hypothesis, ``kernels`` and ``base``."""
import numpy as np
from hypothesis import strategies as st

from ... import kernels
from .base import Variant, check

AS_TUPLES = Variant("tuples", "layers as a list of tuples")
AS_ARRAY = Variant("array", "layers as a read-only int64 array", readonly=True)
AS_INT32 = Variant("int32", "layers as an int32 array", dtype=np.int32)
LAYER_VARIANTS = (AS_TUPLES, AS_ARRAY, AS_INT32)

layer = st.tuples(st.integers(1, 5), st.integers(1, 3), st.integers(0, 2), st.integers(1, 3))  # (k, s, p, d)
stacks = st.lists(layer, min_size=1, max_size=4)
INPAINTNET_ENCODER = [(3, 1, 1, 1), (4, 2, 1, 1), (4, 2, 1, 1), (4, 2, 1, 1), (3, 1, 2, 2)]


def _layers(case, stack):
    """The stack as the variant presents it."""
    if case.variant is AS_TUPLES:
        return [tuple(row) for row in stack]
    rows = np.array(stack, dtype=np.int64).reshape(-1, 4)
    if case.variant is AS_INT32:
        rows = rows.astype(np.int32)
    return case.given("layers", rows)


def _field(case, stack):
    layers = _layers(case, stack)
    result = case.call("receptive_field", layers)
    what = f"receptive_field({case._text(layers)})"
    if not isinstance(result, (tuple, list)) or len(result) != 3:
        case.fail(f"{what} returned {getattr(result, 'type_name', type(result).__name__)}; expected a tuple "
                  "(size, jump, start)")
    for name, value in zip(("size", "jump", "start"), result):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            case.fail(f"{what} returned {name} = {value!r}, a {type(value).__name__}; expected an int (integer "
                      "arithmetic: // and *, not /)")
    return what, tuple(int(v) for v in result)


def propagate(stack):
    """The grader's own answer, from the index relation alone: the input pixels output pixels 0 and 1 read,
    followed back through every layer (sets of indices, no formula)."""
    fields = {0: {0}, 1: {1}}
    for k, s, p, d in reversed(stack):
        fields = {i: {o * s - p + u * d for o in pixels for u in range(k)} for i, pixels in fields.items()}
    first, second = fields[0], fields[1]
    return max(first) - min(first) + 1, min(second) - min(first), min(first)


@check("receptive_field", variants=LAYER_VARIANTS)
def empty_stack_is_the_identity(case):
    """No layer: every output pixel is its input pixel, (size, jump, start) = (1, 1, 0)."""
    what, got = _field(case, [])
    if got != (1, 1, 0):
        case.fail(f"{what} = {got}; expected (1, 1, 0)")


@check("receptive_field", variants=LAYER_VARIANTS, row=layer)
def one_layer(case, row):
    """One layer (k, s, p, d): size (k − 1)·d + 1, jump s, start −p."""
    k, s, p, d = row
    what, got = _field(case, [row])
    expected = ((k - 1) * d + 1, s, -p)
    if got != expected:
        case.fail(f"{what} = {got}; expected {expected} (a window of k taps, d apart, moved s at a time, "
                  f"starting p before the image)")


@check("receptive_field", variants=LAYER_VARIANTS, stack=stacks)
def matches_the_index_relation(case, stack):
    """For random stacks, (size, jump, start) is what following the input pixels i·s − p + u·d back through every
    layer gives for output pixels 0 and 1."""
    what, got = _field(case, stack)
    expected = propagate(stack)
    if got != expected:
        case.fail(f"{what} = {got}; expected {expected} (following pixels 0 and 1 back layer by layer)")


@check("receptive_field", variants=LAYER_VARIANTS, stack=stacks)
def matches_the_gradient_of_the_stack(case, stack):
    """The gradient of one output pixel of the stack, run by deconvlab's kernels with all-ones weights, is
    non-zero exactly from start + i·jump to start + i·jump + size − 1 (a field that lies inside the image)."""
    what, (size, jump, start) = _field(case, stack)
    true_size, true_jump, true_start = propagate(stack)
    i = max(0, -(true_start // true_jump))  # the first output whose field starts inside the image
    width = true_start + i * true_jump + true_size + sum(p for _, _, p, _ in stack) + 1
    x = np.zeros((1, 1, 1, width))
    sizes = [x.shape]
    for k, s, p, d in stack:
        n = (sizes[-1][3] + 2 * p - d * (k - 1) - 1) // s + 1
        sizes.append((1, 1, 1, n))
    g = np.zeros(sizes[-1])
    g[0, 0, 0, i] = 1.0
    for (k, s, p, d), shape in zip(reversed(stack), reversed(sizes[:-1])):
        g = kernels.conv2d_backward(g, np.zeros(shape), np.ones((1, 1, 1, k)), stride=(1, s), padding=(0, p),
                                    dilation=(1, d))[0]
    read = np.nonzero(g[0, 0, 0])[0]
    low, high = start + i * jump, start + i * jump + size - 1
    if read.min() != low or read.max() != high:
        case.fail(f"{what} = {(size, jump, start)} says output pixel {i} depends on input pixels {low} to {high}; "
                  f"the gradient through the layers is non-zero from {read.min()} to {read.max()}")


@check("receptive_field", variants=LAYER_VARIANTS)
def inpaintnet_encoder(case):
    """InpaintNet's encoder (a 3×3 conv, three 4×4 stride-2 convs, a dilated 3×3) sees 56 pixels, 8 apart."""
    what, got = _field(case, INPAINTNET_ENCODER)
    expected = propagate(INPAINTNET_ENCODER)
    if got != expected:
        case.fail(f"{what} = {got}; expected {expected}")
