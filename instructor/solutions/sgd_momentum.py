"""Exercise sgd_momentum: one step of stochastic gradient descent with momentum.

The article trains its network with SGD. With momentum μ, learning rate lr and weight decay λ, one step
for a parameter θ with gradient g is (PyTorch's rule, the one ``deconvlab.optim.SGD`` uses):

    g ← g + λ·θ
    v ← g              at the first step (no velocity yet)
    v ← μ·v + g        at every later step
    θ ← θ − lr·v

The velocity v is a running sum of past gradients: along a direction where the gradients keep the same
sign it grows to about g/(1 − μ), so the steps get longer; where they alternate it stays small.
"""
import numpy as np


def sgd_momentum_step(theta, grad, velocity, lr, momentum=0.9, weight_decay=0.0):
    """One SGD step with momentum. ``velocity`` is None at the first step.

    theta, grad (and velocity, when given) are arrays of one shape, left unchanged.
    Returns (new_theta, new_velocity) as new float64 arrays.
    """
    ### BEGIN SOLUTION
    theta = np.asarray(theta, dtype=np.float64)
    g = np.asarray(grad, dtype=np.float64) + weight_decay * theta
    if velocity is None:
        new_velocity = g.copy()
    else:
        new_velocity = momentum * np.asarray(velocity, dtype=np.float64) + g
    return theta - lr * new_velocity, new_velocity
    ### END SOLUTION
