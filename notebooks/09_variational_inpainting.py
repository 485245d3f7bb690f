# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 09 · Variational inpainting: several plausible fills instead of their average
#
# The article trains its network with the mean squared error and names, among its future directions, variational
# autoencoders. This notebook connects the two. A hole has many plausible fills; a network trained on the MSE
# learns their *average*, which is none of them — the blur the whole-photo evaluation measures on large holes. A
# conditional variational autoencoder (CVAE; Sohn et al. 2015, and Zheng et al. 2019 for inpainting) draws one
# fill per random latent vector instead.
#
# **Learning goals.** After this notebook you can
#
# 1. derive the article's MSE as a Gaussian negative log-likelihood, and the evidence lower bound (ELBO) from it;
# 2. check the reparameterisation trick and the closed-form Gaussian KL divergence numerically;
# 3. show posterior collapse (the decoder ignores its latent) and fix it with free bits;
# 4. draw K fills for one hole and measure the trade-off between their diversity and their quality.
#
# **Prerequisites.** Notebooks 03 (backpropagation) and 05 (training an inpainting network); a Gaussian density.
#
# **Expected time.** 45 minutes; the full run takes about a minute on two cores, `SMOKE=1` a few seconds.

# %%
import os
import time

import matplotlib.pyplot as plt
import numpy as np

import deconvlab.functional as F
from deconvlab import Tensor, models, no_grad, optim, train
from deconvlab.teaching import controls, expect, reveal

SMOKE = os.environ.get("SMOKE", "0") not in ("", "0")

# %% [markdown]
# ## 1. The MSE is a likelihood, and its minimiser is an average
#
# Suppose the truth is the network's output plus Gaussian noise, $x = y + \epsilon$, $\epsilon \sim
# \mathcal N(0, \sigma^2 I)$ over the $n$ hole values. Then
#
# $$ -\log p(x \mid y) = \frac{1}{2\sigma^2} \lVert x - y \rVert^2 + \frac{n}{2} \log (2\pi\sigma^2), $$
#
# so minimising the article's MSE is maximising this likelihood. Over many training pairs the best single $y$ for
# an input is the **mean** of the truths that go with it. If half the holes hide a white stripe and half a black
# one, behind the same visible pixels, the MSE's answer is grey: a fill that never occurs.
#
# **Predict.** Truths 0 and 1, equally likely, behind the same input. Which constant $y$ minimises the expected
# squared error $\tfrac12 (y - 0)^2 + \tfrac12 (y - 1)^2$?

# %%
my_prediction = None  # a number

# %%
ys = np.linspace(0, 1, 101)
expected_error = 0.5 * ys ** 2 + 0.5 * (ys - 1) ** 2
best_y = float(ys[np.argmin(expected_error)])
reveal(my_prediction, best_y, "The derivative y − 0 + y − 1 vanishes at y = ½: the mean of the truths. A network "
       "trained on the MSE paints that grey into the hole, a fill no photo has.")

# %% [markdown]
# ## 2. The evidence lower bound
#
# A CVAE gives the decoder a latent $z$ as well as the visible part $c$: $p(x \mid c) = \int p(x \mid z, c)\,
# p(z \mid c)\,dz$. Different $z$, different fills. The integral cannot be computed, but for any distribution
# $q(z \mid x, c)$ (the **posterior** network, which sees the whole photo during training) Jensen's inequality gives
#
# $$ \log p(x \mid c) \;\ge\; \mathbb E_{q}\big[\log p(x \mid z, c)\big] - \mathrm{KL}\big(q(z \mid x, c)
#    \,\big\|\, p(z \mid c)\big). $$
#
# With the Gaussian likelihood of section 1, the first term is $-\lVert x - y(z) \rVert^2 / 2\sigma^2$ up to a
# constant; multiplying by $2\sigma^2/n$ turns the negative bound into the loss deconvlab trains with:
#
# $$ L = \mathrm{MSE}_\text{hole}(x, y(z)) + \beta \cdot \mathrm{KL}\ \text{per value}, \qquad \beta = 2\sigma^2,
#    \quad z \sim q(z \mid x, c). $$
#
# Two pieces make it trainable: the KL of two Gaussians in closed form, and a gradient through the sampling of
# $z$ — the **reparameterisation trick** $z = \mu + \sigma \odot \varepsilon$, $\varepsilon \sim \mathcal N(0, I)$
# a constant, so $\partial z / \partial \mu = 1$ and $\partial z / \partial \log\sigma^2 = \tfrac12 \sigma
# \varepsilon$. Both are `deconvlab.functional` operations: `F.reparameterize` and `F.gaussian_kl`.
#
# **Predict.** For $z \sim \mathcal N(\mu, \sigma^2)$, $\mathbb E[z^2] = \mu^2 + \sigma^2$. What is its derivative
# with respect to $\mu$ at $\mu = 0.5$?

# %%
my_prediction = None  # a number

# %%
n_draws = 20_000 if SMOKE else 200_000
mu = Tensor(np.full(n_draws, 0.5), requires_grad=True)
logvar = Tensor(np.full(n_draws, np.log(0.3 ** 2)), requires_grad=True)
z = F.reparameterize(mu, logvar, rng=0)
F.mean(z * z).backward()
grad_mu = float(mu.grad.sum())          # the mean over draws of ∂(z²)/∂μ: a Monte Carlo estimate of ∂E[z²]/∂μ
grad_logvar = float(logvar.grad.sum())  # of ∂E[z²]/∂logvar = σ²
print(f"Monte Carlo through the sampling: ∂E[z²]/∂μ = {grad_mu:.4f} (exact {2 * 0.5:.4f}), "
      f"∂E[z²]/∂logvar = {grad_logvar:.4f} (exact {0.3 ** 2:.4f})")
expect("|Monte Carlo − exact| for ∂E[z²]/∂μ", abs(grad_mu - 1.0), "< 0.02", "the trick gives unbiased gradients")
expect("|Monte Carlo − exact| for ∂E[z²]/∂logvar", abs(grad_logvar - 0.09), "< 0.01")
reveal(my_prediction, 1.0, "d(μ² + σ²)/dμ = 2μ = 1. The estimate above got there by differentiating each drawn "
       "z = μ + σε with ε held fixed.")

# %% [markdown]
# The KL divergence against $\mathcal N(0, 1)$ has the closed form $\tfrac12(\mu^2 + \sigma^2 - \log\sigma^2 - 1)$
# per dimension. It is also $\mathbb E_q[\log q(z) - \log p(z)]$, which we can estimate by sampling:

# %%
m_q, lv_q = 0.8, np.log(0.5)
closed = float(F.gaussian_kl(np.array([m_q]), np.array([lv_q])).data)
draws = F.reparameterize(np.full(n_draws, m_q), np.full(n_draws, lv_q), rng=1).data
log_q = -0.5 * (np.log(2 * np.pi) + lv_q + (draws - m_q) ** 2 / np.exp(lv_q))
log_p = -0.5 * (np.log(2 * np.pi) + draws ** 2)
terms = log_q - log_p
estimate, error = float(terms.mean()), float(terms.std() / np.sqrt(n_draws))
print(f"KL closed form {closed:.4f}; Monte Carlo {estimate:.4f} ± {error:.4f}")
expect("|Monte Carlo − closed form| in standard errors", abs(estimate - closed) / error, "< 4")

# %% [markdown]
# ## 3. A toy with two answers, and posterior collapse
#
# 16×16 patches: the left half is a random texture, the right half — the hole — is stripes that are *either* bright
# on dark or dark on bright, a coin flip the left half says nothing about. The best deterministic fill is their
# average, flat grey; a good CVAE draws one or the other.
#
# We train `models.InpaintVAE` (HoleNet's encoder and decoder with a latent map of 8 channels at 1/8 scale, a
# prior network on the visible part and a posterior network on the whole patch) with the loss of section 2.
# Three settings:
#
# * **β = 0**: the KL is free, so the posterior can carry the answer, but nothing makes the *prior* agree with it:
#   samples drawn from the prior are arbitrary.
# * **β = 100**, no free bits: the KL is counted per hole value (`train.vae_kl_term`), so the few nats that carry
#   the coin flip cost as much as the grey fill's whole error. The posterior is pushed onto the prior and carries
#   nothing: **posterior collapse**. The decoder learns to ignore z, and every sample is the grey average.
# * **β = 100 with free bits** (Kingma et al. 2016): KL below λ = 3 nats per latent channel and position costs
#   nothing, room enough for one coin flip; the prior learns to spread over both answers. Free bits make using z
#   worth it, not certain: from about one start in three the decoder still learns to ignore z first, so this
#   setting is trained from three starts and the one whose best of 8 prior samples comes closest on a batch of
#   *training* patches is kept (`train_restarts`; the held-out patches are looked at only afterwards).
#
# **Predict.** With β = 100 and no free bits, will the fills drawn from the prior differ from each other?

# %%
my_prediction = None  # True or False

# %%
SIDE = 16


def toy_batch(n, rng):
    """Left half: noise. Right half (the hole): vertical stripes, bright-on-dark or dark-on-bright at random."""
    x = np.empty((n, 3, SIDE, SIDE), np.float32)
    x[:, :, :, :SIDE // 2] = rng.random((n, 1, SIDE, SIDE // 2)) * 0.6 + 0.2
    stripes = (np.arange(SIDE // 2) % 4 < 2).astype(np.float32)
    flip = rng.random(n) < 0.5
    right = np.where(flip[:, None], stripes, 1 - stripes) * 0.8 + 0.1
    x[:, :, :, SIDE // 2:] = right[:, None, None, :]
    m = np.zeros((n, 1, SIDE, SIDE), np.float32)
    m[:, :, :, SIDE // 2:] = 1
    return x, m


LATENT, LR = 1, 1e-3  # one latent channel (enough for a coin flip); Adam's learning rate


def train_toy(beta, free_bits, steps, seed=0):
    """A toy VAE trained for ``steps`` on batches drawn from ``seed``."""
    net = models.InpaintVAE(8, latent=LATENT, rng=seed, start="mean")
    opt = optim.Adam(net.parameters(), lr=LR)
    rng = np.random.default_rng(seed)
    for step in range(steps):
        x, m = toy_batch(32, rng)
        y, kl = net.elbo_terms(x, m, rng)
        loss = F.mse_loss(y, x, mask=np.broadcast_to(m, x.shape))
        if beta:
            loss = loss + beta * train.vae_kl_term(kl, m, free_bits)  # nats per hole value
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


def train_restarts(beta, free_bits, steps, seeds=(0, 1, 2)):
    """The best of a few starts by how close the best of 8 prior samples comes on a training batch (no held-out
    data is looked at): free bits make the latent worth using, but from some starts the decoder learns to ignore
    z, or the prior does not learn where the posterior puts it, so, as usual for VAEs, restarts. (The training
    reconstruction, which uses the posterior's z, does not tell those starts apart.)"""
    starts = [(train_toy(beta, free_bits, steps, seed), seed) for seed in seeds]
    return min(starts, key=lambda start: judge(start[0], batch=toy_batch(64, np.random.default_rng(start[1])))[
        "best_mse"])[0]  # scored on the first 64 patches its own training drew


def judge(net, k=8, temperature=1.0, seed=5, batch=None):
    """Fill 64 toy patches (``batch``, default 64 held-out ones) k times from the prior: the hole MSE of the
    mean-latent fill, of the best of k, and the mean pairwise L1 distance between the k fills inside the hole."""
    x, m = toy_batch(64, np.random.default_rng(99)) if batch is None else batch
    rng = np.random.default_rng(seed)
    hole = np.broadcast_to(m, x.shape) > 0
    with no_grad():
        mean_fill = net(x, m).data
        fills = np.stack([net(x, m, noise=rng.standard_normal((64, net.latent, 2, 2)), temperature=temperature).data
                          for _ in range(k)])
    errors = ((fills - x) ** 2 * hole).sum(axis=(2, 3, 4)) / hole[0].sum()  # (k, 64)
    pairs = [np.abs(fills[i] - fills[j])[:, hole[0]].mean() for i in range(k) for j in range(i + 1, k)]
    return dict(mean_mse=float((((mean_fill - x) ** 2)[hole]).mean()), best_mse=float(errors.min(axis=0).mean()),
                diversity=float(np.mean(pairs)), fills=fills, x=x, m=m)


steps = 60 if SMOKE else 600
start = time.perf_counter()
runs = {"β = 0": train_toy(0.0, 0.0, steps), "β = 100": train_toy(100.0, 0.0, steps),
        "β = 100, free bits 3": train_restarts(100.0, 3.0, steps)}
print(f"five VAEs (the free-bits one the best of three starts), {steps} steps each, in "
      f"{time.perf_counter() - start:.1f} s")
scores = {name: judge(net) for name, net in runs.items()}
print(f"{'setting':20s} {'mean-z MSE':>10s} {'best of 8':>10s} {'diversity':>10s}")
for name, s in scores.items():
    print(f"{name:20s} {s['mean_mse']:10.4f} {s['best_mse']:10.4f} {s['diversity']:10.4f}")
if SMOKE:
    print(f"SMOKE=1: {steps} steps are too few to judge; run without SMOKE for the comparison")
else:
    expect("β = 100: diversity of the samples", scores["β = 100"]["diversity"], "< 0.02",
           "collapsed: the decoder ignores z", fmt=".4f")
    expect("free bits: diversity of the samples", scores["β = 100, free bits 3"]["diversity"], "> 0.05",
           "the samples pick a side", fmt=".4f")
    expect("free bits: best of 8 / collapsed mean-z MSE",
           scores["β = 100, free bits 3"]["best_mse"] / scores["β = 100"]["mean_mse"], "< 0.9",
           "one of eight proposals is closer to the truth than the average", fmt=".2f")
reveal(my_prediction, bool(scores["β = 100"]["diversity"] > 0.02),
       "With β = 100 the KL term wins: the posterior is pulled onto the prior, z carries nothing, and the decoder "
       "returns the average whatever z is. Free bits leave room for the one bit the hole needs.")

# %%
def draw_samples(setting="β = 100, free bits 3", patch=0):
    s = scores[setting]
    fig, axes = plt.subplots(1, 6, figsize=(11, 2.2))
    axes[0].imshow(np.clip(s["x"][patch] * (1 - s["m"][patch]), 0, 1).transpose(1, 2, 0), interpolation="nearest")
    axes[0].set_title("visible", fontsize=9)
    for k in range(4):
        axes[k + 1].imshow(np.clip(s["fills"][k, patch], 0, 1).transpose(1, 2, 0), interpolation="nearest")
        axes[k + 1].set_title(f"sample {k + 1}", fontsize=9)
    axes[5].imshow(s["x"][patch].transpose(1, 2, 0), interpolation="nearest")
    axes[5].set_title("truth", fontsize=9)
    for ax in axes:
        ax.axis("off")
    fig.suptitle(setting, fontsize=10)
    plt.show()


controls(draw_samples, [dict(setting="β = 100", patch=0), dict(setting="β = 100, free bits 3", patch=0)],
         setting=list(scores), patch=(0, 63))

# %% [markdown]
# ## 4. Diversity against quality: the temperature
#
# Look at the free-bits model's mean-z column: the fill of the prior's most likely latent can be *worse* than the
# collapsed model's grey. The posterior put the two answers at two ends of the latent axis; the prior's centre lies
# between them, where the decoder was never trained. A sampling network is judged by its samples — one of them,
# their mean, the best of K — not by its centre, and that is what `deconvlab evaluate --samples K` reports.
#
# Sampling $z = \mu_p + T \sigma_p \varepsilon$ with a temperature $T$ moves along a trade-off: $T = 0$ is the
# prior's most likely latent (one fill, no diversity), larger $T$ spreads the samples. The best of K improves while
# the proposals spread; a single sample drifts away from the average, which is what the MSE punishes.

# %%
chosen = runs["β = 100, free bits 3"]
temperatures = [0.0, 0.5, 1.0, 1.5]
trade = {t: judge(chosen, temperature=t) for t in temperatures}
print(f"{'T':>4s} {'diversity':>10s} {'best of 8 MSE':>14s} {'one sample MSE':>15s}")
for t, s in trade.items():
    one = float(((s["fills"][0] - s["x"]) ** 2)[np.broadcast_to(s["m"], s["x"].shape) > 0].mean())
    print(f"{t:4.1f} {s['diversity']:10.4f} {s['best_mse']:14.4f} {one:15.4f}")
expect("diversity at T = 0", trade[0.0]["diversity"], "< 1e-6", "the same latent, the same fill")
if not SMOKE:
    expect("diversity grows with T: T = 1.5 over T = 0.5", trade[1.5]["diversity"] / max(trade[0.5]["diversity"], 1e-9),
           "> 1", fmt=".2f")

# %% [markdown]
# ## 5. On a photo: the bundled VAE
#
# deconvlab ships a VAE trained on the bundled photos (`load_pretrained("vae")`, docs/pretrained.md has its
# recipe and scores). Four fills of one hole in a held-out photo, beside the harmonic fill:

# %%
import deconvlab
from deconvlab import baselines, data, inpainting

vae = inpainting.load_pretrained("vae")
photo = data.load_photo("raccoon")
hole = np.zeros(photo.shape[:2], dtype=bool)
hole[100:164, 150:214] = True  # a 64-pixel square
fills = deconvlab.inpaint(photo, hole, model=vae, samples=4, seed=0)
smooth = baselines.harmonic_fill(photo, hole)
spread = float(np.mean([np.abs(fills[i] - fills[j])[hole].mean() for i in range(4) for j in range(i + 1, 4)]))
print(f"four fills of a {int(hole.sum())}-pixel hole; they differ by {spread:.3f} on average inside it")
expect("mean pairwise L1 between the photo's fills", spread, "> 0.005", "different fills, not one", fmt=".3f")
window = (slice(60, 204), slice(110, 254))
fig, axes = plt.subplots(1, 6, figsize=(13, 2.6))
for ax, (im, title) in zip(axes, [(np.where(hole[:, :, None], 1.0, photo), "the hole"), (smooth, "harmonic"),
                                  *[(f, f"sample {k + 1}") for k, f in enumerate(fills)]]):
    ax.imshow(np.clip(im[window], 0, 1))
    ax.set_title(title, fontsize=9)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## Summary
#
# * The MSE is the negative log-likelihood of Gaussian noise; its minimiser is the average of the plausible fills.
# * A CVAE maximises the ELBO: the reconstruction MSE through a sampled latent plus β times the KL between the
#   posterior (which sees the whole photo) and the prior (which sees only the visible part, so sampling needs no
#   truth). The reparameterisation trick and the closed-form KL make it an ordinary training loop.
# * Posterior collapse is real and easy to cause (β = 100 here); free bits (or a KL warm-up, `--kl-warmup`) fix it.
# * On photos: `deconvlab train --model vae`, `deconvlab inpaint --samples K` and `deconvlab evaluate --samples K`
#   (one sample, the mean and the best of K, and their diversity); docs/pretrained.md has the measured result.
