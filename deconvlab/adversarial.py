"""The adversarial loss, the source article's "GAN" direction: a PatchGAN critic built from deconvlab's own layers
and the two losses of the non-saturating GAN game; imports nn, functional and autograd.

A critic D looks at an image with its mask and gives one logit per overlapping patch (38×38 pixels each): "this patch is a real photo" (logit > 0) or "this patch holds a fill" (< 0). It is
trained to tell the two apart, and the inpainting network, in turn, to make its fills pass (Goodfellow et al.
2014; Isola et al. 2017 for the patch critic; Pathak et al. 2016's Context Encoders weigh the two losses
0.999 reconstruction + 0.001 adversarial). With ℓ(z, t) = max(z, 0) − z·t + ln(1 + e^(−|z|)) the logistic
loss (``F.binary_cross_entropy_with_logits``):

    critic:   L_D = mean ℓ(D(x, m), 1) + mean ℓ(D(ŷ, m), 0)        (ŷ the fill, held constant)
    network:  L_adv = mean ℓ(D(ŷ, m), 1)                          (the non-saturating form: −ln σ(D(ŷ)))
"""
import numpy as np

from . import functional as F
from . import nn
from .autograd import Tensor


class PatchCritic(nn.Module):
    """A PatchGAN critic: k4 s2 convolutions (width, 2·width, 4·width channels, leaky ReLU 0.2) and a 3×3
    convolution to one logit per patch. Input: the image (N, C, H, W) and the hole mask (N, 1, H, W), joined as
    C + 1 channels (so the critic knows where the fill is); output (N, 1, H/8, W/8). Each logit reads a 38×38
    patch (4 + 3·2 + 3·4 + 2·8 pixels: each layer adds (k − 1) times its input's pixel spacing)."""

    def __init__(self, width=32, in_channels=3, dtype=np.float32, rng=None):
        super().__init__()
        w = int(width)
        if w < 1:
            raise ValueError(f"PatchCritic: width must be a positive integer, got {width!r}")
        rng = nn._generator(rng)
        self.width = w
        self.c1 = nn.Conv2d(in_channels + 1, w, 4, stride=2, padding=1, dtype=dtype, rng=rng)
        self.c2 = nn.Conv2d(w, 2 * w, 4, stride=2, padding=1, dtype=dtype, rng=rng)
        self.c3 = nn.Conv2d(2 * w, 4 * w, 4, stride=2, padding=1, dtype=dtype, rng=rng)
        self.logit = nn.Conv2d(4 * w, 1, 3, padding=1, dtype=dtype, rng=rng)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, image, mask):
        """image (N, C, H, W) Tensor or ndarray, mask (N, 1, H, W) ndarray -> logits (N, 1, H/8, W/8) Tensor."""
        x = image if isinstance(image, Tensor) else Tensor(np.asarray(image))
        m = Tensor(np.asarray(mask.data if isinstance(mask, Tensor) else mask, dtype=x.dtype))
        h = self.act(self.c1(F.concatenate([x, m], axis=1)))
        h = self.act(self.c2(h))
        h = self.act(self.c3(h))
        return self.logit(h)


def _target(logits, value):
    return np.full(logits.shape, value, dtype=logits.data.dtype)


def critic_loss(real_logits, fake_logits):
    """L_D = mean ℓ(D(x), 1) + mean ℓ(D(ŷ), 0): the critic's loss on the logits of real photos and of fills."""
    return (F.binary_cross_entropy_with_logits(real_logits, _target(real_logits, 1.0))
            + F.binary_cross_entropy_with_logits(fake_logits, _target(fake_logits, 0.0)))


def generator_loss(fake_logits):
    """L_adv = mean ℓ(D(ŷ), 1) = mean −ln σ(D(ŷ)): small when the critic takes the fills for photos."""
    return F.binary_cross_entropy_with_logits(fake_logits, _target(fake_logits, 1.0))
