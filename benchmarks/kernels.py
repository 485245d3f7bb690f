"""Time deconvlab's conv2d / conv_transpose2d kernels against PyTorch on the reference layer set.

    python benchmarks/kernels.py [--repeats 7] [--batch 32] [--dtype float32] [--json]

Same as ``deconvlab bench kernels``. PyTorch (the ``bench`` extra) is optional: without it only
deconvlab's times are printed.
"""
import argparse

from deconvlab.bench import run_kernels_benchmark

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-compile-times", action="store_true")
    args = parser.parse_args()
    run_kernels_benchmark(
        batch=args.batch,
        repeats=args.repeats,
        dtype=args.dtype,
        compile_times=not args.no_compile_times,
        as_json=args.json,
    )
