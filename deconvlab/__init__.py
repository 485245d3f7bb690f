"""deconvlab: convolution and transposed convolution built by hand, a tiny autograd, and image inpainting.

Public names: ``Tensor``, ``no_grad``, ``functional`` (as F), ``nn``, ``optim``, ``kernels``, ``reference``,
``gradcheck``, ``parallel``, ``inpaint``, ``load_pretrained``. Every module imports only modules of lower layers
(docs/design.md, "Layers").
"""
import os

# The matrix products run in NumPy's OpenBLAS, whose worker threads by default keep spinning for a while after
# each product; the kernels' serial loops that follow then compete with them for the cores. Unless the user
# chose otherwise, let them sleep at once. This takes effect only if NumPy is first imported here (a fresh
# process, the deconvlab command); docs/performance.md has the measurement.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from . import _allocator  # noqa: E402

# Large freed arrays are kept for reuse instead of being returned to the system and faulted in again at the
# next step (a tenth of a training step; ``_allocator``). DECONVLAB_MALLOC=0 leaves malloc alone.
_allocator.tune()

from . import functional, kernels, nn, optim, parallel, reference  # noqa: E402
from .autograd import Tensor, no_grad  # noqa: E402
from .gradcheck import gradcheck  # noqa: E402
from ._version import __version__  # noqa: E402
from .inpainting import inpaint, load_pretrained  # noqa: E402

__all__ = [
    "Tensor",
    "no_grad",
    "functional",
    "nn",
    "optim",
    "kernels",
    "reference",
    "gradcheck",
    "parallel",
    "inpaint",
    "load_pretrained",
]
