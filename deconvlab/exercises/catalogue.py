"""The exercises, in teaching order, with what each asks for and what its file may import; imports nothing.

Each exercise is one file a student writes (its student version is ``templates/NAME.py.txt``, generated from the
instructor's solution), graded by the checks registered under its name in ``checks``. ``names`` are the
functions or classes the grader calls; ``allowed`` the modules the file may import (the standard modules of
``child.STANDARD_MODULES`` come on top); ``numpy_only`` says whether the file is graded in a process that sees
NumPy alone (True) or deconvlab too (False: the file may use the deconvlab modules it lists).
"""


class Exercise:
    """One exercise: ``name``, ``title``, ``names`` (what the file defines), ``allowed`` and ``numpy_only``."""

    def __init__(self, name, title, names, allowed=("numpy",), numpy_only=True):
        self.name, self.title, self.names = name, title, tuple(names)
        self.allowed, self.numpy_only = tuple(allowed), numpy_only

    def __repr__(self):
        return f"<Exercise {self.name}>"


CATALOGUE = (
    Exercise("conv2d_literal", "the article's convolution, written literally", ["conv2d_literal"]),
    Exercise("conv_transpose2d_scatter", "transposed convolution as a strided scatter", ["conv_transpose2d_scatter"]),
    Exercise("im2col", "the window matrix of a convolution and its adjoint", ["im2col", "col2im"]),
    Exercise("conv2d_backward", "the gradients of a conv layer", ["conv2d_backward"]),
    Exercise("conv_transpose2d_backward", "the gradients of a transposed-conv layer", ["conv_transpose2d_backward"]),
    Exercise("autograd_function", "two autograd Functions: sigmoid and a per-channel affine map",
             ["Sigmoid", "ChannelAffine"]),
    Exercise("mse", "the (masked) mean squared error and its gradient", ["mse", "mse_grad"]),
    Exercise("sgd_momentum", "one step of SGD with momentum and weight decay", ["sgd_momentum_step"]),
    Exercise("receptive_field", "the receptive field of a stack of conv layers", ["receptive_field"]),
    Exercise("training_loop", "the loop that trains a small inpainting network", ["train_inpainting"],
             allowed=("numpy", "deconvlab.functional", "deconvlab.autograd"), numpy_only=False),
)
BY_NAME = {exercise.name: exercise for exercise in CATALOGUE}
EXERCISES = tuple(exercise.name for exercise in CATALOGUE)
