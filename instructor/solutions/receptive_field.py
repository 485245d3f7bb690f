"""Exercise receptive_field: which input pixels one output pixel of a stack of conv layers depends on.

Along one axis, a conv layer with kernel k, stride s, padding p and dilation d computes its output pixel i
from its input pixels i·s − p + u·d, u = 0 … k − 1. Stack layers and follow the pixels back to the
network's input: output pixel i of the last layer depends on the input pixels

    start + i·jump  …  start + i·jump + size − 1

(some pixels inside that span may be skipped by dilation gaps; ``size`` counts the whole span). Starting
from the input itself (size 1, jump 1, start 0), each layer (k, s, p, d) turns the three numbers into

    size  ←  size + (k − 1)·d·jump
    start ←  start − p·jump
    jump  ←  jump·s

using the jump of the layers before it. ``start`` is negative when padding lets a window hang over the
image's edge. For example, two 3×3 convolutions with padding 1 see 5×5 pixels: size 5, jump 1, start −2.
"""


def receptive_field(layers):
    """(size, jump, start) of the stack ``layers``, a sequence of (kernel, stride, padding, dilation) rows,
    from the input layer to the output layer (a list of tuples, or an integer array of shape (L, 4)).
    An empty stack is the identity: (1, 1, 0). Returns three Python ints."""
    ### BEGIN SOLUTION
    size, jump, start = 1, 1, 0
    for kernel, stride, padding, dilation in layers:
        size += (int(kernel) - 1) * int(dilation) * jump
        start -= int(padding) * jump
        jump *= int(stride)
    return size, jump, start
    ### END SOLUTION
