"""Adapting a trained network to one photo before it fills the photo's holes (test-time training on the photo's
own known pixels); imports autograd, optim, functional, masks, models and errors.

A network trained on a handful of photos has never seen the photo in front of it, but that photo holds many
examples of its own textures and edges around the holes. ``adapt`` punches synthetic holes shaped like the
real ones (the real hole's connected components, mirrored and turned at random) into patches of the known
part of the photo and fine-tunes a copy of the network to fill them: the self-supervised task whose answers
are known. The copy then fills the real holes. This is "internal learning" (Shocher et al. 2018 learn a
super-resolution network from the single image it enlarges) started from a trained network instead of from
scratch, as in test-time training (Sun et al. 2020). A self-check keeps a few synthetic holes out of the
adaptation and returns the weights that fill them best, the unadapted ones included, so that a photo on which
adapting goes wrong keeps the trained network. It costs ``steps`` training steps per photo (seconds to
a minute on two cores); ``inpaint(..., adapt=steps)`` and ``deconvlab inpaint --adapt STEPS`` use it, and
docs/pretrained.md measures it.
"""
import copy
import numbers

import numpy as np

from . import functional as F
from . import masks, optim
from .autograd import no_grad
from .errors import InputError, Setting
from .models import model_dtype

ADAPT_LR = 1e-4
"""Adam's learning rate while adapting: a tenth of the training runs' first stage, so that a few dozen steps
move the weights towards the photo without forgetting what training taught."""
ADAPT_BATCH = 4
"""Patches per adaptation step."""
MIN_PATCH = 16
"""The smallest training patch; a photo whose shorter side is below it (rounded down to the network's 8-pixel
grid) is not adapted to: there is too little of it to learn from."""
MAX_PATCH = 160
"""The largest training patch (a step costs about the patch's area times ADAPT_BATCH)."""
CONTEXT = 48
"""Known pixels around a synthetic hole: the patch side is the largest hole component's side plus CONTEXT,
rounded up to a multiple of 8, within [MIN_PATCH, MAX_PATCH] and the photo."""
PLACEMENT_TRIES = 20
"""Patch positions drawn per sample near the hole, and as many anywhere when those are mostly hole
(``training_batch``)."""
NEAR_HOLE_SHARE = 0.25
"""The largest share of real hole pixels a patch near the hole may hold before patches are sought anywhere."""
HOLDOUT_PATCHES = 8
"""Patches of the self-check (``adapt``): synthetic holes whose pixels the adaptation never sees, on which the
network is scored before, during and after adapting; the best-scoring weights are kept."""
CHECK_EVERY = 10
"""Adaptation steps between two self-checks (and one after the last step)."""
CHECK_MARGIN = 0.0
"""How much lower than the unadapted network's the held-out loss of adapted weights must be for them to be
kept, as a fraction of the unadapted loss."""


def check_steps(steps, where="adapt", name="steps"):
    """``steps`` as an int if it is an integer >= 0; else an InputError from ``where`` naming the setting
    ``name``."""
    if isinstance(steps, (bool, np.bool_)) or not isinstance(steps, numbers.Integral) or steps < 0:
        raise InputError(where, "{setting} must be an integer >= 0 (the adaptation's training steps), got {got!r}",
                         setting=Setting(name), got=steps)
    return int(steps)


def hole_shapes(hole):
    """The connected components of an HxW bool ``hole`` (8-connected), each cut to its bounding box:
    (shapes, boxes), a list of bool arrays and their (n, 4) [top, left, bottom, right) boxes in the photo, in
    the order of ``masks.components``."""
    labels, boxes = masks.components(hole)
    return [labels[t:b, l:r] == k + 1 for k, (t, l, b, r) in enumerate(boxes)], boxes


def patch_side(shapes, h, w):
    """The side of the adaptation's square patches for hole components ``shapes`` on an h×w photo: the
    largest component side + CONTEXT, rounded up to a multiple of 8, at most MAX_PATCH and at most the photo's
    shorter side rounded down to a multiple of 8. 0 when that is below MIN_PATCH (nothing to adapt on)."""
    side = max(max(s.shape) for s in shapes)
    p = min(-(-(side + CONTEXT) // 8) * 8, MAX_PATCH, min(h, w) // 8 * 8)
    return p if p >= MIN_PATCH else 0


def _turned(shape, rng):
    """``shape`` transposed, flipped upside down and flipped left to right, each with probability 1/2."""
    if rng.random() < 0.5:
        shape = shape.T
    if rng.random() < 0.5:
        shape = shape[::-1]
    if rng.random() < 0.5:
        shape = shape[:, ::-1]
    return shape


def _least_covered(hole, p, rng, centre, enough):
    """(covered, top, left) of the p×p window of ``hole`` with the fewest hole pixels among PLACEMENT_TRIES
    drawn, the first that holds at most ``enough`` ending the search (ties: the earlier). Windows are drawn
    with their centre within ±p/2 of ``centre`` (row, col), clipped to the photo, or anywhere when ``centre``
    is None."""
    h, w = hole.shape
    best = None
    for _ in range(PLACEMENT_TRIES):
        if centre is None:
            r, c = int(rng.integers(h - p + 1)), int(rng.integers(w - p + 1))
        else:
            r = int(np.clip(centre[0] - p // 2 + rng.integers(-(p // 2), p // 2 + 1), 0, h - p))
            c = int(np.clip(centre[1] - p // 2 + rng.integers(-(p // 2), p // 2 + 1), 0, w - p))
        covered = int(hole[r:r + p, c:c + p].sum())
        if best is None or covered < best[0]:
            best = (covered, r, c)
        if covered <= enough:
            break
    return best


def training_batch(image, hole, shapes, boxes, p, rng, batch_size=ADAPT_BATCH):
    """One batch of the self-supervised task on an HxWx3 ``image`` with the HxW bool ``hole``.

    For each sample a p×p patch is taken near the real hole, where the known surroundings most resemble what
    is missing: its centre within ±p/2 of the centre of a component of the hole (one of ``boxes``, drawn
    uniformly; ``shapes`` and ``boxes`` from ``hole_shapes``), at the position of the fewest real hole pixels
    among PLACEMENT_TRIES draws (the first that holds none ends the search; ``_least_covered``). If even that
    patch is more than NEAR_HOLE_SHARE real hole (a large hole), up to PLACEMENT_TRIES more positions are drawn
    anywhere in the photo, until one is at most that share hole, and the one with the fewest real hole pixels
    of all is taken: training on patches that are mostly hole
    teaches the network about such patches, not about the photo. A component of ``shapes``, turned at random
    (``_turned``) and cut to at most 3p/4 a side, is placed in the patch where it overlaps the fewest real hole
    pixels among PLACEMENT_TRIES // 2 uniform draws.

    Returns (x, given, scored, corners): x (N, 3, p, p) float32 patches, ``given`` (N, 1, p, p) float32 input
    masks = synthetic ∨ real hole (the network never sees a real hole pixel), ``scored`` (N, 1, p, p) bool loss
    masks = synthetic ∧ ¬real (only pixels whose truth is known are scored), ``corners`` (N, 2) the patches'
    top-left pixels in the photo."""
    largest = (3 * p) // 4
    x = np.empty((batch_size, 3, p, p), dtype=np.float32)
    given = np.empty((batch_size, 1, p, p), dtype=np.float32)
    scored = np.empty((batch_size, 1, p, p), dtype=bool)
    corners = np.empty((batch_size, 2), dtype=np.int64)
    for k in range(batch_size):
        shape = _turned(shapes[int(rng.integers(len(shapes)))], rng)[:largest, :largest]
        top, left, bottom, right = boxes[int(rng.integers(len(boxes)))]
        best = _least_covered(hole, p, rng, ((top + bottom) // 2, (left + right) // 2), 0)
        if best[0] > NEAR_HOLE_SHARE * p * p:  # a large hole: no patch near it is mostly known, so anywhere
            best = min(best, _least_covered(hole, p, rng, None, NEAR_HOLE_SHARE * p * p), key=lambda b: b[0])
        _, r, c = best
        real = hole[r:r + p, c:c + p]
        best = None
        for _ in range(PLACEMENT_TRIES // 2):
            sr, sc = int(rng.integers(p - shape.shape[0] + 1)), int(rng.integers(p - shape.shape[1] + 1))
            overlap = int(np.count_nonzero(real[sr:sr + shape.shape[0], sc:sc + shape.shape[1]] & shape))
            if best is None or overlap < best[0]:
                best = (overlap, sr, sc)
        _, sr, sc = best
        synthetic = np.zeros((p, p), dtype=bool)
        synthetic[sr:sr + shape.shape[0], sc:sc + shape.shape[1]] = shape
        x[k] = image[r:r + p, c:c + p].transpose(2, 0, 1)
        given[k, 0] = synthetic | real
        scored[k, 0] = synthetic & ~real
        corners[k] = r, c
    return x, given, scored, corners


def held_out(hole, given, scored, corners):
    """The HxW bool map of the pixels a batch of ``training_batch`` scores: each patch's ``scored`` pixels
    (synthetic ∧ ¬real) placed at its corner in the photo. ``given`` is unused but accepted so that a batch can be
    passed as ``held_out(hole, *batch[1:])``."""
    held = np.zeros(hole.shape, dtype=bool)
    p = scored.shape[-1]
    for k, (r, c) in enumerate(corners):
        held[r:r + p, c:c + p] |= scored[k, 0]
    return held


def _holdout_loss(model, x, given, scored):
    """The pooled hole MSE of ``model`` (eval mode, no graph) on a batch: Σ s·(f(x, g) − x)² / Σ s."""
    with no_grad():
        out = model(x, given).data
    mask = np.broadcast_to(scored, x.shape)
    return float(np.square(out - x)[mask].mean())


def _train(model, image, hole, shapes, boxes, p, steps, lr, batch_size, rng, bar, after_step=None):
    """``steps`` Adam steps of ``adapt``'s task on ``model`` (in place, left in training mode), the batches drawn
    from ``rng`` around ``hole``; ``after_step(step)`` is called after each, counting from 1."""
    dtype = model_dtype(model)
    opt = optim.Adam(model.parameters(), lr=lr)
    model.train()
    for step in range(1, steps + 1):
        x, given, scored, _ = training_batch(image, hole, shapes, boxes, p, rng, batch_size)
        if bar is not None:
            bar.update(1)
        if scored.any():
            x = x.astype(dtype)
            loss = F.mse_loss(model(x, given.astype(dtype)), x, mask=np.broadcast_to(scored, x.shape))
            opt.zero_grad()
            loss.backward()
            optim.clip_grad_norm(model.parameters(), 1.0)
            opt.step()
        if after_step is not None:
            after_step(step)


def adapt(model, image, hole, steps, lr=ADAPT_LR, batch_size=ADAPT_BATCH, seed=0, bar=None,
          holdout=HOLDOUT_PATCHES, history=None):
    """A copy of ``model`` fine-tuned on the known pixels of one photo; ``model`` itself is not changed.

    image: HxWx3 float array in [0, 1]; hole: HxW bool, True = missing. Starting from the trained weights θ₀,
    ``steps`` Adam steps (``lr``, PyTorch's rule, gradients clipped to norm 1 as in training) minimise the hole
    MSE of the self-supervised task

        L(θ) = Σ_n Σ_ij s_n,ij · (f_θ(x_n, g_n) − x_n)²_ij / Σ_n Σ_ij s_n,ij

    on fresh batches of ``training_batch`` (patches x_n near the real hole, input masks g_n = synthetic ∨ real
    hole, scored pixels s_n = synthetic ∧ ¬real), drawn from ``seed``: the same seed gives the same network. A
    batch without a scored pixel (a synthetic hole inside the real one) is skipped. ``steps`` = 0, or a photo
    too small for a patch (``patch_side`` 0), returns an unchanged copy. The copy is returned in eval mode.
    ``bar``: a tqdm bar advanced once per step.

    ``holdout`` = 0: the last weights are returned. ``holdout`` > 0 (default HOLDOUT_PATCHES): a self-check
    chooses them. A batch of ``holdout`` patches is drawn first (the first draw of the seed's generator), and
    the pixels it scores (``held_out``) are added to the hole the adaptation trains around, so that no step
    sees them, as the real hole is never seen. L on that batch is measured for θ₀, every CHECK_EVERY steps and
    after the last; the weights of the lowest (the earliest among equals) of those below (1 − CHECK_MARGIN)
    times θ₀'s are returned, θ₀ itself where none is: adapting only made the held-out holes worse.
    ``history``: a list, if given, receives the (step, held-out loss) pairs measured.
    """
    steps = check_steps(steps)
    holdout = check_steps(holdout, "adapt", "holdout")
    adapted = copy.deepcopy(model)
    shapes, boxes = hole_shapes(hole)
    p = patch_side(shapes, *hole.shape) if shapes else 0
    if steps == 0 or p == 0:
        adapted.eval()
        return adapted
    image = np.asarray(image, dtype=np.float32)
    rng = np.random.default_rng(seed)
    check, train_hole = None, hole
    if holdout:
        x, given, scored, corners = training_batch(image, hole, shapes, boxes, p, rng, holdout)
        if scored.any():
            dtype = model_dtype(adapted)
            check = (x.astype(dtype), given.astype(dtype), scored)
            train_hole = hole | held_out(hole, given, scored, corners)
    best, start = [], []

    def measure(step):
        if check is None or (step % CHECK_EVERY and step != steps):
            return
        adapted.eval()
        loss = _holdout_loss(adapted, *check)
        if history is not None:
            history.append((step, loss))
        if not start:
            start.append(loss)
        if not best or (loss < best[0] and loss < (1 - CHECK_MARGIN) * start[0]):
            best[:] = [loss, adapted.state_dict()]
        adapted.train()

    measure(0)
    _train(adapted, image, train_hole, shapes, boxes, p, steps, lr, batch_size, rng, bar, measure)
    if best:
        adapted.load_state_dict(best[1])
    adapted.eval()
    return adapted
