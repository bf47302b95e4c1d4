"""The device side must stay light: importing every `edge` module pulls in neither TensorFlow nor `converters`, nor
the operator's workstation package `fleetctl` (its client and signing keys never ship to a device)."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_importing_all_of_edge_loads_no_tensorflow_or_converters():
    code = r"""
import importlib, pkgutil, sys
import edge
failed = []
for m in pkgutil.walk_packages(edge.__path__, "edge."):
    if m.name.endswith("__main__"):
        continue
    try:
        importlib.import_module(m.name)
    except ImportError as e:  # optional extras (picamera2) may be absent: only their own module may fail
        failed.append((m.name, str(e)))
heavy = sorted(n for n in sys.modules
               if n.split(".")[0] in ("tensorflow", "converters", "keras", "tf_keras", "fleetctl"))
print(heavy)
assert not heavy, heavy
print("imported", len([n for n in sys.modules if n.startswith("edge")]), "failed", failed)
"""
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_no_edge_source_imports_tensorflow_or_converters():
    offenders = []
    for path in (ROOT / "edge").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [
                f"{path.relative_to(ROOT)}: {n}"
                for n in names
                if n.split(".")[0] in ("tensorflow", "converters", "keras")
            ]
    # The CLI reaches the converters only through the lazy `convert`/`models build` commands.
    allowed = {"edge/cli/convert.py", "edge/cli/models.py"}
    offenders = [o for o in offenders if o.split(":")[0] not in allowed]
    assert not offenders, offenders


def test_edge_reaches_fleetctl_only_lazily_from_the_operator_commands():
    """`edgekit fleet ...` (and `edgekit bench update`, which plays the operator) import fleetctl inside the command
    function; no module of edge imports it at module level, and no other edge module imports it at all."""
    lazy_ok = {"edge/cli/fleet.py", "edge/bench/update.py"}
    offenders = []
    for path in (ROOT / "edge").rglob("*.py"):
        rel = str(path.relative_to(ROOT))
        tree = ast.parse(path.read_text())
        top_level = set(map(id, tree.body))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            else:
                continue
            if any(n.split(".")[0] == "fleetctl" for n in names) and (rel not in lazy_ok or id(node) in top_level):
                offenders.append(f"{rel}:{node.lineno}")
    assert not offenders, offenders
