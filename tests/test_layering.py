"""The device side must stay light: importing every `edge` module pulls in neither TensorFlow nor `converters`."""
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
heavy = sorted(n for n in sys.modules if n.split(".")[0] in ("tensorflow", "converters", "keras", "tf_keras"))
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
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in ("tensorflow", "converters", "keras")]
    # The CLI reaches the converters only through the lazy `convert`/`models build` commands.
    allowed = {"edge/cli/convert.py", "edge/cli/models.py"}
    offenders = [o for o in offenders if o.split(":")[0] not in allowed]
    assert not offenders, offenders
