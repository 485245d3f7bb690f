"""Time one training step of InpaintNet in deconvlab and in PyTorch, side by side.

    python benchmarks/train_step.py [--width 32] [--batch 32] [--repeats 10] [--json]

Same as ``deconvlab bench train-step``. Also reports how much of deconvlab's step is spent outside the
convolution kernels (autograd bookkeeping, activations, concatenation, loss, optimizer).
"""
import argparse

from deconvlab.bench import run_train_step_benchmark

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    run_train_step_benchmark(width=args.width, batch=args.batch, repeats=args.repeats, as_json=args.json)
