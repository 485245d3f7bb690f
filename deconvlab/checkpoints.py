"""The file formats of trained networks: training checkpoints and inference-only weights files; imports models
and _files.

Both are ``.npz`` archives (NumPy's zip of ``.npy`` arrays, read with ``allow_pickle=False``) holding the model's
parameters as ``model/<state_dict key>`` and a ``meta`` entry, UTF-8 JSON as a uint8 array:

- ``deconvlab-weights-1`` (what ships in the package): meta = {format, step, config, history}; the
  parameters may be stored in float16 (``save_weights(..., storage_dtype="float16")``: half the file).
- ``deconvlab-checkpoint-1`` (what ``deconvlab train`` writes and resumes from): the weights' entries plus the
  optimiser's arrays as ``optim/<param index>/<name>``, and in meta its scalars (``optim_scalars``), its
  ``param_groups``, the scheduler's state, the random generators' states (``rngs``) and the per-step values
  gathered since the last history entry (``pending``).

``config`` is the training run's settings (``train.TrainConfig`` as a dict); the network is rebuilt from its
``model``, ``width``, ``start`` and ``dtype`` (files written before ``start`` existed hold mean-start
networks). Every file is written atomically (``_files.atomic_write``).
"""
import dataclasses
import json
import os
import zipfile

import numpy as np

from . import models
from ._files import atomic_write

CHECKPOINT_FORMAT = "deconvlab-checkpoint-1"
WEIGHTS_FORMAT = "deconvlab-weights-1"


def _config_dict(config):
    """A run's settings as a plain dict (a dataclass such as ``train.TrainConfig``, or a dict)."""
    return dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)


def _write_npz(path, arrays, meta):
    arrays = dict(arrays, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    atomic_write(path, lambda f: np.savez(f, **arrays), make_folder=True)


def _optimizer_entries(prefix, optimizer):
    """An optimiser's state as npz arrays (``prefix``/idx/name) and JSON scalars ("idx/name"), and its groups."""
    opt_state = optimizer.state_dict()
    arrays, scalars = {}, {}
    for idx, entries in opt_state["state"].items():
        for name, value in entries.items():
            if isinstance(value, np.ndarray):
                arrays[f"{prefix}/{idx}/{name}"] = value
            else:
                scalars[f"{idx}/{name}"] = value.item() if hasattr(value, "item") else value
    return arrays, scalars, opt_state["param_groups"]


def save_checkpoint(path, model, optimizer, scheduler, step, rngs, history, config, pending=None, run=None,
                    parts=None):
    """Save everything needed to resume (atomically): parameters, optimiser/scheduler state, generators, history,
    and ``pending``: the per-step values gathered since the last history entry (so a resumed run logs the same).

    ``rngs`` maps names to ``numpy.random.Generator``s; ``config`` is the run's settings (dataclass or dict);
    ``run`` a dict of facts about the run checked on resume (the training data's digest, the thread count);
    ``parts`` maps names to (module, optimizer) pairs trained beside the model (the adversarial critic; the
    optimizer None for a module that has none, like the weight average), read back with ``load_checkpoint_part``.
    """
    arrays = {f"model/{k}": v for k, v in model.state_dict().items()}
    optim_arrays, scalars, groups = _optimizer_entries("optim", optimizer)
    arrays.update(optim_arrays)
    extra = {}
    for name, (module, part_optimizer) in (parts or {}).items():
        arrays.update({f"part/{name}/model/{k}": v for k, v in module.state_dict().items()})
        part_arrays, part_scalars, part_groups = ({}, {}, []) if part_optimizer is None else \
            _optimizer_entries(f"part/{name}/optim", part_optimizer)
        arrays.update(part_arrays)
        extra[name] = {"optim_scalars": part_scalars, "param_groups": part_groups}
    meta = dict(
        format=CHECKPOINT_FORMAT,
        step=int(step),
        config=_config_dict(config),
        param_groups=groups,
        optim_scalars=scalars,
        scheduler=scheduler.state_dict() if scheduler is not None else None,
        rngs={name: g.bit_generator.state for name, g in rngs.items()},
        history=history,
        pending=pending or {},
        run=run or {},
    )
    if extra:
        meta["parts"] = extra
    _write_npz(path, arrays, meta)


MAX_ARRAY_BYTES = 1 << 30
"""The most a checkpoint or weights file may hold, in bytes of arrays (read from the archive's headers before
any array is read)."""
MAX_META_BYTES = 1 << 24


def _member_sizes(path):
    """{member name: bytes of its array} from the .npy headers inside the archive (nothing else is read);
    ValueError naming ``path`` for a member deconvlab's formats do not have, or too many bytes."""
    sizes = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            if name != "meta" and not name.startswith(("model/", "optim/", "part/")):
                raise ValueError(f"{path!r} holds {info.filename!r}, which no deconvlab file has")
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                shape, _, dtype = (np.lib.format.read_array_header_1_0(member) if version == (1, 0)
                                   else np.lib.format.read_array_header_2_0(member))
            sizes[name] = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if sizes.get("meta", 0) > MAX_META_BYTES or sum(sizes.values()) > MAX_ARRAY_BYTES:
        raise ValueError(f"{path!r} holds {sum(sizes.values())} bytes of arrays, more than a deconvlab network has "
                         f"(at most {MAX_ARRAY_BYTES})")
    return sizes


def read_npz(path, formats):
    """The arrays and the meta dict of a file of one of ``formats``; FileNotFoundError when missing, ValueError
    naming the path when it is not such a file (not a regular file, truncated, foreign, damaged, members it
    should not have, too large)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path!r} does not exist")
    expected = " or ".join(repr(f) for f in formats)
    if not os.path.isfile(path):
        raise ValueError(f"{path!r} is not a regular file, so not a deconvlab file ({expected})")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic not in (b"PK\x03\x04", b"PK\x05\x06"):
        raise ValueError(
            f"{path!r} is not an .npz archive (it starts with {magic!r}), so not a deconvlab file ({expected})"
        )
    try:
        _member_sizes(path)
        with np.load(path, allow_pickle=False) as z:
            files = {k: z[k] for k in z.files}
    except ValueError as exc:
        if str(exc).startswith(repr(path)):
            raise
        raise ValueError(f"{path!r} is not a readable deconvlab checkpoint or weights file, it may be truncated "
                         f"(ValueError: {exc})") from None
    except Exception as exc:
        raise ValueError(
            f"{path!r} is not a readable deconvlab checkpoint or weights file, it may be truncated "
            f"({type(exc).__name__}: {exc})"
        ) from None
    if "meta" not in files:
        raise ValueError(
            f"{path!r} is an .npz archive without the 'meta' entry of a deconvlab file (format {expected})"
        )
    try:
        meta = json.loads(files.pop("meta").tobytes().decode())
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(
            f"{path!r} has a 'meta' entry that is not deconvlab's JSON ({type(exc).__name__}: {exc})"
        ) from None
    if not isinstance(meta, dict) or meta.get("format") not in formats:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise ValueError(f"{path!r} has format {found!r}, expected {expected}")
    missing = [k for k in ("step", "config", "history") if k not in meta]
    if missing:
        raise ValueError(f"{path!r} lacks the entries {missing} of format {meta['format']!r}")
    _check_meta(path, meta)
    for key, value in files.items():
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise ValueError(f"{path!r} holds NaN or infinite numbers in {key!r}; it is not a usable network")
    return files, meta


HISTORY_FIELDS = ("step", "seconds", "loss", "grad_norm", "center_hole_psnr")
"""The fields of one history entry (one line of history.csv)."""
OPTIONAL_HISTORY_FIELDS = ("average_center_hole_psnr",)
"""Fields an entry may have besides: the weight average's score (a run with ``ema``)."""


def _check_meta(path, meta):
    """ValueError naming ``path`` unless the step is a non-negative integer and the history a list of entries
    with exactly HISTORY_FIELDS (and perhaps some of OPTIONAL_HISTORY_FIELDS), each a finite number (what
    history.csv is written from)."""
    step = meta["step"]
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"{path!r} has step {step!r}; expected a non-negative integer")
    history = meta["history"]
    if not isinstance(history, list):
        raise ValueError(f"{path!r} has a history of type {type(history).__name__}; expected a list")
    for entry in history:
        if not isinstance(entry, dict) or not set(HISTORY_FIELDS) <= set(entry) <= set(
                HISTORY_FIELDS + OPTIONAL_HISTORY_FIELDS) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in entry.values()):
            raise ValueError(f"{path!r} has a history entry {str(entry)[:80]!r}; expected the numbers "
                             f"{', '.join(HISTORY_FIELDS)}")


def load_checkpoint(path):
    """Read a checkpoint written by ``save_checkpoint``: (meta dict, model arrays, optimiser state dict).

    A missing file is FileNotFoundError; a truncated or foreign one is a ValueError naming the path.
    """
    files, meta = read_npz(path, (CHECKPOINT_FORMAT,))
    model_state = {k[len("model/"):]: v for k, v in files.items() if k.startswith("model/")}
    missing = [k for k in ("optim_scalars", "param_groups", "rngs", "scheduler") if k not in meta]
    if missing or not isinstance(meta["rngs"], dict) or set(meta["rngs"]) != {"sampler", "train"}:
        raise ValueError(f"{path!r} is a damaged deconvlab checkpoint (meta lacks {missing or ['rngs']})")
    state = _optimizer_state(path, files, "optim/", meta["optim_scalars"])
    return meta, model_state, {"state": state, "param_groups": meta["param_groups"]}


def _optimizer_state(path, files, prefix, scalars):
    """The optimiser state dict's "state" from a checkpoint's arrays under ``prefix`` and its JSON scalars."""
    state = {}
    try:
        for key, value in files.items():
            if key.startswith(prefix):
                idx, name = key[len(prefix):].split("/", 1)
                state.setdefault(int(idx), {})[name] = value
        for key, value in scalars.items():
            idx, name = key.split("/", 1)
            state.setdefault(int(idx), {})[name] = value
    except (AttributeError, TypeError, ValueError) as exc:
        raise ValueError(f"{path!r} is a damaged deconvlab checkpoint ({type(exc).__name__}: {exc})") from None
    return state


def load_checkpoint_part(path, name):
    """(module arrays, optimiser state dict) of the part ``name`` saved beside the model (``save_checkpoint``'s
    ``parts``), or None when the checkpoint has no such part. Errors as ``load_checkpoint``'s."""
    files, meta = read_npz(path, (CHECKPOINT_FORMAT,))
    parts = meta.get("parts") or {}
    if name not in parts:
        return None
    entry = parts[name]
    if not isinstance(entry, dict) or not {"optim_scalars", "param_groups"} <= set(entry):
        raise ValueError(f"{path!r} is a damaged deconvlab checkpoint (part {name!r})")
    prefix = f"part/{name}/"
    module_state = {k[len(prefix) + len("model/"):]: v for k, v in files.items() if k.startswith(prefix + "model/")}
    state = _optimizer_state(path, files, prefix + "optim/", entry["optim_scalars"])
    return module_state, {"state": state, "param_groups": entry["param_groups"]}


def save_weights(path, model, config, history=(), step=0, storage_dtype=None):
    """Save a model for inference only (parameters, settings, training history), atomically: the shipped format.

    ``config`` is the settings it was trained with (dataclass or dict). ``storage_dtype="float16"`` stores the
    parameters rounded to half precision (half the file; ``load_model`` converts them back to the model's
    dtype); a parameter outside float16's range is a ValueError.
    """
    arrays = {f"model/{k}": v for k, v in model.state_dict().items()}
    if storage_dtype is not None:
        if np.dtype(storage_dtype) not in (np.float16, np.float32, np.float64):
            raise ValueError(f"save_weights: storage_dtype must be float16, float32 or float64, got {storage_dtype!r}")
        for key, value in arrays.items():
            with np.errstate(over="ignore"):
                arrays[key] = value.astype(storage_dtype)
            if not np.isfinite(arrays[key]).all():
                raise ValueError(f"save_weights: {key!r} does not fit in {storage_dtype} (largest |value| "
                                 f"{np.abs(value).max():.3g})")
    meta = dict(format=WEIGHTS_FORMAT, step=int(step), config=_config_dict(config), history=list(history))
    _write_npz(path, arrays, meta)


def export_weights(checkpoint_path, weights_path, storage_dtype=None):
    """Turn a training checkpoint into a weights file (drops the optimiser state; see ``save_weights``)."""
    model = load_model(checkpoint_path)
    meta = read_npz(checkpoint_path, (CHECKPOINT_FORMAT,))[1]
    save_weights(weights_path, model, meta["config"], meta["history"], meta["step"], storage_dtype)


def build_from_meta(meta, parameters=None):
    """A fresh network of the kind a file's meta describes (``models.build`` with its config's model, width,
    start and dtype; a file without ``start`` holds a mean-start network). Raises ValueError or TypeError
    when the settings describe no network, or (with ``parameters``, the number of parameter values the file
    holds) a network of another size — checked before any parameter is allocated."""
    config = meta["config"]
    if not isinstance(config, dict):
        raise TypeError(f"config is a {type(config).__name__}, expected a dict of settings")
    if parameters is not None:
        wanted = models.parameter_count(config.get("model", "inpaintnet"), config.get("width", 32))
        if wanted != parameters:
            raise ValueError(f"its settings describe a network of {wanted} parameters, its arrays hold {parameters}")
    return models.build(config.get("model", "inpaintnet"), width=config.get("width", 32),
                        start=config.get("start", "mean"), dtype=config.get("dtype", "float32"),
                        seed=config.get("seed", 0), contrast=config.get("contrast", 0.0))


def load_model(path):
    """The model stored in a checkpoint or weights file, in eval mode (for inference)."""
    files, meta = read_npz(path, (CHECKPOINT_FORMAT, WEIGHTS_FORMAT))
    try:
        model = build_from_meta(meta, sum(v.size for k, v in files.items() if k.startswith("model/")))
    except (AttributeError, TypeError, ValueError) as exc:
        raise ValueError(f"{path!r} describes no model deconvlab can build: {exc}") from None
    try:
        dtype = models.model_dtype(model)  # weights may be stored in float16 (save_weights)
        model.load_state_dict({k[len("model/"):]: v.astype(dtype) if v.dtype == np.float16 else v
                               for k, v in files.items() if k.startswith("model/")})
    except (RuntimeError, ValueError) as exc:
        detail = "; ".join(line.strip() for line in str(exc).splitlines())
        raise ValueError(f"{path!r} holds parameters that do not fit its own model: {detail}") from None
    model.eval()
    return model
