"""The folders of ``pcalm/`` are layers, and imports point down only.

The layers, from the top: commands -> experiments -> engine -> models, experiments -> data, and
every layer may use runtime, the ground floor, which uses nothing of ours. ``pcalm/__init__.py``
(the public names) and the commands may name anything below them; only the commands may reach
``paper_checks`` (``pcalm check`` is its thin front), and no layer reaches ``theory`` or
``numerics``. The imports are read with ``ast``, function-level (lazy) and ``TYPE_CHECKING``
imports included, so a lazy import cannot hide an upward arrow or a circle.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "pcalm"

# What each folder may import besides itself (``runtime`` is allowed everywhere below).
MAY_USE = {
    "runtime": set(),
    "models": {"runtime"},
    "data": {"runtime"},
    "engine": {"models", "runtime"},
    "experiments": {"engine", "models", "data", "runtime"},
    "commands": {"experiments", "engine", "models", "data", "runtime", "paper_checks"},
}
OURS = ("pcalm", "paper_checks", "theory", "numerics")


def module_name(package: Path, path: Path) -> str:
    parts = ("pcalm",) + path.relative_to(package).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(package: Path) -> dict[str, Path]:
    """Every module of the package tree at ``package``, by dotted name."""
    return {module_name(package, path): path for path in sorted(package.rglob("*.py"))}


def imported(path: Path, name: str, known: set[str]) -> set[str]:
    """The modules of ours that ``path`` (module ``name``) imports, anywhere in its body, each
    resolved to the deepest name that is a module (``from pcalm.engine import stacked`` names
    ``pcalm.engine.stacked``; ``from pcalm.engine.energy import x`` names ``pcalm.engine.energy``)."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        found.update(target for target in targets if target.split(".")[0] in OURS)
    found.discard(name)
    return found


def folder(name: str) -> str | None:
    """The layer a module of ours lies in: ``pcalm.engine.stacked.run`` -> ``engine``;
    ``paper_checks.x`` -> ``paper_checks``; the package's own ``__init__`` -> None."""
    parts = name.split(".")
    if parts[0] != "pcalm":
        return parts[0]
    return parts[1] if len(parts) > 1 else None


def import_graph(package: Path) -> dict[str, set[str]]:
    known = modules(package)
    return {name: imported(path, name, set(known)) for name, path in known.items()}


def layering_violations(package: Path) -> list[str]:
    """Every import in ``package`` that goes up or sideways against ``MAY_USE``, and every folder
    at its top level that ``MAY_USE`` does not name, as readable lines (empty: the layers hold)."""
    problems = []
    for child in sorted(package.iterdir()):
        if child.is_dir() and (child / "__init__.py").exists() and child.name not in MAY_USE:
            problems.append(f"pcalm/{child.name}/ is a folder no layer rule names")
    for name, targets in import_graph(package).items():
        home = folder(name)
        if home is None:
            continue  # pcalm/__init__.py: the public names, loaded lazily from every layer
        for target in sorted(targets):
            there = folder(target)
            if there is None:
                problems.append(f"{name} imports the package root pcalm (use the module itself)")
            elif there != home and there not in MAY_USE.get(home, set()):
                problems.append(f"{name} ({home}) imports {target} ({there})")
    return problems


def circles(package: Path) -> list[list[str]]:
    """The import circles among the package's modules (each as the path that closes it)."""
    graph = import_graph(package)
    found, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                found.append(path[path.index(target):] + [target] if target in path else path + [target])
            elif target in graph and target not in state:
                visit(target, path + [target])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_every_folder_of_pcalm_imports_only_the_layers_below_it():
    assert layering_violations(PACKAGE) == []


def test_the_imports_of_pcalm_have_no_circle():
    assert circles(PACKAGE) == []


def test_the_rules_see_every_module():
    # A rule that read no imports would pass vacuously: the engine's inference must be seen
    # using the models and the fast path.
    graph = import_graph(PACKAGE)
    assert {"pcalm.models.base", "pcalm.engine.stacked"} <= graph["pcalm.engine.inference"]
    assert "paper_checks" in {target.split(".")[0] for target in graph["pcalm.commands.check"]}


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A copy of the package's sources to plant faults in."""
    target = tmp_path / "pcalm"
    shutil.copytree(PACKAGE, target, ignore=shutil.ignore_patterns("__pycache__", "*.cpp"))
    return target


@pytest.mark.parametrize(
    "module, line, expected",
    [
        ("runtime/threads.py", "from pcalm.engine import inference", "pcalm.runtime.threads (runtime) imports pcalm.engine.inference (engine)"),
        ("models/mlp.py", "    from pcalm.engine.energy import layer_energies", "pcalm.models.mlp (models) imports pcalm.engine.energy (engine)"),
        ("engine/schedule.py", "import pcalm.experiments.training", "pcalm.engine.schedule (engine) imports pcalm.experiments.training (experiments)"),
        ("data/digits.py", "from pcalm.models import MLP", "pcalm.data.digits (data) imports pcalm.models (models)"),
        ("experiments/grid.py", "from paper_checks import run_checks", "pcalm.experiments.grid (experiments) imports paper_checks (paper_checks)"),
        ("engine/energy.py", "from numerics import energy", "pcalm.engine.energy (engine) imports numerics (numerics)"),
    ],
)
def test_an_upward_import_planted_in_a_copy_is_reported(copy: Path, module: str, line: str, expected: str):
    assert layering_violations(copy) == []
    path = copy / module
    body = path.read_text()
    planted = body + ("\n\ndef _planted():\n" + line + "\n" if line.startswith("    ") else "\n" + line + "\n")
    path.write_text(planted)
    assert expected in layering_violations(copy)


def test_a_circle_planted_in_a_copy_is_reported(copy: Path):
    assert circles(copy) == []
    path = copy / "models" / "base.py"
    path.write_text(path.read_text() + "\n\ndef _planted():\n    from pcalm.models import mlp\n")
    assert any("pcalm.models.base" in circle and "pcalm.models.mlp" in circle for circle in circles(copy))


def test_a_new_top_level_folder_needs_a_rule(copy: Path):
    (copy / "extras").mkdir()
    (copy / "extras" / "__init__.py").write_text("")
    assert "pcalm/extras/ is a folder no layer rule names" in layering_violations(copy)
