"""Exercise autograd_function: two operations of an autograd, each with its own derivative.

In deconvlab's autograd (``deconvlab.autograd``) every operation is a ``Function`` with two static methods:

    forward(ctx, *inputs)   computes the output array from the input arrays and stores in ``ctx``
                            (an object you may set attributes on) what backward will need;
    backward(ctx, g)        receives g = ∂L/∂output and returns ∂L/∂input for every input, in order
                            (one array per input, each of that input's shape and dtype).

The grader plugs your classes into deconvlab's autograd exactly that way and checks them with finite
differences (``deconvlab.gradcheck``). Work on NumPy arrays; keep the dtype of the inputs (float32 in,
float32 out); never change an array you are given (g included).

Sigmoid:          y = σ(x) = 1 / (1 + e^(−x)),            ∂L/∂x = g · y · (1 − y)

    Evaluate it so that no exponential overflows: for x < 0 use σ(x) = e^x / (1 + e^x).

ChannelAffine:    y[n, c, i, j] = γ[c] · x[n, c, i, j] + β[c]      (x: (N, C, H, W), γ and β: (C,))

    ∂L/∂x[n,c,i,j] = γ[c] · g[n,c,i,j],   ∂L/∂γ[c] = Σ_n Σ_i Σ_j g[n,c,i,j] · x[n,c,i,j],
    ∂L/∂β[c] = Σ_n Σ_i Σ_j g[n,c,i,j]

    (γ and β are broadcast over the batch and the pixels, so their gradients sum over those axes.)
"""
import numpy as np


class Sigmoid:
    """y = σ(x), elementwise, for an array x of any shape."""

    @staticmethod
    def forward(ctx, x):
        """σ(x) as an array of x's shape and dtype, finite for every finite x."""
        ### BEGIN SOLUTION
        x = np.asarray(x)
        e = np.exp(-np.abs(x))
        y = np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)
        ctx.y = y
        return y
        ### END SOLUTION

    @staticmethod
    def backward(ctx, g):
        """∂L/∂x = g · y · (1 − y), with y the output of forward."""
        ### BEGIN SOLUTION
        y = ctx.y
        return (g * y * (1 - y)).astype(y.dtype)
        ### END SOLUTION


class ChannelAffine:
    """y[n, c, i, j] = γ[c] · x[n, c, i, j] + β[c]."""

    @staticmethod
    def forward(ctx, x, gamma, beta):
        """γ·x + β per channel: an array of x's shape and dtype."""
        ### BEGIN SOLUTION
        x, gamma, beta = np.asarray(x), np.asarray(gamma), np.asarray(beta)
        ctx.x, ctx.gamma = x, gamma
        return x * gamma.reshape(1, -1, 1, 1) + beta.reshape(1, -1, 1, 1)
        ### END SOLUTION

    @staticmethod
    def backward(ctx, g):
        """(∂L/∂x, ∂L/∂γ, ∂L/∂β), of the shapes of x, γ and β."""
        ### BEGIN SOLUTION
        gx = g * ctx.gamma.reshape(1, -1, 1, 1)
        ggamma = (g * ctx.x).sum(axis=(0, 2, 3))
        gbeta = g.sum(axis=(0, 2, 3))
        return gx, ggamma, gbeta
        ### END SOLUTION
