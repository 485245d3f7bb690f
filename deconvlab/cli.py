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


def _load_image_arg(path, what, max_pixels):
    """Load a user's image, turning every way it can be unusable into a UsageError naming the file."""
    from . import data

    try:
        return data.load_image(path, max_pixels=max_pixels)
    except FileNotFoundError:
        raise UsageError(f"{what} {path!r} does not exist") from None
    except (ValueError, OSError) as exc:
        raise UsageError(f"cannot use {what} {path!r}: {exc}") from None


def _load_mask_arg(path, max_pixels):
    from . import masks

    if not os.path.exists(path):
        raise UsageError(f"mask {path!r} does not exist")
    try:
        return masks.mask_from_image(path, max_pixels=max_pixels)
    except (ValueError, OSError) as exc:
        raise UsageError(f"cannot use mask {path!r}: {exc}") from None


def _check_output_path(path):
    """An output path must end in .png/.jpg/.jpeg and lie in an existing folder (checked before any work)."""
    if os.path.splitext(path)[1].lower() not in (".png", ".jpg", ".jpeg"):
        raise UsageError(f"output {path!r} must end in .png, .jpg or .jpeg")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"the folder of output {path!r} does not exist")
    if os.path.isdir(path):
        raise UsageError(f"output {path!r} is a folder; give a file name")


def _load_model_arg(path):
    from . import inpainting, train

    if path is None:
        return inpainting.load_pretrained()
    if not os.path.isfile(path):
        raise UsageError(f"model {path!r} does not exist")
    try:
        return train.load_model(path)
    except (ValueError, KeyError) as exc:
        raise UsageError(f"cannot use model {path!r}: {exc}") from None


def _cmd_inpaint(args):
    from . import data, inpainting

    _check_output_path(args.output)
    image = _load_image_arg(args.image, "image", args.max_pixels)
    mask = _load_mask_arg(args.mask, args.max_pixels)
    if mask.shape != image.shape[:2]:
        raise UsageError(
            f"mask {args.mask!r} is {mask.shape[1]}x{mask.shape[0]} pixels but image {args.image!r} is "
            f"{image.shape[1]}x{image.shape[0]}; they must match"
        )
    model = _load_model_arg(args.model)
    try:
        result = inpainting.inpaint(image, mask, model=model, tile=args.tile)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    data.save_image(args.output, result)
    print(f"filled {int(mask.sum())} pixels; wrote {args.output}")
    return 0


def _cmd_evaluate(args):
    from . import data, evaluation
    from .masks import MASK_KINDS

    kinds = [k.strip() for k in args.masks.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in MASK_KINDS]
    if unknown or not kinds:
        raise UsageError(f"unknown mask kind(s) {unknown or kinds!r}; choose from {', '.join(MASK_KINDS)}")
    if args.folder is None:
        images = list(data.bundled_photos("test").values())
        source = "the bundled held-out photos (" + ", ".join(data.TEST_PHOTOS) + ")"
    else:
        if not os.path.isdir(args.folder):
            raise UsageError(f"folder {args.folder!r} does not exist")
        try:
            images = list(data.ImageFolder(args.folder))
        except (ValueError, OSError) as exc:
            raise UsageError(f"cannot read images in {args.folder!r}: {exc}") from None
        if not images:
            raise UsageError(f"no PNG or JPEG images in {args.folder!r}")
        source = args.folder
    small = [im.shape for im in images if min(im.shape[:2]) < args.patch]
    if small:
        raise UsageError(f"images smaller than the {args.patch}x{args.patch} patch: shapes {small}")
    model = _load_model_arg(args.model)
    results = evaluation.evaluate(model, images, kinds=kinds, n_crops=args.crops, patch_size=args.patch, seed=args.seed)
    if args.json:
        import json

        print(json.dumps(evaluation.to_jsonable(results), indent=2))
    else:
        print(f"{args.crops} crops of {args.patch}x{args.patch} from {source}, seed {args.seed}")
        print(evaluation.format_results(results))
    return 0


def _cmd_demo(args):
    from . import demo

    _check_output_path(args.output)
    demo.run_demo(args.output, photo=args.photo, out=print)
    return 0


def _cmd_train(args):
    from . import train

    fields = {f.name for f in __import__("dataclasses").fields(train.TrainConfig)}
    settings = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    if "mask_kinds" in settings:
        settings["mask_kinds"] = tuple(k.strip() for k in settings["mask_kinds"].split(","))
        settings.setdefault("mask_weights", tuple(1.0 for _ in settings["mask_kinds"]))
    try:
        config = train.TrainConfig(**settings)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    images = None
    if args.data is not None:
        if not os.path.isdir(args.data):
            raise UsageError(f"data folder {args.data!r} does not exist")
        try:
            images = train.training_images(args.data)
        except (ValueError, OSError) as exc:
            raise UsageError(f"cannot use data folder {args.data!r}: {exc}") from None
    if args.resume and not os.path.exists(os.path.join(args.out, "checkpoint.npz")):
        raise UsageError(f"--resume: no checkpoint.npz in {args.out!r}")
    try:
        _, history = train.train(config, args.out, resume=args.resume, images=images, progress=not args.quiet)
    except train.TrainingDiverged as exc:
        print(f"deconvlab train: stopped: {exc}", file=sys.stderr)
        return 1
    if history:
        last = history[-1]
        print(
            f"step {last['step']}: loss {last['loss']:.5f}, held-out centre-hole PSNR {last['center_hole_psnr']:.2f} dB "
            f"after {last['seconds'] / 60:.1f} min; wrote {args.out}/checkpoint.npz, history.csv, history.png"
        )
    return 0


def _cmd_bench(args):
    from .bench import run_kernels_benchmark

    if args.what != "kernels":
        raise UsageError(f"unknown benchmark {args.what!r}; expected 'kernels'")
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


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def build_parser():
    """The argument parser of the ``deconvlab`` command (sub-commands and their options)."""
    parser = argparse.ArgumentParser(
        prog="deconvlab",
        description="Convolution and transposed convolution by hand, and image inpainting with them.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    from .data import DEFAULT_MAX_PIXELS, TEST_PHOTOS
    from .masks import MASK_KINDS

    inp = sub.add_parser("inpaint", help="fill the masked pixels of a photo")
    inp.add_argument("image", help="the photo (PNG or JPEG)")
    inp.add_argument("--mask", required=True, help="mask image, white = pixels to fill, same size as the photo")
    inp.add_argument("-o", "--output", required=True, help="where to write the result (.png or .jpg)")
    inp.add_argument("--model", help="a checkpoint or weights file (default: the pretrained model)")
    inp.add_argument("--tile", type=_positive_int, default=512, help="largest side processed at once (default 512)")
    inp.add_argument("--max-pixels", type=_positive_int, default=DEFAULT_MAX_PIXELS,
                     help=f"refuse images with more pixels than this (default {DEFAULT_MAX_PIXELS})")
    inp.set_defaults(run=_cmd_inpaint)

    ev = sub.add_parser("evaluate", help="score the model against classical fills, side by side")
    ev.add_argument("folder", nargs="?", help="folder of test images (default: the bundled held-out photos)")
    ev.add_argument("--model", help="a checkpoint or weights file (default: the pretrained model)")
    ev.add_argument("--masks", default=",".join(MASK_KINDS), help="comma-separated mask kinds")
    ev.add_argument("--crops", type=_positive_int, default=200, help="number of crops (default 200)")
    ev.add_argument("--patch", type=_positive_int, default=32, help="crop size (default 32)")
    ev.add_argument("--seed", type=int, default=1234, help="seed of the crops and masks")
    ev.add_argument("--json", action="store_true", help="print the results as JSON")
    ev.set_defaults(run=_cmd_evaluate)

    demo = sub.add_parser("demo", help="punch holes in a bundled photo, fill them, write a comparison picture")
    demo.add_argument("-o", "--output", default="deconvlab-demo.png", help="picture to write (default deconvlab-demo.png)")
    demo.add_argument("--photo", default="chelsea", choices=TEST_PHOTOS, help="which held-out photo")
    demo.set_defaults(run=_cmd_demo)

    tr = sub.add_parser("train", help="train an inpainting network from scratch (or resume)")
    tr.add_argument("--out", default="runs/inpaint", help="folder for checkpoint.npz, history.csv, history.png")
    tr.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.npz")
    tr.add_argument("--data", help="folder of training images (default: the bundled training photos)")
    tr.add_argument("--model", choices=["inpaintnet", "seednet-fixed"])
    tr.add_argument("--width", type=_positive_int, help="channels of the first layer (default 32)")
    tr.add_argument("--steps", type=_positive_int, help="training steps (default 10000)")
    tr.add_argument("--batch-size", type=_positive_int)
    tr.add_argument("--patch-size", type=_positive_int)
    tr.add_argument("--optimizer", choices=["adam", "sgd"])
    tr.add_argument("--lr", type=_positive_float)
    tr.add_argument("--momentum", type=float)
    tr.add_argument("--schedule", choices=["cosine", "constant"])
    tr.add_argument("--l1-weight", type=float)
    tr.add_argument("--mask-kinds", help="comma-separated mask kinds to train on")
    tr.add_argument("--eval-every", type=_positive_int)
    tr.add_argument("--checkpoint-every", type=_positive_int)
    tr.add_argument("--seed", type=int)
    tr.add_argument("--dtype", choices=["float32", "float64"])
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    tr.set_defaults(run=_cmd_train)

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
