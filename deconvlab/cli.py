"""The ``deconvlab`` command line: demo, train, inpaint, evaluate, bench, exercises; the top layer, it may import
every other module (most of them inside the command that needs them, so ``--help`` stays fast).

Every command reports a user's mistake (bad path, unreadable image, wrong size, bad option) as one line on
stderr and exit code 2; any other failure is one line and exit code 1 (``commandline``). Library functions
reject bad input with ``errors.InputError``, whose reason the command prints as is, naming options where the
library names keyword arguments. No traceback is shown unless ``DECONVLAB_DEBUG=1`` is set. Commands that write
files write them whole or not at all.
"""
import argparse
import os
import sys
import warnings

from .commandline import (Parser, UsageError, argument_type, finite_float, non_negative_int, positive_float,
                          positive_int)
from ._files import temporary_name
from .errors import InputError


def _load_image_arg(path, what, max_pixels):
    """Load a user's image, turning every way it can be unusable into a UsageError naming the file."""
    from . import data

    path = os.fspath(path)
    if not os.path.exists(path):
        raise UsageError(f"{what} {path!r} does not exist")
    try:
        return data.load_image(path, max_pixels=max_pixels)
    except InputError as exc:
        raise UsageError.from_input_error(exc, what) from None
    except OSError as exc:
        raise UsageError(f"cannot use {what} {path!r}: {exc.strerror or exc}") from None


def _load_mask_arg(path, max_pixels):
    from . import masks

    if not os.path.exists(path):
        raise UsageError(f"mask {path!r} does not exist")
    try:
        return masks.mask_from_image(path, max_pixels=max_pixels)
    except InputError as exc:
        raise UsageError.from_input_error(exc, "mask") from None
    except OSError as exc:
        raise UsageError(f"cannot use mask {path!r}: {exc.strerror or exc}") from None


def _warn_about_unlikely_masks(path, mask):
    """One-line warnings for masks that are valid but probably not what the user meant."""
    from PIL import Image

    with Image.open(path) as picture:
        colourful = picture.mode not in ("1", "L", "LA", "I", "I;16", "F") and _has_colour(picture)
    if colourful:
        warnings.warn(f"mask {path!r} is in colour; it is read as brightness, and only pixels brighter than "
                      "one half (white, not e.g. pure red) are filled")
    if not mask.any():
        warnings.warn(f"mask {path!r} marks no pixel as missing (white = fill); the image is written unchanged")
    if mask.mean() > 0.5:
        warnings.warn(f"mask {path!r} marks {mask.mean():.0%} of the pixels as missing (white = fill); "
                      "if the holes are black in it, invert it")


def _has_colour(picture):
    import numpy as np

    rgb = np.asarray(picture.convert("RGB"), dtype=np.int16)
    return bool((np.abs(rgb - rgb.mean(axis=2, keepdims=True)) > 16).any())


def _check_output_path(path):
    """An output path must end in .png/.jpg/.jpeg and lie in an existing folder (checked before any work)."""
    if os.path.splitext(path)[1].lower() not in (".png", ".jpg", ".jpeg"):
        raise UsageError(f"output {path!r} must end in .png, .jpg or .jpeg")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"the folder of output {path!r} does not exist")
    if os.path.isdir(path):
        raise UsageError(f"output {path!r} is a folder; give a file name")
    try:
        longest = os.pathconf(folder, "PC_NAME_MAX")
    except (AttributeError, OSError, ValueError):
        longest = 255
    if len(os.fsencode(os.path.basename(path))) > longest:
        raise UsageError(f"cannot write output {path!r}: its name is longer than the {longest} bytes a file name "
                         "may have here")
    probe = os.path.join(folder, temporary_name(os.path.basename(path)))  # what atomic_write will make
    try:
        with open(probe, "xb"):
            pass
        os.unlink(probe)
    except FileExistsError:
        pass
    except OSError as exc:
        raise UsageError(f"cannot write output {path!r}: {exc.strerror or exc}") from None


def _check_writable_folder(folder, option):
    """A UsageError unless ``folder`` exists and can take new files, or can be made: a probe folder is made and
    removed in its nearest existing ancestor, so nothing is left behind."""
    import tempfile

    existing = os.path.abspath(folder)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".deconvlab-probe-", dir=existing))
    except OSError as exc:
        raise UsageError(f"{option} {folder!r} cannot be written ({exc.strerror or exc} in {existing!r})") from None


def _load_model_arg(path):
    """The network of --model: a checkpoint or weights file, or the name of a bundled network (``PRETRAINED``,
    when no file of that name exists)."""
    from . import checkpoints, inpainting

    if not os.path.exists(path) and (path == "default" or path in inpainting.PRETRAINED):
        try:
            return inpainting.load_pretrained(path)
        except FileNotFoundError as exc:
            raise UsageError(str(exc)) from None
    if not os.path.exists(path):
        raise UsageError(f"model {path!r} does not exist")
    if not os.path.isfile(path):
        raise UsageError(f"model {path!r} is not a file; expected a checkpoint.npz or weights .npz")
    try:
        return checkpoints.load_model(path)
    except (ValueError, KeyError) as exc:
        raise UsageError(f"cannot use model {path!r}: {exc}") from None


def _load_model_or_pretrained(path):
    """The network of --model, or the pretrained one; a missing weights file is explained in one line."""
    from . import inpainting

    if path is not None:
        return _load_model_arg(path)
    try:
        return inpainting.load_pretrained()
    except FileNotFoundError:
        raise UsageError(f"the pretrained weights are not installed (deconvlab/assets/weights/"
                         f"{inpainting.DEFAULT_PRETRAINED}.npz is "
                         "missing); train a network with 'deconvlab train' and pass its checkpoint with --model")


def _refuse_to_overwrite_an_input(output, inputs, overwrite):
    """A UsageError when ``output`` is one of the ``inputs`` (by name or as the same file), unless ``overwrite``."""
    if overwrite or not os.path.exists(output):
        return
    for what, path in inputs:
        if os.path.exists(path) and os.path.samefile(output, path):
            raise UsageError(f"the output {output!r} is the {what} {path!r}; writing it would destroy the {what} "
                             "(pass --overwrite to do that anyway)")


def _inpaint_file(image_path, mask_path, output, args, model_for):
    """Fill one photo with its mask and write ``output``; every problem is a UsageError naming the file.
    ``model_for()`` gives the network (loaded once, only when a mask marks pixels)."""
    from . import data, inpainting

    _refuse_to_overwrite_an_input(output, [("photo", image_path), ("mask", mask_path)], args.overwrite)
    image = _load_image_arg(image_path, "image", args.max_pixels)
    mask = _load_mask_arg(mask_path, args.max_pixels)
    if mask.shape != image.shape[:2]:
        turned = [p for p in (image_path, mask_path) if data.exif_orientation(p) in (5, 6, 7, 8)]
        why = (f" ({turned[0]!r} has an EXIF orientation that turns it by 90 degrees when read; save it upright, "
               "or turn the other file the same way)") if turned and mask.shape == image.shape[1::-1] else ""
        raise UsageError(
            f"mask {mask_path!r} is {mask.shape[1]}x{mask.shape[0]} pixels but image {image_path!r} is "
            f"{image.shape[1]}x{image.shape[0]}; they must match{why}"
        )
    if data.has_alpha(image_path):
        warnings.warn(f"photo {image_path!r} has transparency: it is filled as composited over white and written "
                      "without its alpha channel")
    if mask.all():
        raise UsageError(f"mask {mask_path!r} marks every pixel as missing; nothing is known to fill from")
    _warn_about_unlikely_masks(mask_path, mask)
    if data.is_gray_file(image_path):  # a gray photo is filled as three equal channels and written back in gray
        image = image[:, :, 0]
    model = model_for() if args.model is not None or mask.any() else None  # an empty mask needs no network
    try:
        result = inpainting.inpaint(image, mask, model=model, tile=args.tile, passes=args.passes,
                                    orientations=args.orientations, adapt=args.adapt,
                                    progress=not args.quiet and sys.stderr.isatty(),
                                    samples=getattr(args, "samples", None), seed=getattr(args, "seed", None))
    except InputError as exc:
        raise UsageError.from_input_error(exc) from None
    if getattr(args, "samples", None) is None:
        data.save_image(output, result)
    else:
        for path, sample in zip(sample_paths(output, len(result)), result):
            data.save_image(path, sample)
    return int(mask.sum())


def sample_paths(output, count):
    """Where ``--samples K`` writes its fills: OUT_1.png … OUT_K.png for ``-o OUT.png``."""
    stem, ext = os.path.splitext(output)
    return [f"{stem}_{k + 1}{ext}" for k in range(count)]


def _model_once(path):
    """A function giving the network of --model (or the pretrained one), loaded on its first call only."""
    loaded = []
    return lambda: loaded[0] if loaded else (loaded.append(_load_model_or_pretrained(path)) or loaded[0])


def _cmd_inpaint(args):
    if os.path.isdir(args.image):
        return _inpaint_folder(args)
    if args.mask is None:
        raise UsageError("give the mask with --mask MASK (or, for a folder of photos, --mask-dir MASKS)")
    if args.mask_dir is not None:
        raise UsageError("--mask-dir goes with a folder of photos; for one photo give --mask")
    if args.seed is not None and args.samples is None:
        raise UsageError("--seed is the seed of --samples; give --samples K with it")
    _check_output_path(args.output)
    filled = _inpaint_file(args.image, args.mask, args.output, args, _model_once(args.model))
    written = args.output if args.samples is None else ", ".join(sample_paths(args.output, args.samples))
    print(f"filled {filled} pixels; wrote {written}")
    return 0


MASK_SUFFIX = "_mask"
"""A photo ``STEM.ext``'s mask in --mask-dir is ``STEM.<png|jpg|jpeg>`` or ``STEM_mask.<png|jpg|jpeg>``; files named
``*_mask.*`` are masks, never photos."""


def photo_files(folder):
    """The photos of a folder: its PNG and JPEG files, not hidden, not masks (``MASK_SUFFIX``), sorted by name."""
    from . import data

    return sorted(p for p in os.listdir(folder) if os.path.splitext(p)[1].lower() in data.IMAGE_EXTENSIONS
                  and not p.startswith(".") and not os.path.splitext(p)[0].endswith(MASK_SUFFIX)
                  and os.path.isfile(os.path.join(folder, p)))


def _mask_for(photo, mask_dir):
    """The mask file of ``photo`` in ``mask_dir`` by the rule of MASK_SUFFIX, or None."""
    from . import data

    stem = os.path.splitext(photo)[0]
    for name in (stem, stem + MASK_SUFFIX):
        for ext in data.IMAGE_EXTENSIONS + tuple(e.upper() for e in data.IMAGE_EXTENSIONS):
            if os.path.isfile(os.path.join(mask_dir, name + ext)):
                return os.path.join(mask_dir, name + ext)
    return None


def _inpaint_folder(args):
    """Every photo of the folder args.image with its mask from --mask-dir, written to -o as STEM.png."""
    from tqdm.auto import tqdm

    from ._files import FolderInUse, folder_lock

    if args.mask is not None or args.mask_dir is None:
        raise UsageError("a folder of photos takes its masks from --mask-dir MASKS (one mask per photo, same stem)")
    if args.samples is not None:
        raise UsageError("--samples fills one photo; for a folder of photos leave it out")
    if not os.path.isdir(args.mask_dir):
        raise UsageError(f"--mask-dir {args.mask_dir!r} is not a folder")
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise UsageError(f"-o {args.output!r} is a file; for a folder of photos give the output folder")
    _check_writable_folder(args.output, "-o")
    photos = photo_files(args.image)
    if not photos:
        raise UsageError(f"no PNG or JPEG photos in {args.image!r}")
    done, skipped, failed = 0, 0, []
    model_for = _model_once(args.model)
    try:
        with folder_lock(args.output):
            show = not args.quiet and sys.stderr.isatty()
            for photo in tqdm(photos, desc="photos", unit="photo", disable=not show, leave=False):
                output = os.path.join(args.output, os.path.splitext(photo)[0] + ".png")
                if os.path.exists(output) and not args.overwrite:
                    skipped += 1
                    continue
                mask = _mask_for(photo, args.mask_dir)
                try:
                    if mask is None:
                        raise UsageError(f"no mask for it in {args.mask_dir!r} (STEM.png or STEM{MASK_SUFFIX}.png)")
                    _inpaint_file(os.path.join(args.image, photo), mask, output, args, model_for)
                    done += 1
                except UsageError as exc:
                    failed.append((photo, _one_line(exc)))
    except FolderInUse:
        raise UsageError(f"-o {args.output!r} is in use by another deconvlab run; wait for it to end") from None
    for photo, why in failed:
        print(f"deconvlab inpaint: {photo}: {why}", file=sys.stderr)
    print(f"done {done}, skipped {skipped} (already written; --overwrite redoes them), failed {len(failed)}; "
          f"wrote into {args.output}")
    return 1 if failed else 0


def _evaluation_photos(args, minimum):
    """The photos ``evaluate`` scores, as (names, images, source): --data (or the positional folder), else the
    bundled held-out photos; every photo at least ``minimum`` pixels on its shorter side."""
    from . import data

    if args.folder is not None and args.data is not None:
        raise UsageError("give the folder of photos once: as --data FOLDER or as the positional argument")
    folder = args.data if args.data is not None else args.folder
    if folder is None:
        photos = data.bundled_photos("test")
        names, images = list(photos), list(photos.values())
        source = "the bundled held-out photos (" + ", ".join(data.TEST_PHOTOS) + ")"
    else:
        if not os.path.exists(folder):
            raise UsageError(f"folder {folder!r} does not exist")
        if not os.path.isdir(folder):
            raise UsageError(f"{folder!r} is not a folder; give a folder of PNG or JPEG images")
        paths = [os.path.join(folder, name) for name in photo_files(folder)]  # *_mask files are not photos
        if not paths:
            raise UsageError(f"no PNG or JPEG images in {folder!r}")
        names = [os.path.basename(path) for path in paths]
        images = [_load_image_arg(path, "image", args.max_pixels) for path in paths]
        source = folder
    small = [f"{name} ({im.shape[1]}x{im.shape[0]})" for name, im in zip(names, images) if min(im.shape[:2]) < minimum]
    if small:
        raise UsageError(f"images smaller than the {minimum}x{minimum} patch: {', '.join(small)}")
    return names, images, source


def _mask_kinds(text, allowed, protocol):
    kinds = [k.strip() for k in (text or ",".join(allowed)).split(",") if k.strip()]
    unknown = [k for k in kinds if k not in allowed]
    if not kinds:
        raise UsageError(f"--masks names no mask kind; choose from {', '.join(allowed)}")
    if unknown:
        raise UsageError(f"unknown mask kind(s) {', '.join(unknown)} for the {protocol} protocol; choose from "
                         f"{', '.join(allowed)}")
    return kinds


def _cmd_evaluate(args):
    import json

    from . import evaluation
    from .masks import MASK_KINDS, WHOLE_KINDS

    if args.whole and args.crops is not None:
        raise UsageError("--whole and --crops choose different protocols; give one")
    crops = args.crops is not None
    if args.patch is not None and not crops:
        raise UsageError("--patch sets the crop size of --crops; the whole-photo protocol scores whole photos")
    args.patch = 32 if args.patch is None else args.patch
    for flag, used, what in (("--orientations", args.orientations != 1, "averages the network's fills of"),
                             ("--passes", args.passes != 1, "averages the network's fills of"),
                             ("--adapt", args.adapt > 0, "adapts the network to")):
        if used and (crops or args.samples is not None):
            raise UsageError(f"{flag} {what} whole photos; it cannot be combined with "
                             + ("--crops" if crops else "--samples"))
    if crops:
        kinds = _mask_kinds(args.masks, MASK_KINDS, "crop")
        if args.patch % 8 or args.patch < 16:
            raise UsageError(f"--patch must be a multiple of 8 (the network's grid) and at least 16 (SSIM's 11x11 "
                             f"window must fit), got {args.patch}")
    else:
        kinds = _mask_kinds(args.masks, WHOLE_KINDS, "whole-photo")
    names, images, source = _evaluation_photos(args, args.patch if crops else 16)
    model = _load_model_or_pretrained(args.model)
    if args.samples is not None and (crops or not hasattr(model, "latent")):
        raise UsageError("--samples scores the K fills of a network that samples (a VAE's --model) on whole "
                         "photos" + ("; --crops has no samples" if crops else f"; this one is a {type(model).__name__}"))
    run = dict(protocol="crops" if crops else "whole", source=source, seed=args.seed, masks=kinds,
               model=args.model or "pretrained")
    if crops:
        results = evaluation.evaluate(model, images, kinds=kinds, n_crops=args.crops, patch_size=args.patch,
                                      seed=args.seed)
        run.update(crops=args.crops, patch=args.patch, unit="dB for PSNR; intensity in [0, 1] for L1")
        heading = f"{args.crops} crops of {args.patch}x{args.patch} from {source}, seed {args.seed}"
        table = evaluation.format_results(results)
    else:
        progress = not args.quiet and not args.json and sys.stderr.isatty()
        results = evaluation.evaluate_whole(model, dict(zip(names, images)), kinds=kinds, seed=args.seed,
                                            shifts=range(1, args.shifts + 1), progress=progress,
                                            samples=args.samples, orientations=args.orientations,
                                            passes=args.passes, adapt=args.adapt)
        run.update(shifts=args.shifts, samples=args.samples, orientations=args.orientations, passes=args.passes,
                   adapt=args.adapt, unit="dB for PSNR; SSIM in [-1, 1]; SWD x1000; seconds")
        heading = f"whole photos: {source}, seed {args.seed}"
        table = evaluation.format_whole(results)
    if args.json:
        print(json.dumps({"run": run, "results": evaluation.to_jsonable(results),
                          "null": "a number that is not finite (an infinite PSNR: a fill equal to the truth) "
                                  "is written as null"}, indent=2, allow_nan=False))
    else:
        print(heading)
        print(table)
        if "biharmonic" not in evaluation.available_baselines():
            print("(no biharmonic fill: it needs scikit-image, in deconvlab's 'data' extra)")
    return 0


def _cmd_demo(args):
    from . import demo

    _check_output_path(args.output)
    model = _load_model_or_pretrained(args.model)
    demo.run_demo(args.output, photo=args.photo, out=print, model=model)
    return 0


def _cmd_train(args):
    """Train; with --resume the checkpoint's settings are used, and options given must agree with them
    (except those of ``train.RESUMABLE_CHANGES``, e.g. a larger --steps to extend a run)."""
    import dataclasses

    from . import train

    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UsageError(f"--out {args.out!r} is a file; give a folder")
    _check_writable_folder(args.out, "--out")
    fields = {f.name for f in dataclasses.fields(train.TrainConfig)}
    settings = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    if "mask_kinds" in settings:
        settings["mask_kinds"] = tuple(k.strip() for k in settings["mask_kinds"].split(","))
        settings.setdefault("mask_weights", tuple(1.0 for _ in settings["mask_kinds"]))
    checkpoint = os.path.join(args.out, "checkpoint.npz")
    if args.resume and args.overwrite:
        raise UsageError("--resume and --overwrite contradict each other; choose one")
    if not args.resume and not args.overwrite and os.path.exists(checkpoint):
        raise UsageError(f"{args.out!r} already holds a run (checkpoint.npz); continue it with --resume, start it "
                         "afresh with --overwrite, or choose another --out")
    if args.resume and not os.path.exists(checkpoint):
        raise UsageError(f"--resume: no checkpoint.npz in {args.out!r}")
    default_every = train.TrainConfig().eval_every
    if not args.resume and "eval_every" not in settings and settings.get("steps", train.TrainConfig().steps) < 8 * default_every:
        settings["eval_every"] = max(1, settings["steps"] // 8)  # a short run still logs a curve of 8 points
    try:
        config = train.resumed_config(args.out, **settings) if args.resume else train.TrainConfig(**settings)
    except InputError as exc:
        raise UsageError.from_input_error(exc) from None
    except (ValueError, TypeError) as exc:
        raise UsageError(f"--resume: {exc}") from None
    images = None
    if args.data is not None:
        if not os.path.isdir(args.data):
            raise UsageError(f"data folder {args.data!r} does not exist")
        try:
            images = train.training_images(args.data, patch_size=config.patch_size)
        except InputError as exc:
            if exc.subject is not None:  # a photo that cannot be read
                raise UsageError.from_input_error(exc, "image") from None
            raise UsageError(f"data folder {args.data!r} has {exc.reason(command_line=True)}") from None
        except (ValueError, OSError) as exc:
            raise UsageError(f"cannot use data folder {args.data!r}: {exc}") from None
    try:
        _, history = train.train(config, args.out, resume=args.resume, images=images, progress=not args.quiet,
                                 allow_other_data=args.allow_other_data)
    except InputError as exc:
        raise UsageError.from_input_error(exc) from None
    except train.TrainingDiverged as exc:
        print(f"deconvlab train: stopped: {exc}", file=sys.stderr)
        return 1
    if history:
        last = history[-1]
        average = last.get("average_center_hole_psnr")
        print(
            f"step {last['step']}: loss {last['loss']:.5f}, held-out centre-hole PSNR {last['center_hole_psnr']:.2f} dB"
            + ("" if average is None else f" (the weight average {average:.2f} dB)")
            + f" after {last['seconds'] / 60:.1f} min; wrote {args.out}/checkpoint.npz, history.csv, history.png"
            + ("" if average is None else ", average.npz")
        )
    return 0


def _cmd_app(args):
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise UsageError("the app needs Gradio, in deconvlab's 'app' extra: python -m pip install -e \".[app]\"") from None
    from . import app

    print(f"deconvlab app: serving on http://{args.host}:{args.port or 'a free port'} (Ctrl-C stops it)")
    app.launch(host=args.host, port=args.port, max_pixels=args.max_pixels)
    return 0


def _cmd_bench(args):
    from .bench import in_native_blas, run_compile_benchmark, run_kernels_benchmark, run_train_step_benchmark

    if args.blas_native:
        flags = [("--repeats", args.repeats), ("--batch", args.batch), ("--dtype", args.dtype), ("--width", args.width)]
        argv = [args.what]
        for flag, value in flags:
            if value is not None:
                argv += [flag, str(value)]
        argv += ["--json"] * args.json + ["--no-compile-times"] * args.no_compile_times
        return in_native_blas(argv)

    given = [flag for flag, value in (("--repeats", args.repeats), ("--batch", args.batch)) if value is not None]
    repeats, batch = args.repeats or 7, args.batch or 32
    if args.what == "kernels":
        if args.width is not None:
            raise UsageError("--width sets the network of 'bench train-step'; 'bench kernels' times fixed layers")
        run_kernels_benchmark(
            batch=batch,
            repeats=repeats,
            dtype=args.dtype,
            compile_times=not args.no_compile_times,
            as_json=args.json,
        )
    elif args.what == "train-step":
        if args.dtype != "float32":
            raise UsageError("bench train-step times float32 training only; drop --dtype")
        run_train_step_benchmark(width=args.width or 32, batch=batch, repeats=repeats, as_json=args.json)
    elif args.what == "compile":
        if args.width is not None:
            raise UsageError("--width sets the network of 'bench train-step'; 'bench compile' compiles the kernels")
        if given:
            raise UsageError(f"{given[0]} sets what 'bench kernels' and 'bench train-step' time; 'bench compile' "
                             "compiles the kernels once in a fresh process")
        run_compile_benchmark(dtype=args.dtype, as_json=args.json)
    else:
        raise UsageError(f"unknown benchmark {args.what!r}; expected 'kernels', 'train-step' or 'compile'")
    return 0


_crop_count = argument_type(int, lambda v: 1 <= v <= 100_000, "a number of crops from 1 to 100000")


def _tile_size(text):
    from .inpainting import MIN_TILE

    value = positive_int(text)
    if value < MIN_TILE:
        raise argparse.ArgumentTypeError(f"expected a tile side of at least {MIN_TILE} pixels, got {text!r}")
    return value


def build_parser():
    """The argument parser of the ``deconvlab`` command (sub-commands and their options)."""
    parser = Parser(
        prog="deconvlab",
        description="Convolution and transposed convolution by hand, and image inpainting with them.",
    )
    from ._version import __version__

    parser.add_argument("--version", action="version", version=f"deconvlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    from .data import DEFAULT_MAX_PIXELS, TEST_PHOTOS
    from .inpainting import DEFAULT_TILE, MIN_TILE, ORIENTATIONS, PASSES
    from .masks import MASK_KINDS, WHOLE_KINDS

    inp = sub.add_parser("inpaint", help="fill the masked pixels of a photo (or of a folder of photos)",
                         description="Fill the masked pixels of a photo. With a folder of photos and --mask-dir, fill "
                                     "every photo: the mask of STEM.jpg is STEM.png or STEM_mask.png (any of "
                                     ".png/.jpg/.jpeg) in the mask folder, the result OUT/STEM.png; photos already "
                                     "written are skipped unless --overwrite; one summary line, the failures listed "
                                     "with their reasons, exit 1 if any failed.")
    inp.add_argument("image", help="the photo (PNG or JPEG), or a folder of photos")
    inp.add_argument("--mask",
                     help="mask image, white = pixels to fill (gray above one half counts as white), same size as the photo")
    inp.add_argument("--mask-dir", metavar="MASKS", help="with a folder of photos: the folder of their masks")
    inp.add_argument("-o", "--output", required=True,
                     help="where to write the result (.png or .jpg); with a folder of photos, the output folder")
    inp.add_argument("--model", help="a checkpoint or weights file, or a bundled network: holenet (the default), inpaintnet (the "
                          "smaller network for scratches and small holes), vae (the VAE, for --samples)")
    inp.add_argument("--tile", type=_tile_size, default=DEFAULT_TILE,
                     help=f"largest side processed at once, at least {MIN_TILE} (default {DEFAULT_TILE})")
    inp.add_argument("--passes", type=int, choices=PASSES, default=1,
                     help="average the fills of the photo moved by fractions of the network's 8-pixel grid: the "
                          "result depends less on where the photo sits (not at all with 64), for that many times "
                          "the work (default 1)")
    inp.add_argument("--orientations", type=int, choices=ORIENTATIONS, default=1,
                     help="average the fills of the photo seen mirrored and turned (2: also mirrored left to "
                          "right, 4: also upside down, 8: also transposed): a little more accurate, for that many "
                          "times the work (default 1)")
    inp.add_argument("--adapt", type=non_negative_int, default=0, metavar="STEPS",
                     help="first fine-tune a copy of the network for STEPS training steps on the photo's own known "
                          "pixels, with holes shaped like the mask's, keeping the weights that fill held-out holes "
                          "best: more accurate on most photos, for about 0.2-1.3 s a step (try 50; default 0: no "
                          "adaptation)")
    inp.add_argument("--samples", type=positive_int, metavar="K",
                     help="with a network that samples (--model a VAE's checkpoint): write K different fills, "
                          "OUT_1 … OUT_K")
    inp.add_argument("--seed", type=non_negative_int,
                     help="the seed of --samples and --adapt (the same seed, the same fills; --adapt's default 0)")
    inp.add_argument("--max-pixels", type=positive_int, default=DEFAULT_MAX_PIXELS,
                     help=f"refuse images with more pixels than this (default {DEFAULT_MAX_PIXELS})")
    inp.add_argument("--quiet", action="store_true",
                     help="no progress bar (it shows on a terminal when a photo takes more than two seconds)")
    inp.add_argument("--overwrite", action="store_true",
                     help="allow -o to be the photo or the mask itself; with a folder, redo photos already written")
    inp.set_defaults(run=_cmd_inpaint)

    ev = sub.add_parser("evaluate", help="score the network against classical fills on the same holes",
                        description="Score the network against classical fills, every method on the same seeded "
                                    "holes of held-out photos. --whole (the default): six kinds of holes on whole "
                                    "photos (strokes, small rectangles, squares of 48, 64, 96 px, blobs), scored by "
                                    "hole PSNR, SSIM around the holes and a texture statistic. --crops [N]: N "
                                    "fixed crops (default 200) with the four crop kinds of holes.")
    ev.add_argument("folder", nargs="?", help="folder of photos (default: the bundled held-out photos)")
    ev.add_argument("--data", metavar="FOLDER", help="folder of photos (the same as the positional argument)")
    ev.add_argument("--model", help="a checkpoint or weights file, or a bundled network: holenet (the default), inpaintnet (the "
                          "smaller network for scratches and small holes), vae (the VAE, for --samples)")
    protocol = ev.add_mutually_exclusive_group()
    protocol.add_argument("--whole", action="store_true", help="the whole-photo protocol (the default)")
    protocol.add_argument("--crops", type=_crop_count, nargs="?", const=200, metavar="N",
                          help="the crop protocol with N crops (default 200, at most 100000)")
    ev.add_argument("--masks", help=f"comma-separated mask kinds (default all: {','.join(WHOLE_KINDS)} for whole "
                                    f"photos, {','.join(MASK_KINDS)} for crops)")
    ev.add_argument("--patch", type=positive_int,
                    help="crop size for --crops, a multiple of 8, at least 16 (default 32)")
    ev.add_argument("--samples", type=positive_int, metavar="K",
                    help="whole photos, a network that samples (a VAE): also score one sample, the mean and the "
                         "best of K samples per hole, and how much they differ")
    ev.add_argument("--orientations", type=int, choices=ORIENTATIONS, default=1,
                    help="whole photos: fill with inpaint(..., orientations=K), the average over the photo seen in "
                         "K orientations (default 1)")
    ev.add_argument("--passes", type=int, choices=PASSES, default=1,
                    help="whole photos: fill with inpaint(..., passes=P), the average over the photo moved by "
                         "fractions of the network's 8-pixel grid (default 1)")
    ev.add_argument("--adapt", type=non_negative_int, default=0, metavar="STEPS",
                    help="whole photos: fill with inpaint(..., adapt=STEPS), the network first fine-tuned on each "
                         "photo with holes like its own (default 0; with it, --shifts 0 saves adapting again for "
                         "every shift)")
    ev.add_argument("--shifts", type=non_negative_int, default=7,
                    help="whole photos: measure how the fill moves when the photo is shifted by 1..N pixels "
                         "(default 7; 0 skips it)")
    ev.add_argument("--seed", type=non_negative_int, default=1234, help="seed of the crops and masks (default 1234)")
    ev.add_argument("--json", action="store_true", help="print the results as JSON (strict: no Infinity or NaN)")
    ev.add_argument("--quiet", action="store_true", help="no progress bar")
    ev.add_argument("--max-pixels", type=positive_int, default=DEFAULT_MAX_PIXELS,
                    help=f"refuse images with more pixels than this (default {DEFAULT_MAX_PIXELS})")
    ev.set_defaults(run=_cmd_evaluate)

    demo = sub.add_parser("demo", help="punch holes in a bundled photo, fill them, write a comparison picture")
    demo.add_argument("--model", help="a checkpoint or weights file, or a bundled network: holenet (the default), "
                                      "inpaintnet")
    demo.add_argument("-o", "--output", default="deconvlab-demo.png", help="picture to write (default deconvlab-demo.png)")
    demo.add_argument("--photo", default="chelsea", choices=TEST_PHOTOS, help="which held-out photo")
    demo.set_defaults(run=_cmd_demo)

    ap = sub.add_parser("app", help="paint a mask in your browser and fill it (needs the 'app' extra)",
                        description="Serve a page (local and private: 127.0.0.1, no share link, no analytics) where "
                                    "you upload a photo, paint the holes with a brush or upload a mask, choose the "
                                    "fill and download the result.")
    ap.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this computer only)")
    ap.add_argument("--port", type=positive_int, help="port (default: the first free one from 7860)")
    ap.add_argument("--max-pixels", type=positive_int, default=DEFAULT_MAX_PIXELS,
                    help=f"refuse photos with more pixels than this (default {DEFAULT_MAX_PIXELS})")
    ap.set_defaults(run=_cmd_app)

    from .models import MODELS
    from .train import TrainConfig

    d = TrainConfig()
    tr = sub.add_parser("train", help="train an inpainting network from scratch (or resume)",
                        description="Train an inpainting network on random patches with random holes, from "
                                    f"scratch or (--resume) from where a run stopped; {d.steps} steps by default, "
                                    "--steps sets the length (docs/performance.md has the time a step takes). "
                                    "Options left out keep the defaults shown (or, with --resume, the "
                                    "checkpoint's settings).")
    tr.add_argument("--out", default="runs/inpaint",
                    help="folder for checkpoint.npz, history.csv, history.png (default runs/inpaint)")
    tr.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.npz")
    tr.add_argument("--overwrite", action="store_true", help="start afresh even if OUT already holds a run")
    tr.add_argument("--allow-other-data", action="store_true",
                    help="with --resume: go on although the training images differ from the checkpoint's")
    tr.add_argument("--data", help="folder of training images (default: the bundled training photos)")
    tr.add_argument("--model", choices=list(MODELS), help=f"network (default {d.model})")
    tr.add_argument("--start", choices=["mean", "harmonic"],
                    help=f"InpaintNet's starting fill of the hole, refined by the network: harmonic (the diffusion fill; works on whole photos) or mean (the known pixels' mean colour, the simplest; good on small patches only) (default {d.start})")
    tr.add_argument("--width", type=positive_int, help=f"channels of the first layer (default {d.width})")
    tr.add_argument("--steps", type=positive_int, help=f"training steps (default {d.steps})")
    tr.add_argument("--batch-size", type=positive_int, help=f"patches per step (default {d.batch_size})")
    tr.add_argument("--patch-size", type=positive_int,
                    help=f"patch side, a multiple of 8 (default {d.patch_size})")
    tr.add_argument("--optimizer", choices=["adam", "sgd"], help=f"(default {d.optimizer})")
    tr.add_argument("--lr", type=positive_float, help=f"learning rate (default {d.lr:g})")
    tr.add_argument("--momentum", type=finite_float, help=f"SGD momentum (default {d.momentum:g})")
    tr.add_argument("--schedule", choices=["cosine", "constant"], help=f"learning-rate schedule (default {d.schedule})")
    tr.add_argument("--l1-weight", type=finite_float,
                    help=f"weight of an L1 term added to the hole MSE (default {d.l1_weight:g})")
    tr.add_argument("--tv-weight", type=finite_float,
                    help=f"weight of the fill's total variation over the hole and its border (default {d.tv_weight:g})")
    tr.add_argument("--adversarial-weight", type=finite_float,
                    help="weight of the adversarial loss: a PatchGAN critic is trained beside the network to tell "
                         f"photos from fills (e.g. 0.001; default {d.adversarial_weight:g}: no critic)")
    tr.add_argument("--critic-width", type=positive_int,
                    help=f"channels of the critic's first layer (default {d.critic_width})")
    tr.add_argument("--smooth-share", type=finite_float,
                    help="share of the patches replaced by smooth versions (block means, interpolated), so the "
                         f"network learns to keep the harmonic fill on smooth areas (default {d.smooth_share:g})")
    tr.add_argument("--contrast", type=finite_float,
                    help="the HoleNets and the VAE: scale the correction by min(1, s/CONTRAST), s the visible pixels' local "
                         "contrast (RMS Laplacian), so flat and linearly shaded areas keep the harmonic fill "
                         f"(e.g. 0.02; default {d.contrast:g}: no gate)")
    tr.add_argument("--kl-weight", type=finite_float,
                    help=f"--model vae: the weight β of KL(posterior ‖ prior) against the hole MSE (default {d.kl_weight:g})")
    tr.add_argument("--kl-warmup", type=non_negative_int,
                    help=f"--model vae: β grows linearly from 0 over this many steps (default {d.kl_warmup})")
    tr.add_argument("--free-bits", type=finite_float,
                    help="--model vae: KL below this many nats per latent channel and position costs nothing, "
                         f"against posterior collapse (default {d.free_bits:g})")
    tr.add_argument("--init-from", metavar="FILE",
                    help="start from the parameters of this checkpoint or weights file (the same --model and "
                         "--width, or a holenet run for holenet-fourier, holenet-attention or vae, whose added "
                         "layers start where they change nothing; a curriculum's next stage), with a fresh optimiser")
    tr.add_argument("--ema", type=finite_float, metavar="DECAY",
                    help="also keep a moving average of the weights, a <- DECAY*a + (1 - DECAY)*weights after each "
                         "step (e.g. 0.999), written to average.npz in the run folder and scored beside the weights "
                         f"(default {d.ema:g}: none)")
    tr.add_argument("--mask-kinds", help=f"comma-separated mask kinds to train on, from {', '.join(MASK_KINDS + WHOLE_KINDS)} "
                                         f"(default all, weighted {', '.join(f'{w:g}' for w in d.mask_weights)})")
    tr.add_argument("--eval-every", type=positive_int,
                    help=f"steps between held-out evaluations (default {d.eval_every}; a run of fewer than "
                         f"{8 * d.eval_every} steps evaluates every eighth of its steps)")
    tr.add_argument("--checkpoint-every", type=positive_int,
                    help=f"steps between checkpoints (default {d.checkpoint_every})")
    tr.add_argument("--seed", type=non_negative_int, help=f"seed of the parameters, patches and masks (default {d.seed})")
    tr.add_argument("--dtype", choices=["float32", "float64"], help=f"(default {d.dtype})")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    tr.set_defaults(run=_cmd_train)

    bench = sub.add_parser("bench", help="time the kernels, a training step (against PyTorch when installed) or "
                                         "the kernels' compilation",
                           description="Time deconvlab against PyTorch (when installed) on the same arrays, in "
                                       "alternating blocks. deconvlab's kernels split a batch over as many threads "
                                       "as BLAS uses; DECONVLAB_NUM_THREADS=k sets that number, and "
                                       "OMP_NUM_THREADS=1 makes both sides single-threaded.")
    bench.add_argument("what", nargs="?", default="kernels",
                       help="what to time: 'kernels' (default, the reference layer set), 'train-step' (InpaintNet) "
                            "or 'compile' (each compiled function's seconds in a fresh process, empty cache)")
    bench.add_argument("--repeats", type=positive_int, help="timed runs (median reported; default 7)")
    bench.add_argument("--width", type=positive_int, help="InpaintNet width, train-step only (default 32)")
    bench.add_argument("--batch", type=positive_int, help="batch size (default 32)")
    bench.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                       help="kernels and compile only (default float32)")
    bench.add_argument("--json", action="store_true", help="print the results as JSON")
    bench.add_argument("--no-compile-times", action="store_true", help="skip the fresh-process compile timing")
    bench.add_argument("--blas-native", action="store_true",
                       help="run in a child process without OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, so NumPy's "
                            "OpenBLAS uses its own kernels for this CPU")
    bench.set_defaults(run=_cmd_bench)

    from .exercises.cli import add_parser as add_exercises_parser

    add_exercises_parser(sub)
    return parser


def main(argv=None):
    """Run the command line; returns the exit code (0 success, 1 failure, 2 bad arguments or input)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a bad option, already reported in one line (2)
        return 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 2
    debug = os.environ.get("DECONVLAB_DEBUG", "") not in ("", "0")
    try:
        _check_environment()
        with warnings.catch_warnings():
            if not debug:
                warnings.showwarning = _show_warning
            return args.run(args)
    except UsageError as exc:
        print(f"deconvlab {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hint = ""
        if args.command == "train":
            saved = os.path.exists(os.path.join(args.out, "checkpoint.npz"))
            hint = (f"; continue from the last checkpoint with --resume --out {args.out}" if saved else
                    "; it stopped before its first checkpoint, so there is nothing to resume")
        print(f"deconvlab {args.command}: interrupted{hint}", file=sys.stderr)
        return 130
    except Exception as exc:  # one line for the user; the traceback only on request
        if debug:
            raise
        print(f"deconvlab {args.command}: failed: {type(exc).__name__}: {_one_line(exc)}", file=sys.stderr)
        return 1


def _check_environment():
    """Settings read from the environment, checked before any work: a bad one is a usage error (exit 2)."""
    from . import parallel

    try:
        parallel.set_num_threads(None)  # read DECONVLAB_NUM_THREADS now
        parallel.thread_budget()
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _one_line(exc):
    return " ".join(line.strip() for line in str(exc).splitlines() if line.strip())


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings during a command: one line each, without the source line Python would quote."""
    print(f"deconvlab: warning: {_one_line(message)}", file=sys.stderr if file is None else file)


if __name__ == "__main__":
    sys.exit(main())
