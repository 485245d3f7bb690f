"""Time deconvlab's conv2d / conv_transpose2d kernels against PyTorch on the reference layer set.

    python benchmarks/kernels.py [--repeats 7] [--batch 32] [--dtype float32] [--json] [--no-compile-times]

The same as ``deconvlab bench kernels`` (this script passes its options on). PyTorch (the ``bench`` extra) is
optional: without it only deconvlab's times are printed.
"""
import sys

from deconvlab.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "kernels"] + sys.argv[1:]))
