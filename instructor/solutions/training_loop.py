"""Exercise training_loop: the loop that trains an inpainting network.

You are given a small network ``model`` (a ``deconvlab.nn`` module that maps a (B, 4, H, W) input to a
(B, 3, H, W) image) and an optimizer over its parameters (``deconvlab.optim.Adam``). Write the loop that
teaches the network to fill holes. Step t = 0, 1, …, steps − 1 uses the samples

    k = (t·B + b) mod N,  b = 0 … B − 1     (B = batch_size, N = the number of images)

and does, with x = images[k] and m = masks[k] (1 = missing pixel):

    1. the input: the image with its hole removed and the mask as a fourth channel,
           inp = concatenate([(1 − m)·x, m], channel axis)
    2. the prediction y = model(inp)
    3. the loss, the mean squared error over the hole (all three colour channels),
           L = Σ m·(y − x)² / Σ m'      (m' = m repeated over the 3 channels, so Σ m' = 3·Σ m)
    4. the gradient of L with respect to the parameters (the gradients of the previous step cleared first)
       and one optimizer step.

Return the list of the ``steps`` values of L (Python floats), each computed before its step's update.

You may import NumPy and, from deconvlab, ``functional`` (losses, ``concatenate``) and ``autograd``
(``Tensor``, ``no_grad``): ``from deconvlab import functional as F``. Calling ``model`` on a NumPy array
works; ``loss.backward()``, ``optimizer.zero_grad()``, ``optimizer.step()`` and ``loss.item()`` do the rest.
"""
import numpy as np

from deconvlab import functional as F


def train_inpainting(model, optimizer, images, masks, steps, batch_size):
    """Train ``model`` for ``steps`` steps as described above; returns the list of the steps' losses.

    images: (N, 3, H, W) float32 in [0, 1]; masks: (N, 1, H, W) float32, 1 = missing (neither is changed).
    """
    ### BEGIN SOLUTION
    n = images.shape[0]
    losses = []
    for t in range(steps):
        k = (t * batch_size + np.arange(batch_size)) % n
        x, m = images[k], masks[k]
        inp = np.concatenate([(1 - m) * x, m], axis=1)
        y = model(inp)
        loss = F.mse_loss(y, x, mask=np.broadcast_to(m, x.shape))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
    ### END SOLUTION
