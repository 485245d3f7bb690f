"""Reference solutions of the exercises, one module per exercise; imports NumPy only.

Each module is what a student receives (``deconvlab exercises make``) with the body between its solution
markers filled in. The solutions are written independently of the library and graded against it.
"""

# The exercises in teaching order; each is the module of the same name here, graded by ``checks``.
EXERCISES = ("conv2d_literal", "conv_transpose2d_scatter", "conv2d_backward", "mse", "sgd_momentum")
