"""Time one training step of InpaintNet in deconvlab and in PyTorch, side by side.

    python benchmarks/train_step.py [--width 32] [--batch 32] [--repeats 7] [--json]

The same as ``deconvlab bench train-step`` (this script passes its options on). Also reports how much of
deconvlab's step is spent outside the convolution kernels (autograd bookkeeping, activations, concatenation,
loss, optimizer).
"""
import sys

from deconvlab.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "train-step"] + sys.argv[1:]))
