"""How a graded property is written and run: ``@check``, the input variants, and ``Case``; imports NumPy,
Hypothesis, ``catalogue`` and ``sandbox``.

A check is a function ``f(case, **drawn)`` registered with ``@check(exercise, **strategies)``. Each example
gets a fresh ``Case``: the check draws its inputs from it (``case.normal``, ``case.given``, ``case.mask``),
computes what the answer must be from its own float64 copies (``case.f64``; the student's code only ever
sees copies sent to another process, so it cannot change the grader's), calls the student's code through it
(``case.call``) and compares (``case.array``, ``case.close``). A property (a check with strategies) runs as a
Hypothesis property: bounded, derandomized (a score does not change between runs), no deadline, no database.

Every check runs once per input variant of its exercise (``ARRAY_VARIANTS`` unless it says otherwise): float64,
float32, integer-valued int64 (every other array argument, so integers meet floats) and read-only float64
arrays, with masks of dtype float64, float32, int64 and bool respectively. On every call the grader also
fails the check if the function changed an argument in place or returned an array that shares memory with an
argument. A failure is a ``CheckFailed`` whose message says what was wrong, with which input variant, and
ends with one line that reproduces it: the seed, the inputs and the call, runnable in the student's folder.
"""
import inspect
from collections import OrderedDict

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Flaky

from ..catalogue import BY_NAME
from ..sandbox import CheckTimeout, ChildEnded

EXAMPLES = 8  # examples per variant of a property check (Hypothesis's explicit and generated phases)
LITERAL_SIZE = 32  # arrays up to this many elements are written out in a reproduction


class CheckFailed(AssertionError):
    """A graded property does not hold; the message says how and ends with a reproduction."""


class Variant:
    """One way of presenting a check's inputs: dtype of drawn arrays (``dtype``), integer-valued arrays for
    every other draw (``integers``), read-only arrays (``readonly``), the masks' dtype (``mask_dtype``) and the
    relative tolerance of comparisons (``rtol``)."""

    def __init__(self, name, description, rtol=1e-8, dtype=np.float64, integers=False, readonly=False,
                 mask_dtype=np.float64):
        self.name, self.description, self.rtol = name, description, rtol
        self.dtype, self.integers, self.readonly = np.dtype(dtype), integers, readonly
        self.mask_dtype = np.dtype(mask_dtype)

    def __repr__(self):
        return f"<Variant {self.name}>"


FLOAT64 = Variant("float64", "float64 inputs")
FLOAT32 = Variant("float32", "float32 inputs", rtol=1e-4, dtype=np.float32, mask_dtype=np.float32)
INTEGER = Variant("integer", "integer inputs (int64 arrays among float64 ones)", integers=True, mask_dtype=np.int64)
READ_ONLY = Variant("read-only", "read-only inputs", readonly=True, mask_dtype=bool)
ARRAY_VARIANTS = (FLOAT64, FLOAT32, INTEGER, READ_ONLY)
FLOAT_VARIANTS = (FLOAT64, FLOAT32, READ_ONLY)  # where inputs must be floats (tensors of an autograd)


def _dtype_name(dtype):
    return "bool" if dtype == np.dtype(bool) else f"np.{dtype.name}"


def literal(array):
    """Python text that rebuilds ``array`` exactly (NumPy prints floats with every digit): a ``np.full`` for a
    constant array, the elements for a small one; None for a large, varied one."""
    array = np.asarray(array)
    dtype = "" if array.dtype == np.float64 else f", dtype={_dtype_name(array.dtype)}"
    if array.size and np.all(array == array.flat[0]):
        return f"np.full({array.shape}, {array.flat[0].item()!r}{dtype})"
    if array.size <= LITERAL_SIZE:
        return f"np.array({array.tolist()!r}{dtype})"
    return None


class Student:
    """The student's file, running in a ``sandbox.Sandbox``, as the checks see it: ``exercise``, the names it
    defines and the wall-clock ``deadline`` of the running check."""

    def __init__(self, sandbox, exercise, deadline):
        self.sandbox, self.exercise, self.deadline = sandbox, exercise, deadline
        self.defined = sandbox.defined
        self.contexts = 0  # ids for the contexts of autograd Functions kept in the child


class Case:
    """One example of a check: its inputs, its calls to the student's code and how to reproduce them."""

    def __init__(self, student, variant, seed=0):
        self.student, self.variant, self.seed = student, variant, seed
        self.rng = np.random.default_rng(seed)
        self._statements = []  # the reproduction's set-up, in order
        self._names = {}  # id(array) -> its name in the reproduction
        self._keep = []  # the registered arrays (so that their ids stay theirs)
        self._draws = 0
        self._calls = []  # the calls made, as text
        self.reproduction = None  # set by a check whose calls are better described another way
        self.own_setup = False  # True: the reproduction builds its own inputs
        self.last_reply = None  # the child's last answer (the trained weights, for the training loop)

    # ------------------------------------------------------------------------------------- inputs

    def _register(self, name, array, text):
        self._names[id(array)] = name
        self._keep.append(array)
        self._statements.append(f"{name} = {text}")
        return array

    def normal(self, name, shape):
        """Standard normal values of ``shape`` from the example's generator, as the variant presents them."""
        if not self._draws:
            self._statements.append(f"rng = np.random.default_rng({self.seed})")
        base = self.rng.standard_normal(shape)
        text = f"rng.standard_normal({tuple(shape)!r})"
        integer = self.variant.integers and self._draws % 2 == 0
        self._draws += 1
        if integer:
            return self._register(name, np.rint(3 * base).astype(np.int64), f"np.rint(3 * {text}).astype(np.int64)")
        if self.variant.dtype != np.float64:
            return self._register(name, base.astype(self.variant.dtype), f"{text}.astype({_dtype_name(self.variant.dtype)})")
        return self._register(name, base, text)

    def given(self, name, array, text=None):
        """An input the check builds (a delta kernel, ones, a derived array), as the variant presents it:
        float32 for the float32 variant, int64 for the integer one when its values are integers."""
        array = np.asarray(array)
        if self.variant.dtype != np.float64 and array.dtype.kind == "f":
            array = array.astype(self.variant.dtype)
        elif self.variant.integers and array.dtype.kind == "f" and np.all(array == np.rint(array)):
            array = array.astype(np.int64)
        else:
            array = array.copy()
        shown = literal(array)
        if shown is None:
            shown = text or f"np.zeros({array.shape})  # an array of the grader's, not shown"
        return self._register(name, array, shown)

    def mask(self, name, holes):
        """A mask (True/1 = missing) in the variant's mask dtype."""
        return self.given(name, np.asarray(holes, dtype=bool).astype(self.variant.mask_dtype))

    def setup(self, statement):
        """A line of the reproduction that defines something other than an array (a parameter)."""
        self._statements.append(statement)

    @staticmethod
    def f64(array):
        """The grader's own float64 copy of an input, for computing what the answer must be."""
        return np.array(array, dtype=np.float64)

    # ------------------------------------------------------------------------------------- calls

    def _text(self, value):
        if isinstance(value, np.ndarray):
            if id(value) in self._names:
                return self._names[id(value)]
            return literal(value) or f"<an array of shape {value.shape}>"
        if isinstance(value, (tuple, list)) and not isinstance(value, str):
            inner = ", ".join(self._text(v) for v in value)
            return f"({inner},)" if isinstance(value, tuple) and len(value) == 1 else (
                f"({inner})" if isinstance(value, tuple) else f"[{inner}]")
        if getattr(value, "shown", None):
            return value.shown
        return repr(value)

    def call(self, target, *args, **kwargs):
        """Call the student's ``target`` (a function name, or "Class.method") in the child; returns what it
        returned (arrays, numbers, tuples, lists; other objects as ``child.Opaque``). CheckFailed if it does not
        exist, raises, changes an argument in place or returns an argument's memory."""
        top = target.split(".")[0]
        if self.student.defined.get(top) != "callable":
            self._calls.append(f"from {self.student.exercise} import {top}")
            missing = "defines no" if self.student.defined.get(top, "missing") == "missing" else "has a non-callable"
            self.fail(f"{self.student.exercise}.py {missing} {top!r}", variant=False)
        names = [self._text(a) for a in args] + [f"{k}={self._text(v)}" for k, v in kwargs.items()]
        text = f"{target}({', '.join(names)})"
        if text not in self._calls:
            self._calls.append(text)
        request = {"op": "call", "target": target, "args": list(args), "kwargs": kwargs,
                   "readonly": self.variant.readonly}
        try:
            reply = self.student.sandbox.request(request, self.student.deadline)
        except (CheckTimeout, ChildEnded) as stop:
            stop.call, stop.reproduction = text, self.reproduce()
            raise
        if not reply.get("ok"):
            error = str(reply.get("error"))
            hint = ""
            if self.variant.readonly and "read-only" in error:
                hint = " (the inputs were read-only: the function writes into an argument)"
            self.fail(f"{text} raised {error}{hint}")
        for where in reply.get("modified", []):
            self.fail(f"{text} changed its argument {self._argument(where, args)} in place; it must leave "
                      "its inputs as they were (work on a copy)")
        for out, source in reply.get("aliases", []):
            shown = "an array" if out == "result" else f"an array (result{out[6:]})"
            self.fail(f"{text} returned {shown} that shares memory with its argument {self._argument(source, args)}: "
                      "return a new array (.copy()), not a view of the caller's data")
        self.last_reply = reply
        return reply["result"]

    def _argument(self, where, args):
        if isinstance(where, int):
            return self._text(args[where]) if where < len(args) else f"#{where}"
        if isinstance(where, str) and where.startswith("args["):
            index = int(where[5:].split("]")[0])
            return self._text(args[index]) if index < len(args) else where
        return str(where).replace("kwargs[", "").replace("]", "").strip("'")

    # ------------------------------------------------------------------------------------- verdicts

    def reproduce(self):
        """One line of Python that repeats this example's calls, in the folder of the student's file."""
        names = sorted({c.split("(")[0].split(".")[0] for c in self._calls if not c.startswith("from ")})
        parts = ["import numpy as np"]
        if names:
            parts.append(f"from {self.student.exercise} import {', '.join(names)}")
        if self.reproduction and self.own_setup:
            return "; ".join(parts + [self.reproduction])
        parts += self._statements
        if self.variant.readonly:
            arrays = [n for n in self._names.values()]
            if arrays:
                parts.append(f"[a.setflags(write=False) for a in ({', '.join(arrays)},)]")
        if self.reproduction:
            parts.append(self.reproduction)
        else:
            calls = [c for c in self._calls if not c.startswith("from ")]
            parts += [f"print({c})" for c in calls[:3]] + ([f"...  ({len(calls) - 3} more calls)"] if len(calls) > 3 else [])
        return "; ".join(parts)

    def fail(self, message, variant=True):
        """Raise CheckFailed: ``message``, the variant, and the reproduction on a line of its own."""
        with_variant = f" (with {self.variant.description})" if variant and self.variant is not FLOAT64 else ""
        raise CheckFailed(f"{message}{with_variant}\nreproduce: {self.reproduce()}")

    def array(self, value, what, shape, dtype=np.float64):
        """The student's result as an array of ``shape`` and ``dtype`` (any numeric dtype, returned as float64,
        when ``dtype`` is None), or CheckFailed."""
        if value is None:
            self.fail(f"{what} returned None; expected an array of shape {tuple(shape)}")
        if not isinstance(value, (np.ndarray, list, tuple, int, float, np.generic)):
            self.fail(f"{what} returned a {getattr(value, 'type_name', type(value).__name__)}, not an array")
        try:
            array = np.asarray(value)
        except (TypeError, ValueError):
            self.fail(f"{what} returned a {type(value).__name__} that is not an array of numbers")
        if array.dtype.kind not in "biuf":
            self.fail(f"{what} returned an array of dtype {array.dtype}, not of numbers")
        if array.shape != tuple(shape):
            self.fail(f"{what} returned shape {array.shape}; expected {tuple(shape)}")
        if dtype is not None and isinstance(value, np.ndarray) and array.dtype != np.dtype(dtype):
            if array.dtype.kind in "biu":
                why = "an integer result has lost every fraction (an accumulator made like an integer input?)"
            elif np.dtype(dtype) == np.float64:
                why = "compute in float64 whatever the inputs' dtype"
            else:
                why = f"keep the inputs' dtype, {np.dtype(dtype)}"
            self.fail(f"{what} returned an array of dtype {array.dtype}; expected {np.dtype(dtype)}: {why}")
        return array.astype(np.float64 if dtype is None else dtype)

    def scalar(self, value, what):
        """The student's result as a float, or CheckFailed."""
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            if isinstance(value, np.ndarray) and value.size == 1:
                return float(value.reshape(()))
            self.fail(f"{what} returned {getattr(value, 'type_name', type(value).__name__)}; expected a number")
        return float(value)

    def close(self, actual, expected, what, rtol=None):
        """actual == expected up to ``rtol`` (the variant's by default) relative to the largest expected
        magnitude (1 at least); CheckFailed naming the worst element."""
        actual = np.asarray(actual, dtype=np.float64)
        expected = np.asarray(expected, dtype=np.float64)
        rtol = self.variant.rtol if rtol is None else rtol
        tolerance = rtol * max(1.0, float(np.max(np.abs(expected), initial=0.0)))
        diff = np.abs(actual - expected)
        if not np.all(diff <= tolerance):
            diff = np.where(np.isnan(diff), np.inf, diff)
            index = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.ndim else ()
            where = f" at index {tuple(int(i) for i in index)}" if index else ""
            self.fail(f"{what}: largest difference {float(diff[index]):.3g}{where}: got {float(actual[index]):.6g}, "
                      f"expected {float(expected[index]):.6g} (allowed {tolerance:.1g})")


def rel_error(a, b):
    """|a − b| / max(|a|, |b|, 1e-12)."""
    return abs(a - b) / max(abs(a), abs(b), 1e-12)


class Check:
    """One graded property: ``exercise``, ``name``, ``description`` (its docstring), the ``variants`` it runs
    with, and ``run(student)``."""

    def __init__(self, exercise, fn, strategies, variants, examples):
        self.exercise, self.name, self.description = exercise, fn.__name__, inspect.getdoc(fn)
        self.variants, self.examples = tuple(variants), examples
        self._fn, self._strategies = fn, strategies

    def run(self, student):
        """Run the check on the student's code, variant by variant; returns when it holds, raises CheckFailed
        (or CheckTimeout, ChildEnded) otherwise."""
        for variant in self.variants:
            if not self._strategies:
                self._fn(Case(student, variant))
                continue
            cases = []

            @_property(self.examples, seed=seeds, **self._strategies)
            def example(seed, **drawn):
                cases.append(Case(student, variant, seed))
                self._fn(cases[-1], **drawn)

            try:
                example()
            except Flaky:
                raise CheckFailed(
                    f"{self.exercise}: the same inputs gave different results on two runs (does the code keep "
                    f"state between calls, or draw random numbers?) (with {variant.description})\n"
                    f"reproduce: {cases[-1].reproduce()}") from None

    def __repr__(self):
        return f"<Check {self.exercise}.{self.name}>"


CHECKS = OrderedDict()
seeds = st.integers(0, 2**32 - 1)


def check(exercise, variants=ARRAY_VARIANTS, examples=EXAMPLES, **strategies):
    """Register the decorated ``f(case, **drawn)`` as a check of ``exercise`` (in the order of definition):
    with ``strategies`` (Hypothesis strategies by parameter name) a property over ``examples`` drawn values
    per variant, else one call per variant."""
    if exercise not in BY_NAME:
        raise ValueError(f"unknown exercise {exercise!r}")

    def register(fn):
        CHECKS.setdefault(exercise, []).append(Check(exercise, fn, strategies, variants, examples))
        return fn

    return register


def _property(examples, **strategies):
    """``@given(**strategies)`` with the grader's settings: bounded, derandomized, no deadline, no database,
    and no "explain" phase (which reruns a failing example many times to annotate it)."""

    def decorate(fn):
        return settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=True,
            print_blob=False,
            report_multiple_bugs=False,
            phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
            suppress_health_check=list(HealthCheck),
        )(given(**strategies)(fn))

    return decorate
