"""The graded properties of every exercise, registered in ``CHECKS`` (exercise name -> list of ``Check``);
imports ``base`` and the modules that define the checks, one or two exercises each.

``base`` says how a check is written and run (input variants, reproductions); ``literal`` (conv2d_literal,
conv_transpose2d_scatter), ``layers`` (conv2d_backward, conv_transpose2d_backward, im2col), ``functions``
(autograd_function), ``optimisation`` (mse, sgd_momentum), ``receptive`` (receptive_field) and ``training``
(training_loop) hold the checks. Every comparison is against something that shares no code with the student's:
``deconvlab.reference`` (the article's formulas as loops), ``deconvlab.kernels``, the library's autograd,
gradcheck and optimizers, or central finite differences.
"""
from . import functions, layers, literal, optimisation, receptive, training  # noqa: F401  (they register checks)
from .base import ARRAY_VARIANTS, CHECKS, Case, Check, CheckFailed, Variant, check

__all__ = ["CHECKS", "Check", "CheckFailed", "Case", "Variant", "ARRAY_VARIANTS", "check"]
