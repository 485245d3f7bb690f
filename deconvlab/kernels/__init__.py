"""Convolution and transposed convolution on plain ndarrays, forward and backward; imports NumPy, Numba and
``deconvlab.parallel`` (the batch split) only.

The public functions (the contract of docs/design.md, "Kernels") are the fast ones from ``fast``; ``readable``
holds their direct-loop twins with the same signatures. ``plan`` chooses, per layer, the algorithm ``fast``
runs (im2col, ``winograd`` in F(2×2, r×r) or F(4×4, 2×2) tiles, or ``direct``); ``plan.forced(name)`` overrides the choice. ``laplace`` holds the
harmonic fill's compiled loop, ``elementwise`` the activations' one-pass loops. ``pair`` turns an int or
(h, w) argument into a pair.
Output sizes:

    conv2d            H_out = floor((H + 2p − d(k−1) − 1)/s) + 1
    conv_transpose2d  H_out = (H − 1)s − 2p + d(k−1) + output_padding + 1,   0 <= output_padding < max(s, d)
"""
from . import direct, elementwise, fast, laplace, plan, readable, winograd
from ._args import conv_output_size, conv_transpose_output_size, pair
from .fast import (
    conv2d_backward,
    conv2d_forward,
    conv_transpose2d_backward,
    conv_transpose2d_forward,
)

__all__ = [
    "conv2d_forward",
    "conv2d_backward",
    "conv_transpose2d_forward",
    "conv_transpose2d_backward",
    "conv_output_size",
    "conv_transpose_output_size",
    "pair",
    "fast",
    "readable",
    "plan",
    "winograd",
    "direct",
    "laplace",
    "elementwise",
]
