"""The package's structure: imports point down the layers of docs/design.md, no cycles, no private names of
``kernels`` used from outside it, inference without training code, and every autograd Function returning
exactly one gradient per input Tensor."""
import ast
import pathlib
import re

import numpy as np
import pytest

import deconvlab
from deconvlab import autograd
from deconvlab import functional as F

ROOT = pathlib.Path(deconvlab.__file__).parent
REPO = ROOT.parent
DESIGN_DOC = REPO / "docs" / "design.md"


def module_name(path):
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def group(module):
    """The layer group of a module: the first name after ``deconvlab.`` (a sub-package counts as one)."""
    return module.split(".")[1] if module.count(".") else module


def imports_of(module):
    """Every deconvlab module ``module`` imports, at the top or inside functions, as (target, names, line)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, (), node.lineno) for alias in node.names if alias.name.split(".")[0] == "deconvlab"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.split(".")[0] == "deconvlab":
                target = node.module
            else:
                continue
            names = tuple(alias.name for alias in node.names)
            submodules = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
            found += [(s, (), node.lineno) for s in submodules]
            others = tuple(n for n in names if f"{target}.{n}" not in MODULES)
            if others or not submodules:
                found.append((target, others, node.lineno))
    return found


EDGES = {m: imports_of(m) for m in MODULES}


def design_layers():
    """{group: layer} from the table under "## Layers" in docs/design.md."""
    text = DESIGN_DOC.read_text()
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    layers = {}
    for row in re.findall(r"^\| (\d+) \| ([^|]+) \|", section, re.M):
        for name in re.findall(r"`([\w.]+)`", row[1]):
            layers[name] = int(row[0])
    return layers


def test_every_module_has_a_layer_in_the_design():
    layers = design_layers()
    missing = sorted({group(m) for m in MODULES if m != "deconvlab"} - set(layers))
    assert not missing, f"modules not in docs/design.md's layer table: {missing}"


def layering_violations(edges):
    """Each import of a module of the same or a higher layer (or of the package itself), as text."""
    layers = design_layers()
    wrong = []
    for module, targets in edges.items():
        if module == "deconvlab":  # the package re-exports the public names of every layer
            continue
        for target, _, line in targets:
            if target == "deconvlab":
                wrong.append(f"{module}:{line} imports the package itself")
            elif group(target) != group(module) and layers[group(target)] >= layers[group(module)]:
                wrong.append(f"{module}:{line} (layer {layers[group(module)]}) imports {target} "
                             f"(layer {layers[group(target)]})")
    return wrong


def test_imports_point_down_the_layers():
    wrong = layering_violations(EDGES)
    assert not wrong, "\n".join(wrong)


def test_the_layer_check_finds_an_upward_import():
    edges = dict(EDGES, **{"deconvlab.inpainting": EDGES["deconvlab.inpainting"] + [("deconvlab.train", (), 1)]})
    assert layering_violations(edges) == ["deconvlab.inpainting:1 (layer 12) imports deconvlab.train (layer 14)"]


def find_cycle(edges):
    """An import cycle among the package's modules as a list of names (first == last), or None."""
    graph = {m: sorted({t for t, _, _ in edges[m] if t in MODULES and t != m}) for m in edges if m != "deconvlab"}
    state, path = {}, []

    def visit(node):
        state[node] = "open"
        path.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = "done"
        return None

    for node in graph:
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_there_is_no_import_cycle():
    cycle = find_cycle(EDGES)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_check_finds_a_cycle():
    """The check above is not vacuous: an edge from the kernels up to the command line closes a loop."""
    edges = dict(EDGES, **{"deconvlab.kernels.fast": EDGES["deconvlab.kernels.fast"] + [("deconvlab.cli", (), 0)]})
    cycle = find_cycle(edges)
    assert cycle is not None and "deconvlab.cli" in cycle and "deconvlab.kernels.fast" in cycle


def test_no_private_name_of_kernels_is_imported_from_outside_kernels():
    wrong = []
    for module, edges in EDGES.items():
        if group(module) == "kernels":
            continue
        for target, names, line in edges:
            private_module = target.startswith("deconvlab.kernels.") and target.split(".")[2].startswith("_")
            private_names = target.startswith("deconvlab.kernels") and any(n.startswith("_") for n in names)
            if private_module or private_names:
                wrong.append(f"{module}:{line} imports {target} {names}")
    assert not wrong, "\n".join(wrong)


def test_inpainting_does_not_depend_on_training():
    seen, todo = set(), ["deconvlab.inpainting"]
    while todo:
        module = todo.pop()
        for target, _, _ in EDGES.get(module, []):
            if target in MODULES and target not in seen and target != "deconvlab":
                seen.add(target)
                todo.append(target)
    assert "deconvlab.train" not in seen and "deconvlab.cli" not in seen, sorted(seen)


def test_no_file_refers_to_a_design_document_outside_the_repository():
    files = [p for folder in ("deconvlab", "tests", "notebooks", "docs", "benchmarks") for p in (REPO / folder).rglob("*")
             if p.suffix in (".py", ".md", ".rst") and "_build" not in p.parts] + [REPO / "README.md"]
    wrong = [f"{p.relative_to(REPO)}:{n}" for p in files for n, line in enumerate(p.read_text().splitlines(), 1)
             if re.search(r"\bDESIGN\b", line)]
    assert DESIGN_DOC.exists() and not wrong, wrong


# ------------------------------------------------------------------------------ one gradient per input Tensor

BASES = (autograd.ByInput, autograd.ByOutput, F._KernelLayer)  # bases of Functions, not Functions to call


def _function_classes(cls=autograd.Function):
    for sub in cls.__subclasses__():
        if sub.__module__.startswith("deconvlab") and sub not in BASES:
            yield sub
        yield from _function_classes(sub)


def _tensor(*shape, positive=False):
    data = np.random.default_rng(sum(shape)).uniform(0.1 if positive else -1, 1, shape)
    return deconvlab.Tensor(data, requires_grad=True)


# One call of every Function of the library, all inputs requiring a gradient.
CALLS = {
    "Add": lambda: _tensor(2, 3) + _tensor(3),
    "Sub": lambda: _tensor(2, 3) - _tensor(2, 3),
    "Mul": lambda: _tensor(2, 3) * _tensor(2, 1),
    "Div": lambda: _tensor(2, 3) / _tensor(2, 3, positive=True),
    "Neg": lambda: -_tensor(3),
    "PowScalar": lambda: _tensor(3, positive=True) ** 1.5,
    "Pow": lambda: _tensor(3, positive=True) ** _tensor(3),
    "MatMul": lambda: _tensor(2, 3) @ _tensor(3, 4),
    "Exp": lambda: _tensor(3).exp(),
    "Log": lambda: _tensor(3, positive=True).log(),
    "Sum": lambda: _tensor(2, 3).sum(axis=1),
    "Mean": lambda: _tensor(2, 3).mean(),
    "Reshape": lambda: _tensor(2, 3).reshape(3, 2),
    "Permute": lambda: _tensor(2, 3, 4).permute(2, 0, 1),
    "GetItem": lambda: _tensor(4, 3)[1:3],
    "Abs": lambda: F.abs(_tensor(3)),
    "Clip": lambda: F.clip(_tensor(3), -0.5, 0.5),
    "Relu": lambda: F.relu(_tensor(3)),
    "LeakyRelu": lambda: F.leaky_relu(_tensor(3), 0.2),
    "Sigmoid": lambda: F.sigmoid(_tensor(3)),
    "Tanh": lambda: F.tanh(_tensor(3)),
    "Concatenate": lambda: F.concatenate([_tensor(2, 3), _tensor(1, 3)]),
    "Pad": lambda: F.pad(_tensor(1, 1, 2, 2), (1, 1, 0, 1)),
    "Conv2d": lambda: F.conv2d(_tensor(1, 2, 5, 5), _tensor(3, 2, 3, 3), _tensor(3), stride=2, padding=1),
    "ConvTranspose2d": lambda: F.conv_transpose2d(_tensor(1, 2, 3, 3), _tensor(2, 3, 3, 3), _tensor(3), stride=2),
    "Rfft2": lambda: F.rfft2(_tensor(1, 2, 3, 4)),
    "Irfft2": lambda: F.irfft2(_tensor(1, 2, 3, 3), (3, 4)),
    "UpsampleNearest2d": lambda: F.upsample_nearest2d(_tensor(1, 1, 2, 2), 2),
    "UpsampleBilinear2d": lambda: F.upsample_bilinear2d(_tensor(1, 1, 2, 2), 2),
    "BinaryCrossEntropy": lambda: F.binary_cross_entropy(
        deconvlab.Tensor(np.array([0.2, 0.7]), requires_grad=True), _tensor(2, positive=True), reduction="none"),
    "BinaryCrossEntropyWithLogits": lambda: F.binary_cross_entropy_with_logits(_tensor(2), _tensor(2, positive=True),
                                                                                 reduction="none"),
}


def test_every_function_is_exercised_here():
    names = {cls.__name__ for cls in _function_classes()}
    assert names <= set(CALLS), f"add a call for {sorted(names - set(CALLS))}"


@pytest.mark.parametrize("name", sorted(CALLS))
def test_backward_returns_one_gradient_per_input_tensor_and_none_only_where_not_needed(name, monkeypatch):
    cls = next(c for c in _function_classes() if c.__name__ == name)
    returned = []
    backward = cls.backward

    def recording(ctx, g):
        grads = backward(ctx, g)
        returned.append((len(ctx.parents), grads if isinstance(grads, tuple) else (grads,)))
        return grads

    monkeypatch.setattr(cls, "backward", staticmethod(recording))
    out = CALLS[name]()
    out.backward(np.ones_like(out.data))
    assert returned, f"{name}.backward was not called"
    for n_inputs, grads in returned:
        assert len(grads) == n_inputs
        assert all(g is not None for g in grads), f"{name}.backward returned None for an input that needs it"


def test_constants_passed_positionally_are_refused():
    with pytest.raises(TypeError, match="pass constants .* as keyword arguments"):
        autograd.PowScalar.apply(_tensor(3), 2.0)
