"""Exercise mse: the article's loss and its gradient, optionally restricted to the hole.

The article trains with the mean squared error over an M×N output,

    L = 1/(MN) Σ_{i=0}^{M−1} Σ_{j=0}^{N−1} (y_true(i,j) − y_pred(i,j))²

For inpainting it helps to score only the missing pixels. With a mask m (same shape, 1/True = missing
pixel, at least one of them; bool, or numbers 0 and 1 as deconvlab's masks are) the mean runs over the hole:

    L = Σ m(i,j)·(y_true(i,j) − y_pred(i,j))² / Σ m(i,j)

Both formulas work for arrays of any shape (the sums run over every element; MN is the element count).
Differentiate L with respect to each y_pred(i,j) to get ``mse_grad``: an array of y_pred's shape.
"""
import numpy as np


def mse(y_true, y_pred, mask=None):
    """The mean squared error L above (over the mask's pixels when a mask is given), as a Python float."""
    ### BEGIN SOLUTION
    diff = np.asarray(y_true, dtype=np.float64) - np.asarray(y_pred, dtype=np.float64)
    weights = np.ones_like(diff) if mask is None else np.asarray(mask, dtype=np.float64)
    return float(np.sum(weights * diff * diff) / np.sum(weights))
    ### END SOLUTION


def mse_grad(y_true, y_pred, mask=None):
    """∂L/∂y_pred(i,j) for every element, as an array of y_pred's shape (with or without a mask)."""
    ### BEGIN SOLUTION
    diff = np.asarray(y_pred, dtype=np.float64) - np.asarray(y_true, dtype=np.float64)
    weights = np.ones_like(diff) if mask is None else np.asarray(mask, dtype=np.float64)
    return 2.0 * weights * diff / np.sum(weights)
    ### END SOLUTION
