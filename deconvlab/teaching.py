"""What the notebooks share: checked expectations, predict-then-run answers, and controls that fall back to static
figures; imports NumPy (IPython and ipywidgets only when a control is shown).

``expect(what, value, condition)`` prints one measured number beside what a correct implementation gives and a
verdict, ``✓`` or ``✗``; the notebook tests fail on any ``✗``, so the text cannot drift from the numbers.
``reveal(guess, answer)`` answers a "predict, then run" cell. ``controls(draw, static, **sliders)`` shows
ipywidgets sliders that call ``draw`` when a notebook front end can show them, and otherwise draws the
``static`` settings one after the other: widgets need a front end (JupyterLab, Notebook, VS Code), which
documentation builds and batch runs (papermill, nbclient) do not have. The environment variable
``DECONVLAB_WIDGETS`` decides when set: ``on`` shows the widgets whenever ipywidgets imports, ``off`` never does.
"""
import math
import os
import re

import numpy as np

PASS, MISS = "✓", "✗"
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_CONDITION = re.compile(
    rf"^\s*(?:(?P<op><=|>=|<|>|==)\s*(?P<bound>{_NUMBER})"
    rf"|(?P<low>{_NUMBER})\s+to\s+(?P<high>{_NUMBER})"
    rf"|≈\s*(?P<centre>{_NUMBER})\s*±\s*(?P<spread>{_NUMBER})"
    rf"|(?P<word>True|False))\s*$"
)


def holds(value, condition):
    """Whether ``value`` meets ``condition``: "< b", "<= b", "> b", ">= b", "== b", "a to b" (inclusive),
    "≈ c ± t", "True" or "False". ValueError for any other text."""
    match = _CONDITION.match(condition)
    if not match:
        raise ValueError(f"expect: cannot read the condition {condition!r}; write '< 1e-12', '== 0', '0.5 to 1', "
                         "'≈ 0.75 ± 0.1', 'True' or 'False'")
    if match["word"]:
        return bool(value) == (match["word"] == "True")
    value = float(value)
    if math.isnan(value):
        return False
    if match["op"]:
        bound = float(match["bound"])
        return {"<": value < bound, "<=": value <= bound, ">": value > bound, ">=": value >= bound,
                "==": value == bound}[match["op"]]
    if match["low"] is not None:
        return float(match["low"]) <= value <= float(match["high"])
    return abs(value - float(match["centre"])) <= float(match["spread"])


def expect(what, value, condition, note="", fmt=".2e"):
    """Print ``what = value   (expect CONDITION: note) ✓`` (or ✗) and return whether ``value`` meets
    ``condition`` (see ``holds``). Booleans and integers print as they are; other numbers with ``fmt``."""
    ok = holds(value, condition)
    if isinstance(value, (bool, np.bool_, int, np.integer)) or isinstance(value, str):
        shown = f"{value}"
    else:
        shown = f"{float(value):{fmt}}"
    print(f"{what} = {shown}   (expect {condition}{': ' + note if note else ''}) {PASS if ok else MISS}")
    return ok


def _same(guess, answer, rtol):
    try:
        return bool(np.allclose(np.asarray(guess, dtype=float), np.asarray(answer, dtype=float), rtol=rtol, atol=0))
    except (TypeError, ValueError):
        return guess == answer


def reveal(guess, answer, why="", rtol=1e-9):
    """Answer a "predict, then run" cell: compare the student's ``guess`` (None: no guess yet) with ``answer``
    and say why. Returns whether the guess was right (None when there was none)."""
    if guess is None:
        print(f"The answer: {answer}. (Write your prediction in the cell above first, then run this one.)")
        right = None
    else:
        right = _same(guess, answer, rtol)
        print(f"You predicted {guess}; the answer is {answer}: {'right' if right else 'not quite'}.")
    if why:
        print(why)
    return right


def widgets_available():
    """Whether ``controls`` shows ipywidgets: ipywidgets imports, and either ``DECONVLAB_WIDGETS=on`` or (unset)
    the kernel was started by a notebook server or an editor that draws widgets."""
    setting = os.environ.get("DECONVLAB_WIDGETS", "").strip().lower()
    if setting in ("0", "off", "no", "false"):
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    if setting in ("1", "on", "yes", "true"):
        return True
    return "JPY_SESSION_NAME" in os.environ or "VSCODE_PID" in os.environ


def controls(draw, static, **sliders):
    """Sliders (or drop-downs) for the keyword arguments of ``draw``, or, without widgets, ``draw`` called with
    each settings dict of ``static`` in turn. A slider is (low, high) or (low, high, step) for ints and floats,
    or a list of choices; its first value is the first static setting's. Returns the widget, or None."""
    if not widgets_available():
        for settings in static:
            draw(**settings)
        return None
    import ipywidgets
    from IPython.display import display

    first = static[0] if static else {}
    made = {}
    for name, spec in sliders.items():
        value = first.get(name)
        if isinstance(spec, list):
            made[name] = ipywidgets.Dropdown(options=spec, value=value if value in spec else spec[0], description=name)
        elif all(isinstance(v, int) for v in spec):
            low, high, *step = spec
            made[name] = ipywidgets.IntSlider(min=low, max=high, step=step[0] if step else 1,
                                              value=low if value is None else value, description=name)
        else:
            low, high, *step = spec
            made[name] = ipywidgets.FloatSlider(min=low, max=high, step=step[0] if step else (high - low) / 100,
                                                value=low if value is None else value, description=name)
    widget = ipywidgets.interactive(draw, **made)
    display(widget)
    return widget
