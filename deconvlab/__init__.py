"""deconvlab: convolution and transposed convolution built by hand, a tiny autograd, and image inpainting.

Public names: ``Tensor``, ``no_grad``, ``functional`` (as F), ``nn``, ``optim``, ``kernels``, ``reference``,
``gradcheck``, ``inpaint``, ``load_pretrained``. Layers below import nothing above them (see docs/design).
"""
from . import functional, kernels, nn, optim, reference
from .autograd import Tensor, no_grad
from .gradcheck import gradcheck
from .inpainting import inpaint, load_pretrained

__version__ = "0.1.0"

__all__ = [
    "Tensor",
    "no_grad",
    "functional",
    "nn",
    "optim",
    "kernels",
    "reference",
    "gradcheck",
    "inpaint",
    "load_pretrained",
]
