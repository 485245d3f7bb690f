"""deconvlab: convolution and transposed convolution built by hand, a tiny autograd, and image inpainting."""
from . import kernels

__version__ = "0.1.0"
