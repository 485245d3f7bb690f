"""Checks of the exercise training_loop: the student's loop trains a small network in the child, the grader
judges the weights it comes back with; imports NumPy, Hypothesis, ``nn``, ``optim``, ``functional``, ``data``,
``masks``, ``child`` and ``base``.

``training_task(seed, n, lr)`` builds the exercise's problem (the same network, optimizer, patches and masks
the grader uses), so that a reproduction line can rebuild it in Python.
"""
import numpy as np
from hypothesis import strategies as st

from ... import data, masks, nn, optim, parallel
from ... import functional as F
from ...autograd import no_grad
from ..child import Build
from .base import Variant, check

# A small encoder-decoder: a strided conv down, a dilated conv, a transposed conv back up; input = the image
# with its hole zeroed plus the mask, output = an image. Rows are (layer class in deconvlab.nn, args, kwargs).
NETWORK = (
    ("Conv2d", (4, 16, 3), {"padding": 1}), ("LeakyReLU", (0.2,), {}),
    ("Conv2d", (16, 16, 4), {"stride": 2, "padding": 1}), ("LeakyReLU", (0.2,), {}),
    ("Conv2d", (16, 16, 3), {"padding": 2, "dilation": 2}), ("LeakyReLU", (0.2,), {}),
    ("ConvTranspose2d", (16, 16, 4), {"stride": 2, "padding": 1}), ("LeakyReLU", (0.2,), {}),
    ("Conv2d", (16, 3, 3), {"padding": 1}),
)
PATCH = 16
BUDGET = {"steps": 120, "batch_size": 16, "lr": 1e-2, "n": 128}
THRESHOLD = 0.04  # held-out hole MSE the budget must reach (the reference loop: about 0.02; untrained: about 0.25)
DATA = Variant("float32", "float32 images and masks, read-only", rtol=1e-4, dtype=np.float32, readonly=True)


def build_network(seed):
    """The exercise's network, its parameters drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    layers = [getattr(nn, name)(*args, **kwargs, **({"rng": rng} if "Conv" in name else {}))
              for name, args, kwargs in NETWORK]
    return nn.Sequential(*layers)


def patches(split, n, seed):
    """``n`` random 16×16 patches of the bundled photos of ``split`` and a random-rectangles mask for each
    (float32, 1 = missing)."""
    sampler = data.PatchSampler(list(data.bundled_photos(split).values()), patch_size=PATCH, batch_size=n, seed=seed)
    images = sampler.sample()
    holes = masks.mask_batch(n, PATCH, PATCH, kind=("rectangles",), seed=seed).astype(np.float32)
    return images, holes


def training_task(seed=0, n=BUDGET["n"], lr=BUDGET["lr"]):
    """(model, optimizer, images, masks) of the exercise: the network from ``seed``, Adam(lr), ``n`` patches."""
    model = build_network(seed)
    images, holes = patches("train", n, seed)
    return model, optim.Adam(model.parameters(), lr=lr), images, holes


def hole_loss(model, images, holes):
    """The held-out score: L = Σ m·(y − x)² / Σ m' with y = model([(1 − m)·x, m]), no gradient."""
    with no_grad():
        y = model(np.concatenate([(1 - holes) * images, holes], axis=1))
        return F.mse_loss(y, images, mask=np.broadcast_to(holes, images.shape)).item()


def _train(case, seed, n, lr, steps, batch_size):
    """Run the student's loop in the child on the task; returns (losses, the trained model, the task)."""
    model, _, images, holes = task = training_task(seed, n, lr)
    spec = {"layers": [[name, list(args), kwargs] for name, args, kwargs in NETWORK], "state": model.state_dict()}
    remote_model = Build("model", spec, shown="model")
    remote_optimizer = Build("adam", {"model": 0, "lr": lr}, shown="optimizer")
    x, m = case.given("images", images, "images"), case.given("masks", holes, "masks")
    case.reproduction = (f"from deconvlab.exercises.checks.training import training_task; model, optimizer, images, "
                         f"masks = training_task(seed={seed}, n={n}, lr={lr}); print(train_inpainting(model, "
                         f"optimizer, images, masks, {steps}, {batch_size}))")
    case.own_setup = True
    what = f"train_inpainting(model, optimizer, images, masks, {steps}, {batch_size})"
    losses = case.call("train_inpainting", remote_model, remote_optimizer, x, m, steps, batch_size)
    if not isinstance(losses, list) or len(losses) != steps:
        shown = getattr(losses, "type_name", type(losses).__name__)
        case.fail(f"{what} returned {shown if not isinstance(losses, list) else f'a list of {len(losses)}'}; expected "
                  f"a list of {steps} losses")
    for value in losses:
        if isinstance(value, bool) or not isinstance(value, (float, np.floating)):
            case.fail(f"{what} returned a list holding {getattr(value, 'type_name', type(value).__name__)}; expected "
                      "Python floats (loss.item())")
    trained = build_network(seed)
    trained.load_state_dict(case.last_reply["states"][0])
    return what, np.array(losses), trained, task


def specified_loop(model, optimizer, images, holes, steps, batch_size):
    """The grader's run of the loop the exercise specifies, built from deconvlab's loss and optimizer, on one
    thread like the child's, so that both add their sums in the same order and agree to the last bit."""
    previous = parallel.thread_budget()
    parallel.set_num_threads(1)
    try:
        n, losses = images.shape[0], []
        for t in range(steps):
            k = (t * batch_size + np.arange(batch_size)) % n
            x, m = images[k], holes[k]
            loss = F.mse_loss(model(np.concatenate([(1 - m) * x, m], axis=1)), x, mask=np.broadcast_to(m, x.shape))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    finally:
        parallel.set_num_threads(previous)
    return np.array(losses)


@check("training_loop", variants=(DATA,), examples=5, net=st.integers(0, 50), n=st.integers(4, 8),
       steps=st.integers(2, 4), batch_size=st.integers(1, 3), lr=st.sampled_from([1e-3, 1e-2]))
def follows_the_specified_loop(case, net, n, steps, batch_size, lr):
    """A few steps (at least two, with batches smaller than the data, so that the batches move on) give the losses
    and the weights of the specified loop (batches in order, the hole removed from the input, the hole MSE,
    gradients cleared, one Adam step each), to float32 rounding."""
    what, losses, trained, (model, optimizer, images, holes) = _train(case, net, n, lr, steps, batch_size)
    expected = specified_loop(model, optimizer, images, holes, steps, batch_size)
    case.close(losses, expected, f"{what}: the losses, step by step, against the specified loop", rtol=1e-6)
    for (name, ours), theirs in zip(model.state_dict().items(), trained.state_dict().values()):
        case.close(theirs, ours, f"{what}: the trained {name}, against the specified loop", rtol=1e-5)


@check("training_loop", variants=(DATA,))
def learns_within_the_step_budget(case):
    """120 steps of batch 16 (Adam, lr 0.01) bring the hole MSE on held-out patches of other photos below 0.04
    (the untrained network's is about 0.25)."""
    budget = BUDGET
    what, losses, trained, _ = _train(case, 0, budget["n"], budget["lr"], budget["steps"], budget["batch_size"])
    score = hole_loss(trained, *patches("test", 128, 1))
    if not np.all(np.isfinite(losses)) or not score < THRESHOLD:
        case.fail(f"{what}: after training, the hole MSE on held-out patches is {score:.4g}; expected below "
                  f"{THRESHOLD} (training losses went from {losses[0]:.4g} to {losses[-1]:.4g})")
