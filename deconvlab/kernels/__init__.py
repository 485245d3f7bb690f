"""Convolution and transposed convolution on plain ndarrays, forward and backward; imports NumPy and Numba only.

The public functions (DESIGN "kernels" contract) are the fast ones from ``fast``; ``readable`` holds their
direct-loop twins with the same signatures. Output sizes:

    conv2d            H_out = floor((H + 2p − d(k−1) − 1)/s) + 1
    conv_transpose2d  H_out = (H − 1)s − 2p + d(k−1) + output_padding + 1,   0 <= output_padding < max(s, d)
"""
from . import fast, readable
from ._args import conv_output_size, conv_transpose_output_size
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
    "fast",
    "readable",
]
