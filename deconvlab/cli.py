"""The ``deconvlab`` command line: demo, train, inpaint, evaluate, bench, exercises; imports everything above it.

Every command reports a user's mistake (bad path, unreadable image, wrong size, bad option) as one line on
stderr and exit code 2; any other failure is one line and exit code 1. No traceback is shown unless
``DECONVLAB_DEBUG=1`` is set. Commands that write files write them whole or not at all.
"""
import argparse
import os
import sys


class UsageError(Exception):
    """A mistake in what the user asked for: reported as one line, exit code 2."""


def _cmd_bench(args):
    from .bench import run_kernels_benchmark

    if args.what != "kernels":
        raise UsageError(f"unknown benchmark {args.what!r}; expected 'kernels'")
    if args.repeats < 1:
        raise UsageError(f"--repeats must be at least 1, got {args.repeats}")
    run_kernels_benchmark(
        batch=args.batch,
        repeats=args.repeats,
        dtype=args.dtype,
        compile_times=not args.no_compile_times,
        as_json=args.json,
    )
    return 0


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def build_parser():
    """The argument parser of the ``deconvlab`` command (sub-commands and their options)."""
    parser = argparse.ArgumentParser(
        prog="deconvlab",
        description="Convolution and transposed convolution by hand, and image inpainting with them.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    bench = sub.add_parser("bench", help="time the kernels (against PyTorch when it is installed)")
    bench.add_argument("what", nargs="?", default="kernels", help="what to time: 'kernels' (default)")
    bench.add_argument("--repeats", type=_positive_int, default=7, help="timed runs per layer (median reported)")
    bench.add_argument("--batch", type=_positive_int, default=32, help="batch size (default 32)")
    bench.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    bench.add_argument("--json", action="store_true", help="print the results as JSON")
    bench.add_argument("--no-compile-times", action="store_true", help="skip the fresh-process compile timing")
    bench.set_defaults(run=_cmd_bench)
    return parser


def main(argv=None):
    """Run the command line; returns the exit code (0 success, 1 failure, 2 bad arguments or input)."""
    parser = build_parser()
    args = parser.parse_args(argv)  # argparse itself exits with code 2 on bad arguments
    debug = os.environ.get("DECONVLAB_DEBUG", "") not in ("", "0")
    try:
        return args.run(args)
    except UsageError as exc:
        print(f"deconvlab {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"deconvlab {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one line for the user; the traceback only on request
        if debug:
            raise
        print(f"deconvlab {args.command}: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
