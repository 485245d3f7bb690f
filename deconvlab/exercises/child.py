"""The process that runs a student's exercise file, and the wire format it shares with the grader; imports the
standard library and NumPy only.

The grader (``sandbox``) starts this file as a script, ``python -I -B [-S] child.py --memory BYTES --cpu SECONDS
[--fsize] [--path DIR ...]``, as the leader of a new process group, so that nothing of the grader's process is reachable from it:
not its modules (the oracle, the checks), not its signal handlers, not its exit code. Here the child

1. keeps stdin and stdout for the protocol and points file descriptors 0, 1 and 2 at /dev/null, so whatever
   the student's code prints or reads goes nowhere;
2. limits its own address space (``--memory``) and CPU time (``--cpu``), writes no core file and, with
   ``--fsize``, can write no byte to any regular file;
3. puts the ``--path`` folders first on ``sys.path`` (with ``-S`` they are all there is besides the standard
   library: the grader passes a folder that holds NumPy alone, so deconvlab, SciPy or PyTorch cannot be
   imported even by code that gets around the import guard);
4. answers requests, one frame in and one frame out, until stdin closes: ``load`` compiles the student's
   file and runs it as a module whose ``__import__`` admits only the exercise's allowed modules (and whose
   ``open`` refuses), ``call`` calls one of its functions (or a class's static method) and reports what came
   back, which argument it changed in place and which output shares memory with an argument.

Wire format (both directions): a frame is ``struct.pack(">QQ", len(header), len(body)) + header + body``; the
header is JSON, the body the raw bytes of the arrays the header points into. Values are JSON numbers, strings,
booleans, null and lists, and objects tagged with ``"$"``: ``array`` (dtype, shape, offset, nbytes; numeric
dtypes only), ``scalar`` (a NumPy number), ``tuple``, ``dict``, ``build`` (an object the child constructs:
a context for an autograd Function, a deconvlab network, an optimizer) and ``object`` (anything else, by type
name only). Nothing is ever unpickled, so a student's code cannot make the grader run anything by what it
returns.
"""
import builtins
import json
import os
import struct
import sys
import types

MAX_FRAME_BYTES = 1 << 30
MAX_DEPTH = 32
ARRAY_KINDS = frozenset("biuf")  # bool, signed and unsigned integers, floats (complex and objects are refused)

# Standard-library modules any exercise may import: arithmetic and containers, nothing that reaches the
# operating system, the interpreter or other modules.
STANDARD_MODULES = (
    "__future__", "abc", "cmath", "collections", "copy", "dataclasses", "decimal", "enum", "fractions",
    "functools", "itertools", "math", "numbers", "operator", "random", "statistics", "string", "typing",
    "warnings",
)


class Build:
    """An object the child constructs from a description: ``kind`` ("context", "context-ref", "model",
    "adam") and ``spec`` (a decoded value); ``shown`` is its name in a reproduction line (not sent)."""

    def __init__(self, kind, spec, shown=None):
        self.kind, self.spec, self.shown = kind, spec, shown


class Opaque:
    """Something that is not plain data, known by its type name only."""

    def __init__(self, type_name):
        self.type_name = type_name

    def __repr__(self):
        return f"<{self.type_name} object>"


# ---------------------------------------------------------------------------------------------- wire format

def encode(value):
    """``value`` as one frame (bytes)."""
    import numpy as np

    buffers = []
    offset = [0]

    def walk(v, depth):
        if depth > MAX_DEPTH:
            return {"$": "object", "type": "too deeply nested"}
        if isinstance(v, Build):
            return {"$": "build", "kind": v.kind, "spec": walk(v.spec, depth + 1)}
        if v is None or isinstance(v, (bool, str)):
            return v
        if type(v) in (int, float):
            return v
        if isinstance(v, np.ndarray):
            if v.dtype.kind not in ARRAY_KINDS or v.dtype.fields is not None:
                return {"$": "object", "type": f"ndarray of dtype {v.dtype}"}
            data = np.ascontiguousarray(v, dtype=v.dtype.newbyteorder("="))
            raw = data.tobytes()
            buffers.append(raw)
            entry = {"$": "array", "dtype": data.dtype.str, "shape": list(data.shape), "offset": offset[0],
                     "nbytes": len(raw)}
            offset[0] += len(raw)
            return entry
        if isinstance(v, np.generic):
            if v.dtype.kind not in ARRAY_KINDS:
                return {"$": "object", "type": type(v).__name__}
            return {"$": "scalar", "dtype": v.dtype.str, "value": v.item()}
        if isinstance(v, (int, float)):  # other subclasses of int and float
            return float(v) if isinstance(v, float) else int(v)
        if isinstance(v, tuple):
            return {"$": "tuple", "items": [walk(x, depth + 1) for x in v]}
        if isinstance(v, list):
            return [walk(x, depth + 1) for x in v]
        if isinstance(v, dict) and all(isinstance(k, str) for k in v):
            return {"$": "dict", "items": [[k, walk(x, depth + 1)] for k, x in v.items()]}
        if isinstance(v, Opaque):
            return {"$": "object", "type": v.type_name}
        return {"$": "object", "type": type(v).__name__}

    header = json.dumps(walk(value, 0)).encode("utf-8")
    body = b"".join(buffers)
    return struct.pack(">QQ", len(header), len(body)) + header + body


def frame_size(prefix):
    """The total size of the frame whose first 16 bytes are ``prefix``; ValueError if it is too large."""
    header_size, body_size = struct.unpack(">QQ", prefix)
    total = 16 + header_size + body_size
    if total > MAX_FRAME_BYTES:
        raise ValueError(f"a message of {total} bytes is larger than the limit of {MAX_FRAME_BYTES}")
    return total


def decode(frame):
    """The value a frame holds; ValueError if the frame is malformed. Arrays come back as new, writable
    arrays; unknown objects as ``Opaque``."""
    import numpy as np

    header_size, body_size = struct.unpack(">QQ", frame[:16])
    if len(frame) != 16 + header_size + body_size:
        raise ValueError("truncated message")
    header = json.loads(frame[16:16 + header_size].decode("utf-8"))
    body = memoryview(frame)[16 + header_size:]

    def walk(v, depth):
        if depth > MAX_DEPTH:
            raise ValueError("message nested too deeply")
        if isinstance(v, list):
            return [walk(x, depth + 1) for x in v]
        if not isinstance(v, dict):
            return v
        tag = v.get("$")
        if tag == "array":
            dtype = np.dtype(v["dtype"])
            shape = tuple(int(n) for n in v["shape"])
            start, nbytes = int(v["offset"]), int(v["nbytes"])
            count = 1
            for n in shape:
                if n < 0:
                    raise ValueError(f"negative array dimension in {shape}")
                count *= n
            if dtype.kind not in ARRAY_KINDS or count * dtype.itemsize != nbytes or not 0 <= start <= len(body) - nbytes:
                raise ValueError(f"malformed array of dtype {dtype} and shape {shape}")
            return np.frombuffer(body, dtype=dtype, count=count, offset=start).reshape(shape).copy()
        if tag == "scalar":
            dtype = np.dtype(v["dtype"])
            if dtype.kind not in ARRAY_KINDS:
                raise ValueError(f"malformed scalar of dtype {dtype}")
            return dtype.type(v["value"])
        if tag == "tuple":
            return tuple(walk(x, depth + 1) for x in v["items"])
        if tag == "dict":
            return {str(k): walk(x, depth + 1) for k, x in v["items"]}
        if tag == "build":
            return Build(str(v["kind"]), walk(v["spec"], depth + 1))
        if tag == "object":
            return Opaque(str(v["type"]))
        raise ValueError(f"unknown value tag {tag!r}")

    return walk(header, 0)


def read_frame(stream):
    """One frame from a blocking binary stream, or None at its end."""
    prefix = stream.read(16)
    if len(prefix) < 16:
        return None
    rest = frame_size(prefix) - 16
    data = stream.read(rest)
    if len(data) < rest:
        return None
    return prefix + data


# ---------------------------------------------------------------------------------------------- the guard

def allowed_import(name, fromlist, allowed):
    """Whether ``import name`` (or ``from name import fromlist``) is admitted by the module names ``allowed``
    (an allowed name admits its submodules too)."""

    def admitted(module):
        return any(module == a or module.startswith(a + ".") for a in allowed)

    if admitted(name):
        return True
    return bool(fromlist) and all(admitted(f"{name}.{item}") for item in fromlist)


def restricted_builtins(exercise, allowed):
    """The builtins of a student's module: Python's, with ``__import__`` admitting only ``allowed`` modules and
    ``open`` and ``breakpoint`` refusing."""
    real_import = builtins.__import__
    listed = ", ".join(a for a in allowed if a not in STANDARD_MODULES)

    def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level:
            raise ImportError(f"{exercise}.py may not use a relative import (from . import ...): the exercise "
                              "is one file")
        if not allowed_import(name, fromlist, allowed):
            what = name if not fromlist else f"{', '.join(fromlist)} from {name}"
            raise ImportError(f"{exercise}.py may not import {what}: this exercise may use only {listed} (and "
                              "standard modules for arithmetic, such as math); write the computation yourself")
        return real_import(name, globals, locals, fromlist, level)

    def refused(*args, **kwargs):
        raise PermissionError(f"{exercise}.py may not open files or start a debugger while it is graded")

    table = dict(vars(builtins))
    table.update(__import__=guarded_import, open=refused, breakpoint=refused)
    return table


# ---------------------------------------------------------------------------------------------- the requests

class Context:
    """What a student's Function.forward leaves for its backward: any attributes, plus ``needs_input_grad``."""

    def __init__(self, needs_input_grad):
        self.needs_input_grad = tuple(needs_input_grad)


def _error_text(exc):
    text = str(exc).strip()
    text = text if len(text) <= 600 else text[:600] + " ..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _arrays(value, path="", depth=0):
    """(path, array) for every array inside nested tuples, lists and dicts."""
    import numpy as np

    if depth > MAX_DEPTH:
        return
    if isinstance(value, np.ndarray):
        yield path, value
    elif isinstance(value, (tuple, list)):
        for i, item in enumerate(value):
            yield from _arrays(item, f"{path}[{i}]", depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _arrays(item, f"{path}[{key!r}]", depth + 1)


class Handler:
    """The state of the child between requests: the student's module, the contexts of Function calls."""

    def __init__(self):
        self.module = None
        self.contexts = {}

    def handle(self, request):
        op = request.get("op") if isinstance(request, dict) else None
        if op == "load":
            return self.load(request["path"], request["exercise"], tuple(request["allowed"]), request["wanted"])
        if op == "call":
            return self.call(request)
        return {"ok": False, "error": f"unknown request {op!r}"}

    def load(self, path, exercise, allowed, wanted):
        try:
            with builtins.open(path, encoding="utf-8") as handle:
                source = handle.read()
            code = compile(source, path, "exec")
            module = types.ModuleType(exercise)
            module.__file__ = path
            module.__builtins__ = restricted_builtins(exercise, allowed)
            exec(code, module.__dict__)
        except BaseException as exc:  # whatever the file does on import is the student's failure, not ours
            return {"ok": False, "error": _error_text(exc)}
        self.module = module
        defined = {}
        for name in wanted:
            obj = getattr(module, name, None)
            defined[name] = "missing" if obj is None else ("callable" if callable(obj) else "not callable")
        return {"ok": True, "defined": defined}

    def _target(self, name):
        obj = self.module
        for part in name.split("."):
            obj = getattr(obj, part)
        return obj

    def _build(self, value, built):
        if isinstance(value, Build):
            if value.kind == "context":
                ctx = Context(value.spec["needs_input_grad"])
                if value.spec.get("keep"):
                    self.contexts[int(value.spec["id"])] = ctx
                return ctx
            if value.kind == "context-ref":
                return self.contexts.pop(int(value.spec))
            if value.kind == "model":
                from deconvlab import nn

                layers = [getattr(nn, name)(*args, **kwargs) for name, args, kwargs in value.spec["layers"]]
                model = nn.Sequential(*layers)
                model.load_state_dict(value.spec["state"])
                built.append(model)
                return model
            if value.kind == "adam":
                from deconvlab import optim

                return optim.Adam(built[int(value.spec["model"])].parameters(), lr=float(value.spec["lr"]))
            raise ValueError(f"cannot build a {value.kind!r}")
        if isinstance(value, list):
            return [self._build(v, built) for v in value]
        if isinstance(value, tuple):
            return tuple(self._build(v, built) for v in value)
        if isinstance(value, dict):
            return {k: self._build(v, built) for k, v in value.items()}
        return value

    def call(self, request):
        built = []
        args = self._build(request["args"], built)
        kwargs = self._build(request["kwargs"], built)
        inputs = list(_arrays(args, "args")) + list(_arrays(kwargs, "kwargs"))
        if request.get("readonly"):
            for _, array in inputs:
                array.flags.writeable = False
        before = [encode(a) for a in args], {k: encode(v) for k, v in kwargs.items()}
        try:
            function = self._target(request["target"])
            result = function(*args, **kwargs)
        except BaseException as exc:  # SystemExit, KeyboardInterrupt and the rest: all the student's
            return {"ok": False, "error": _error_text(exc)}
        import numpy as np

        modified = [i for i, a in enumerate(args) if encode(a) != before[0][i]]
        modified += [k for k, v in kwargs.items() if encode(v) != before[1][k]]
        aliases = []
        for out_path, out in _arrays(result, "result"):
            for in_path, array in inputs:
                if np.may_share_memory(out, array) and np.shares_memory(out, array, max_work=10**6):
                    aliases.append([out_path, in_path])
        reply = {"ok": True, "result": result, "modified": modified, "aliases": aliases}
        if built:
            reply["states"] = [{k: v for k, v in model.state_dict().items()} for model in built]
        return reply


# ---------------------------------------------------------------------------------------------- main

def _set_limits(memory, cpu, fsize):
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if memory:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    if cpu:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    if fsize:
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))


def _options(argv):
    memory = cpu = 0
    fsize, paths = False, []
    i = 0
    while i < len(argv):
        if argv[i] == "--memory":
            memory, i = int(argv[i + 1]), i + 2
        elif argv[i] == "--cpu":
            cpu, i = int(argv[i + 1]), i + 2
        elif argv[i] == "--path":
            paths.append(argv[i + 1])
            i += 2
        elif argv[i] == "--fsize":
            fsize, i = True, i + 1
        else:
            raise SystemExit(f"child.py: unknown option {argv[i]!r}")
    return memory, cpu, fsize, paths


def main(argv):
    memory, cpu, fsize, paths = _options(argv)
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    sys.stdin = builtins.open(os.devnull)
    sys.stdout = sys.stderr = builtins.open(os.devnull, "w")
    _set_limits(memory, cpu, fsize)
    sys.path[:0] = paths
    import numpy  # noqa: F401  (before any student code, so that NumPy's own imports are not guarded)

    handler = Handler()
    while True:
        frame = read_frame(requests)
        if frame is None:
            return 0
        try:
            reply = handler.handle(decode(frame))
        except Exception as exc:  # a malformed request is the grader's bug: say so instead of dying
            reply = {"ok": False, "error": f"the grader sent a request the child cannot read: {_error_text(exc)}"}
        try:
            data = encode(reply)
        except Exception as exc:
            data = encode({"ok": False, "error": f"the result cannot be sent back: {_error_text(exc)}"})
        replies.write(data)
        replies.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
