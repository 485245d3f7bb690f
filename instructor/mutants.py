"""Plausible wrong solutions of the exercises (mutants) and cheats, each of which the grader must catch.

A mutant is an instructor solution with a few lines changed the way a student gets them wrong, or a whole file
that tries to pass without solving the exercise. ``tests/exercises/test_mutants.py`` grades every one and
requires at least one failed check (every check, for the cheats); the reference solutions pass everything.
Kept here, outside the installed package, because the changed lines show the right ones.

    python instructor/mutants.py            # grade them all; prints which checks catch which mutant

Categories: formula (a wrong sum or derivative), indexing (offsets, strides, padding, shapes), dtype (integer
or float32 inputs mishandled), in-place (an argument changed), aliasing (a result sharing an argument's
memory), mask (bool masks only), training (the loop's steps in the wrong order or on the wrong data), cheat.
"""
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SOLUTIONS = os.path.join(HERE, "solutions")


class Mutant:
    """``exercise``, ``name``, ``category``, ``why`` (the misconception) and either ``edits`` (pairs (old, new)
    applied to the solution, each ``old`` occurring exactly once) or a whole ``source``."""

    def __init__(self, exercise, name, category, why, edits=(), source=None, timeout=None):
        self.exercise, self.name, self.category, self.why = exercise, name, category, why
        self.edits, self.source, self.timeout = tuple(edits), source, timeout

    def text(self):
        """The mutant's file."""
        if self.source is not None:
            return self.source
        with open(os.path.join(SOLUTIONS, f"{self.exercise}.py"), encoding="utf-8") as handle:
            text = handle.read()
        for old, new in self.edits:
            if text.count(old) != 1:
                raise ValueError(f"mutant {self.name}: {old!r} occurs {text.count(old)} times in {self.exercise}.py")
            text = text.replace(old, new)
        return text

    def __repr__(self):
        return f"<Mutant {self.exercise}.{self.name}>"


ESCAPE = "imp = np.__builtins__['__import__'] if isinstance(np.__builtins__, dict) else np.__builtins__.__import__\n"

MUTANTS = [
    # conv2d_literal
    Mutant("conv2d_literal", "no_flip", "formula", "computes a cross-correlation: the kernel is not flipped",
           [("h[i - p, j - q]", "h[K - 1 - (i - p), L - 1 - (j - q)]")]),
    Mutant("conv2d_literal", "last_term_missed", "indexing", "a loop bound one short: the last overlapping term is missed",
           [("min(P, i + 1)", "min(P, i)")]),
    Mutant("conv2d_literal", "integer_accumulator", "dtype", "the output is made like the input: integers truncate",
           [("    x = np.asarray(x, dtype=np.float64)\n", "    x = np.asarray(x)\n"),
            ("    y = np.zeros((P + K - 1, Q + L - 1))", "    y = np.zeros((P + K - 1, Q + L - 1), dtype=x.dtype)")]),
    Mutant("conv2d_literal", "flips_the_callers_kernel", "in-place", "flips h in place to reuse a correlation loop",
           [("    h = np.asarray(h, dtype=np.float64)\n", "    h = np.asarray(h, dtype=np.float64)\n    h[...] = h[::-1, ::-1].copy()\n"),
            ("h[i - p, j - q]", "h[K - 1 - (i - p), L - 1 - (j - q)]")]),
    # conv_transpose2d_scatter
    Mutant("conv_transpose2d_scatter", "stride_ignored", "indexing", "stamps at (p, q) instead of (s·p, s·q)",
           [("y[s * p : s * p + K, s * q : s * q + L]", "y[p : p + K, q : q + L]")]),
    Mutant("conv_transpose2d_scatter", "output_too_small", "indexing", "output of size P·s instead of (P − 1)·s + K",
           [("y = np.zeros(((P - 1) * s + K, (Q - 1) * s + L))", "y = np.zeros((P * s, Q * s))")]),
    Mutant("conv_transpose2d_scatter", "flipped_stamp", "formula", "stamps the kernel turned by 180°",
           [("+= x[p, q] * k\n", "+= x[p, q] * k[::-1, ::-1]\n")]),
    Mutant("conv_transpose2d_scatter", "integer_output", "dtype", "the output takes the input's dtype",
           [("    x = np.asarray(x, dtype=np.float64)\n", "    x = np.asarray(x)\n"),
            ("    y = np.zeros(((P - 1) * s + K, (Q - 1) * s + L))",
             "    y = np.zeros(((P - 1) * s + K, (Q - 1) * s + L), dtype=x.dtype)")]),
    # im2col
    Mutant("im2col", "rows_tap_major", "indexing", "rows ordered (tap, channel) instead of (channel, tap)",
           [("    return cols.reshape(channels * kh * kw, n_batch * h_out * w_out)",
             "    return cols.transpose(1, 2, 0, 3, 4, 5).reshape(channels * kh * kw, n_batch * h_out * w_out)")]),
    Mutant("im2col", "col2im_assigns", "formula", "col2im writes each window instead of adding: overlaps are lost",
           [("+= blocks[:, u, v]", "= blocks[:, u, v]")]),
    Mutant("im2col", "col2im_padding_not_cropped", "indexing", "col2im crops the top-left corner, not the padding",
           [("    return xp[:, :, pad : pad + height, pad : pad + width].copy()", "    return xp[:, :, :height, :width].copy()")]),
    Mutant("im2col", "stride_ignored", "indexing", "im2col's windows move one pixel at a time whatever the stride",
           [("window = xp[:, :, u : u + s * (h_out - 1) + 1 : s, v : v + s * (w_out - 1) + 1 : s]",
             "window = xp[:, :, u : u + h_out, v : v + w_out]")]),
    Mutant("im2col", "returns_a_view_of_x", "aliasing", "a shortcut for 1×1 kernels returns a view of the input",
           [("    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))\n    cols = np.empty",
             "    if kh == kw == 1 and s == 1 and pad == 0:\n        return x.transpose(1, 0, 2, 3).reshape(channels, -1)\n"
             "    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))\n    cols = np.empty")]),
    # conv2d_backward
    Mutant("conv2d_backward", "padding_not_cropped", "indexing", "gx cut from the padded gradient's corner",
           [("gx = gxp[:, :, pad : pad + height, pad : pad + width]", "gx = gxp[:, :, :height, :width]")]),
    Mutant("conv2d_backward", "weight_gradient_transposed", "indexing", "gw computed as (C_in, C_out)",
           [('"noij,ncij->oc"', '"noij,ncij->co"')]),
    Mutant("conv2d_backward", "bias_gradient_mean", "formula", "the bias gradient averages instead of summing",
           [("gb = gy.sum(axis=(0, 2, 3))", "gb = gy.mean(axis=(0, 2, 3))")]),
    Mutant("conv2d_backward", "bias_gradient_first_sample", "formula", "the bias gradient forgets the batch",
           [("gb = gy.sum(axis=(0, 2, 3))", "gb = gy[0].sum(axis=(1, 2))")]),
    Mutant("conv2d_backward", "input_gradient_flipped_kernel", "formula", "gx scatters the flipped kernel",
           [('np.einsum("noij,oc->ncij", gy, w[:, :, u, v])', 'np.einsum("noij,oc->ncij", gy, w[:, :, kh - 1 - u, kw - 1 - v])')]),
    Mutant("conv2d_backward", "input_gradient_overwrites", "formula", "gx assigns each tap's share: overlaps are lost",
           [("gxp[:, :, rows, cols] += ", "gxp[:, :, rows, cols] = ")]),
    # conv_transpose2d_backward
    Mutant("conv_transpose2d_backward", "padding_not_offset", "indexing", "puts gy at the uncropped output's corner",
           [("full[:, :, pad : pad + h_out, pad : pad + w_out] = gy", "full[:, :, :h_out, :w_out] = gy")]),
    Mutant("conv_transpose2d_backward", "weight_gradient_transposed", "indexing", "gw computed as (C_out, C_in)",
           [('gw[:, :, u, v] = np.einsum("ncij,noij->co", x, window)', 'gw[:, :, u, v] = np.einsum("ncij,noij->oc", x, window)')]),
    Mutant("conv_transpose2d_backward", "stride_ignored", "indexing", "gathers gy without the stride",
           [("window = full[:, :, u : u + s * (height - 1) + 1 : s, v : v + s * (width - 1) + 1 : s]\n            gx",
             "window = full[:, :, u : u + height, v : v + width]\n            gx")]),
    Mutant("conv_transpose2d_backward", "conv_weight_layout", "indexing", "reads w as (C_out, C_in, K, L), the conv layout",
           [('gx += np.einsum("noij,co->ncij", window, w[:, :, u, v])',
             'gx += np.einsum("noij,oc->ncij", window, w[:, :, u, v].reshape(w.shape[1], w.shape[0]))')]),
    # autograd_function
    Mutant("autograd_function", "derivative_of_the_input", "formula", "saves x and uses x·(1 − x) as the derivative",
           [("        ctx.y = y\n", "        ctx.y = x\n"), ("        return (g * y * (1 - y)).astype(y.dtype)",
                                                                 "        return (g * y * (1 - y)).astype(g.dtype)")]),
    Mutant("autograd_function", "sigmoid_float64_output", "dtype", "computes in float64 and returns float64 for float32",
           [("        e = np.exp(-np.abs(x))\n        y = np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)",
             "        e = np.exp(-np.abs(x.astype(np.float64)))\n        y = np.where(x >= 0, 1 / (1 + e), e / (1 + e))")]),
    Mutant("autograd_function", "overflowing_sigmoid", "formula", "e^x / (1 + e^x) everywhere: inf/inf for large x",
           [("        y = np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)",
             "        with np.errstate(over='ignore', invalid='ignore'):\n"
             "            y = (np.exp(x) / (1 + np.exp(x))).astype(x.dtype)")]),
    Mutant("autograd_function", "backward_changes_g", "in-place", "multiplies the incoming gradient in place",
           [("        return (g * y * (1 - y)).astype(y.dtype)", "        g *= y * (1 - y)\n        return g")]),
    Mutant("autograd_function", "gamma_gradient_first_sample", "formula", "∂L/∂γ forgets to sum over the batch",
           [("ggamma = (g * ctx.x).sum(axis=(0, 2, 3))", "ggamma = (g * ctx.x)[0].sum(axis=(1, 2))")]),
    Mutant("autograd_function", "gradients_out_of_order", "formula", "returns (∂x, ∂β, ∂γ)",
           [("        return gx, ggamma, gbeta", "        return gx, gbeta, ggamma")]),
    Mutant("autograd_function", "x_gradient_without_gamma", "formula", "∂L/∂x forgets the factor γ",
           [("        gx = g * ctx.gamma.reshape(1, -1, 1, 1)", "        gx = g.copy()")]),
    # mse
    Mutant("mse", "boolean_masks_only", "mask", "indexes with the mask, which works only for bool masks",
           [("    weights = np.ones_like(diff) if mask is None else np.asarray(mask, dtype=np.float64)\n"
             "    return float(np.sum(weights * diff * diff) / np.sum(weights))",
             "    return float(np.mean(diff * diff) if mask is None else np.mean(diff[mask] ** 2))")]),
    Mutant("mse", "gradient_without_two", "formula", "forgets the factor 2 of d(e²)/de",
           [("return 2.0 * weights * diff / np.sum(weights)", "return weights * diff / np.sum(weights)")]),
    Mutant("mse", "gradient_over_all_elements", "formula", "divides by the element count, not the hole size",
           [("return 2.0 * weights * diff / np.sum(weights)", "return 2.0 * weights * diff / diff.size")]),
    Mutant("mse", "subtracts_in_place", "in-place", "subtracts y_true from the caller's y_pred in place",
           [("    diff = np.asarray(y_true, dtype=np.float64) - np.asarray(y_pred, dtype=np.float64)\n",
             "    y_pred = np.asarray(y_pred, dtype=np.float64)\n    y_pred -= np.asarray(y_true, dtype=np.float64)\n"
             "    diff = -y_pred\n")]),
    Mutant("mse", "gradient_sign", "formula", "differentiates with respect to y_true",
           [("    diff = np.asarray(y_pred, dtype=np.float64) - np.asarray(y_true, dtype=np.float64)",
             "    diff = np.asarray(y_true, dtype=np.float64) - np.asarray(y_pred, dtype=np.float64)")]),
    # sgd_momentum
    Mutant("sgd_momentum", "integer_theta", "dtype", "the new θ is made like θ: an integer θ truncates",
           [("    theta = np.asarray(theta, dtype=np.float64)\n", "    theta = np.asarray(theta)\n"),
            ("    return theta - lr * new_velocity, new_velocity",
             "    new_theta = np.empty_like(theta)\n    new_theta[...] = theta - lr * new_velocity\n"
             "    return new_theta, new_velocity")]),
    Mutant("sgd_momentum", "velocity_is_the_callers_grad", "aliasing", "returns the caller's grad as the first velocity",
           [("    g = np.asarray(grad, dtype=np.float64) + weight_decay * theta\n",
             "    g = np.asarray(grad, dtype=np.float64)\n    if weight_decay:\n        g = g + weight_decay * theta\n"),
            ("        new_velocity = g.copy()", "        new_velocity = g")]),
    Mutant("sgd_momentum", "decay_after_momentum", "formula", "adds the weight decay after the momentum",
           [("    g = np.asarray(grad, dtype=np.float64) + weight_decay * theta\n", "    g = np.asarray(grad, dtype=np.float64)\n"),
            ("    return theta - lr * new_velocity, new_velocity",
             "    return theta - lr * (new_velocity + weight_decay * theta), new_velocity")]),
    Mutant("sgd_momentum", "updates_theta_in_place", "in-place", "updates the caller's θ in place and returns it",
           [("    return theta - lr * new_velocity, new_velocity", "    theta -= lr * new_velocity\n    return theta, new_velocity")]),
    Mutant("sgd_momentum", "dampened_momentum", "formula", "v ← μ·v + (1 − μ)·g, another optimizer's rule",
           [("new_velocity = momentum * np.asarray(velocity, dtype=np.float64) + g",
             "new_velocity = momentum * np.asarray(velocity, dtype=np.float64) + (1 - momentum) * g")]),
    # receptive_field
    Mutant("receptive_field", "adds_k", "formula", "adds k instead of k − 1 per layer",
           [("size += (int(kernel) - 1) * int(dilation) * jump", "size += int(kernel) * int(dilation) * jump")]),
    Mutant("receptive_field", "dilation_ignored", "formula", "forgets the dilation",
           [("size += (int(kernel) - 1) * int(dilation) * jump", "size += (int(kernel) - 1) * jump")]),
    Mutant("receptive_field", "jump_updated_first", "formula", "multiplies the jump by this layer's stride first",
           [("        size += (int(kernel) - 1) * int(dilation) * jump\n        start -= int(padding) * jump\n"
             "        jump *= int(stride)\n",
             "        jump *= int(stride)\n        size += (int(kernel) - 1) * int(dilation) * jump\n"
             "        start -= int(padding) * jump\n")]),
    Mutant("receptive_field", "padding_sign", "formula", "padding moves the start right",
           [("start -= int(padding) * jump", "start += int(padding) * jump")]),
    Mutant("receptive_field", "true_division", "dtype", "divides where it should multiply, giving floats",
           [("        jump *= int(stride)", "        jump = jump * int(stride) / 1")]),
    # training_loop
    Mutant("training_loop", "no_zero_grad", "training", "never clears the gradients: they add up over the steps",
           [("        optimizer.zero_grad()\n", "")]),
    Mutant("training_loop", "hole_not_removed", "training", "feeds the network the whole image, the answer included",
           [("inp = np.concatenate([(1 - m) * x, m], axis=1)", "inp = np.concatenate([x, m], axis=1)")]),
    Mutant("training_loop", "loss_over_the_whole_image", "training", "scores every pixel, not the hole",
           [("loss = F.mse_loss(y, x, mask=np.broadcast_to(m, x.shape))", "loss = F.mse_loss(y, x)")]),
    Mutant("training_loop", "always_the_first_batch", "training", "trains on the first batch at every step",
           [("k = (t * batch_size + np.arange(batch_size)) % n", "k = np.arange(batch_size) % n")]),
    Mutant("training_loop", "zero_grad_after_backward", "training", "clears the gradients between backward and step",
           [("        optimizer.zero_grad()\n        loss.backward()\n", "        loss.backward()\n        optimizer.zero_grad()\n")]),
    # cheats
    Mutant("conv2d_literal", "imports_the_library", "cheat", "calls deconvlab.reference",
           source="from deconvlab import reference\n\n\ndef conv2d_literal(x, h):\n    return reference.seed_conv2d(x, h)\n"),
    Mutant("conv2d_literal", "imports_scipy", "cheat", "calls scipy.signal.convolve2d",
           source="from scipy.signal import convolve2d\n\n\ndef conv2d_literal(x, h):\n    return convolve2d(x, h)\n"),
    Mutant("conv_transpose2d_scatter", "imports_the_library_by_the_back_door", "cheat",
           "reaches the real __import__ through numpy's builtins to import deconvlab",
           source="import numpy as np\n\n\ndef conv_transpose2d_scatter(x, k, stride=1):\n    " + ESCAPE.replace("\n", "\n    ")
           + "ref = imp('deconvlab.reference', fromlist=['seed_deconv2d'])\n    return ref.seed_deconv2d(x, k, stride)\n"),
    Mutant("im2col", "imports_the_packaged_solution", "cheat", "imports a solution from the installed package",
           source="from deconvlab.exercises.solutions.im2col import im2col, col2im  # noqa: F401\n"),
    Mutant("mse", "exits_during_a_call", "cheat", "calls os._exit(0) so that the grader prints nothing",
           source="import numpy as np\n\n\ndef mse(y_true, y_pred, mask=None):\n    " + ESCAPE.replace("\n", "\n    ")
           + "imp('os')._exit(0)\n\n\ndef mse_grad(y_true, y_pred, mask=None):\n    " + ESCAPE.replace("\n", "\n    ")
           + "imp('os')._exit(0)\n"),
    Mutant("mse", "exits_on_import", "cheat", "raises SystemExit(0) when imported",
           source="raise SystemExit(0)\n"),
    Mutant("sgd_momentum", "ignores_signals_and_loops", "cheat",
           "ignores SIGALRM and SIGTERM, swallows every exception and never returns", timeout=2,
           source="import numpy as np\n" + ESCAPE + "signal = imp('signal')\nfor s in (signal.SIGALRM, signal.SIGTERM, "
           "signal.SIGINT):\n    signal.signal(s, signal.SIG_IGN)\n\n\ndef sgd_momentum_step(theta, grad, velocity, lr, "
           "momentum=0.9, weight_decay=0.0):\n    while True:\n        try:\n            while True:\n                pass\n"
           "        except BaseException:\n            pass\n"),
    Mutant("receptive_field", "patches_the_grader", "cheat", "patches the grader's comparison to accept anything",
           source="import deconvlab.exercises.checks.base as base\n\nbase.Case.fail = lambda *a, **k: None\n\n\n"
           "def receptive_field(layers):\n    return 0, 0, 0\n"),
    Mutant("receptive_field", "patches_numpy", "cheat", "patches NumPy's comparisons in its own process",
           source="import numpy as np\n\nnp.array_equal = np.allclose = lambda *a, **k: True\n\n\n"
           "def receptive_field(layers):\n    return 0, 0, 0\n"),
    Mutant("conv2d_backward", "reads_the_solution_file", "cheat", "opens the instructor's solution and runs it",
           source="exec(open('../instructor/solutions/conv2d_backward.py').read())\n"),
    Mutant("conv2d_backward", "exhausts_memory", "cheat", "allocates far more memory than the limit",
           source="import numpy as np\n\nBIG = np.ones(10**11)\n\n\ndef conv2d_backward(gy, x, w, stride=1, padding=0):\n"
           "    return None\n"),
    Mutant("training_loop", "uses_the_library_training_loop", "cheat", "imports deconvlab.train instead of writing a loop",
           source="from deconvlab import train\n\n\ndef train_inpainting(model, optimizer, images, masks, steps, batch_size):\n"
           "    return [train.masked_loss(model(images), images, masks).item()] * steps\n"),
]


def grade_mutant(mutant, folder):
    """Write the mutant into ``folder`` and grade its exercise there; returns the ExerciseResult."""
    sys.path.insert(0, os.path.dirname(HERE))
    from deconvlab.exercises.grading import DEFAULT_TIMEOUT, grade_exercise

    with open(os.path.join(folder, f"{mutant.exercise}.py"), "w", encoding="utf-8") as handle:
        handle.write(mutant.text())
    return grade_exercise(mutant.exercise, folder, timeout=mutant.timeout or DEFAULT_TIMEOUT)


def main():
    caught = 0
    print(f"{'mutant':58s} {'category':9s} score  checks that fail it")
    for mutant in MUTANTS:
        with tempfile.TemporaryDirectory() as folder:
            result = grade_mutant(mutant, folder)
        passed, total = result.score
        failed = [c.name for c in result.checks if not c.passed]
        caught += bool(failed)
        print(f"{mutant.exercise + '.' + mutant.name:58s} {mutant.category:9s} {passed:2d}/{total:<2d}  {', '.join(failed)}")
    print(f"\n{caught} of {len(MUTANTS)} mutants fail at least one check")


if __name__ == "__main__":
    main()
