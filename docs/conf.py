"""Sphinx configuration of deconvlab's documentation.

Build (offline, warnings are errors):  python -m sphinx -W -b html docs docs/_build/html

The notebooks are jupytext percent scripts in ../notebooks, outside this folder. Sphinx reads sources only
from inside it, so each build copies them into _generated/notebooks (git-ignored) and writes the table of
contents that notebooks.md includes. MyST-NB reads the copies as notebooks through jupytext and executes
them (in full, in a temporary folder, a few minutes on two cores; outputs are cached in
_build/.jupyter_cache, so a rebuild re-runs only changed notebooks), so the pages show every printed check
and figure. An error in a notebook fails the build. Nothing needs the network. DECONVLAB_DOCS_EXECUTE=off
builds the pages without running the notebooks (code and prose only).
"""
import glob
import inspect
import os
import re
import shutil
import sys

DOCS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(DOCS)
sys.path.insert(0, ROOT)  # document this checkout's deconvlab, whichever one is installed

import deconvlab  # noqa: E402
from sphinx.util.docstrings import prepare_docstring  # noqa: E402

project = "deconvlab"
author = "The deconvlab authors"
copyright = "2026, The deconvlab authors"
release = version = deconvlab.__version__

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]
# conf.py is a .py file like the notebooks; the generated .md snippets are only ever included.
exclude_patterns = ["_build", "conf.py", "_generated/*.md", "Thumbs.db", ".DS_Store"]

# Markdown pages and notebooks.
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3
nb_custom_formats = {".py": ["jupytext.reads", {"fmt": "py:percent"}]}
nb_execution_mode = "off" if os.environ.get("DECONVLAB_DOCS_EXECUTE", "") == "off" else "cache"
nb_execution_timeout = 900
nb_execution_in_temp = True
nb_execution_raise_on_error = True
nb_execution_show_tb = True
os.environ.pop("SMOKE", None)  # the docs show the full runs of the notebooks, not the smoke-test sizes
os.environ["DECONVLAB_WIDGETS"] = "off"  # no front end draws widgets here: the controls draw static figures

# API reference from the docstrings, in source order. The docstrings are written as plain text for
# help(); _plain_text_to_rst below reads them the way a person does (see its docstring).
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "none"

html_theme = "pydata_sphinx_theme"
html_title = f"deconvlab {release}"
html_theme_options = {"show_toc_level": 2}


def _write_if_changed(path, text):
    """Write a generated file only when its text changes, so Sphinx rebuilds only what changed."""
    if not os.path.exists(path) or open(path, encoding="utf-8").read() != text:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)


def _copy_notebooks():
    """Copy ../notebooks/*.py into _generated/notebooks and write _generated/notebook-toc.md."""
    target = os.path.join(DOCS, "_generated", "notebooks")
    os.makedirs(target, exist_ok=True)
    sources = sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.py")))
    names = [os.path.basename(path) for path in sources]
    for stale in set(os.listdir(target)) - set(names):
        os.remove(os.path.join(target, stale))
    for path in sources:
        shutil.copy2(path, os.path.join(target, os.path.basename(path)))  # keeps the mtime: no needless rebuilds
    if names:
        entries = "".join(f"_generated/notebooks/{os.path.splitext(n)[0]}\n" for n in names)
        toc = f"```{{toctree}}\n:maxdepth: 1\n\n{entries}```\n"
    else:
        toc = "No notebooks are in this checkout's `notebooks/` folder.\n"
    _write_if_changed(os.path.join(DOCS, "_generated", "notebook-toc.md"), toc)


def _write_reference_layers():
    """The benchmarks' reference layer set as a Markdown table: _generated/reference-layers.md."""
    from deconvlab.bench import REFERENCE_LAYERS
    from deconvlab.kernels import conv_output_size, conv_transpose_output_size

    rows = ["| layer | operation | input C×H×W | output C×H×W | kernel | stride | padding |",
            "|---|---|---|---|---|---|---|"]
    for name, kind, c_in, c_out, size, k, s, p in REFERENCE_LAYERS:
        if kind == "conv":
            out, operation = conv_output_size(size, k, s, p, 1), "conv2d"
        else:
            out, operation = conv_transpose_output_size(size, k, s, p, 0, 1), "conv_transpose2d"
        rows.append(f"| {name} | {operation} | {c_in}×{size}×{size} | {c_out}×{out}×{out} | {k}×{k} | {s} | {p} |")
    _write_if_changed(os.path.join(DOCS, "_generated", "reference-layers.md"), "\n".join(rows) + "\n")


_copy_notebooks()
_write_reference_layers()

_BULLET = re.compile(r"([-*+]|\d+\.|\(\w\))\s+")
_INLINE_LITERAL = re.compile(r"(``.+?``)")


def _escape(line):
    """Escape the characters plain text uses and reStructuredText would read as markup: | (a substitution)."""
    parts = _INLINE_LITERAL.split(line)
    return "".join(p if p.startswith("``") else p.replace("|", "\\|") for p in parts)


def _plain_text_to_rst(lines):
    """Turn a plain-text docstring into reStructuredText that renders as a person reads the text.

    - A block indented under a line of text (formulas, update rules, aligned tables) is a literal block,
      whether or not the text before it ends in "::" or a blank line separates them.
    - Lines starting with "- " indented under a line of text are a list.
    - Outside literal blocks and ``inline literals``, | is escaped (|x| is an absolute value, not a
      substitution).
    Returns the new list of lines.
    """
    out = []
    literal_base = None  # indentation of the text a literal block hangs from, while inside one
    list_base = None  # indentation of the text a list hangs from, while inside one
    text_indent = 0  # indentation a continuation line of the last text line would have

    def ensure_blank():
        if out and out[-1].strip():
            out.append("")

    for line in lines:
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if literal_base is not None:
            if not stripped or indent > literal_base:
                out.append(line)
                continue
            ensure_blank()
            literal_base = None
        if not stripped:
            out.append(line)
            continue
        if list_base is not None and indent <= list_base:
            ensure_blank()
            list_base = None
        bullet = _BULLET.match(stripped)
        if indent > text_indent and out:
            if bullet and list_base is None:
                ensure_blank()
                list_base = text_indent
            elif not bullet:
                previous = next((o for o in reversed(out) if o.strip()), "")
                ensure_blank()
                if not previous.rstrip().endswith("::"):
                    out.extend([" " * text_indent + "::", ""])
                literal_base = text_indent
                out.append(line)
                continue
        out.append(_escape(line))
        text_indent = indent + (bullet.end() if bullet else 0)
    return out


def _body_indent(obj, what):
    """How far the body of ``obj``'s docstring is indented past its first line, in the source.

    Python's cleaning of docstrings removes the body's common indentation, so a docstring whose whole
    body is a formula indented under the first line would lose that indentation; this measures it."""
    raw = getattr(obj, "__doc__", None)
    body = [line for line in (raw or "").expandtabs().splitlines()[1:] if line.strip()]
    if not body:
        return 0
    if what == "module":
        level = 0
    else:
        try:
            first = inspect.getsourcelines(obj)[0][0]
        except (OSError, TypeError):
            return 0
        level = len(first) - len(first.lstrip()) + 4
    return max(0, min(len(line) - len(line.lstrip()) for line in body) - level)


def _docstring_hook(app, what, name, obj, options, lines):
    if not name.startswith("deconvlab"):
        return
    raw = getattr(obj, "__doc__", None)
    if isinstance(raw, str) and lines[: len(prepare_docstring(raw))] == prepare_docstring(raw):
        shift = " " * _body_indent(obj, what)
        lines[1:] = [shift + line if line.strip() else line for line in lines[1:]]
    lines[:] = _plain_text_to_rst(lines)


def setup(app):
    app.connect("autodoc-process-docstring", _docstring_hook)
