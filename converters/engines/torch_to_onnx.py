"""Inside the torch engine venv: a PyTorch model -> ONNX (opset 17, batch 1, the card's input shape).

    python torch_to_onnx.py MODEL OUT.onnx C,H,W [--module pkg.mod:Class] [--kwargs JSON] [--stub MOD ...]

MODEL: a TorchScript file (torch.jit.save), an ExportedProgram (torch.export.save, .pt2), or with --module a
checkpoint (a state_dict, or a dict holding one under 'state_dict'/'model') loaded into Class(**kwargs); with
--module and MODEL '-' the class builds itself (e.g. it loads weights its package ships)."""
import argparse
import importlib
import json
import sys
import zipfile

import types

import torch


class _StandIn(types.ModuleType):
    """A module a model's package imports but its network never calls (facenet-pytorch imports torchvision and PIL
    for its face-cropping pipeline): any attribute is another stand-in, so `from X.y import z` works."""

    def __init__(self, name):
        super().__init__(name)
        self.__path__ = []  # a package, so its submodules import too (through _Finder)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _StandIn(f"{self.__name__}.{name}")


def stand_in(names: list[str]) -> None:
    for name in names:
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            sys.modules.setdefault(".".join(parts[:i]), _StandIn(".".join(parts[:i])))


class _Finder:
    """Stand-ins for every submodule of the stubbed packages (`from torchvision.ops.boxes import ...`)."""

    def __init__(self, roots):
        self.roots = set(roots)

    def find_spec(self, fullname, path=None, target=None):
        import importlib.machinery

        if fullname.split(".")[0] in self.roots:
            return importlib.machinery.ModuleSpec(fullname, self)
        return None

    def create_module(self, spec):
        return _StandIn(spec.name)

    def exec_module(self, module):
        pass


def load(path: str, module: str | None, kwargs: dict) -> torch.nn.Module:
    if module:
        mod, _, cls = module.partition(":")
        net = getattr(importlib.import_module(mod), cls)(**kwargs)
        if path != "-":
            state = torch.load(path, map_location="cpu", weights_only=False)
            if isinstance(state, dict) and not any(isinstance(v, torch.Tensor) for v in state.values()):
                state = state.get("state_dict") or state.get("model") or state
            if isinstance(state, torch.nn.Module):
                state = state.state_dict()
            net.load_state_dict(state)
        return net
    if zipfile.is_zipfile(path) and any(n.endswith("constants.pkl") for n in zipfile.ZipFile(path).namelist()):
        return torch.jit.load(path, map_location="cpu")
    try:
        return torch.export.load(path).module()
    except Exception:
        sys.exit(f"{path}: neither TorchScript nor an ExportedProgram; a plain checkpoint needs --module pkg.mod:Class")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("out")
    p.add_argument("shape")
    p.add_argument("--module")
    p.add_argument("--kwargs", default="{}")
    p.add_argument("--stub", action="append", default=[])
    a = p.parse_args()
    if a.stub:
        stand_in(a.stub)
        sys.meta_path.insert(0, _Finder(s.split(".")[0] for s in a.stub))
    net = load(a.model, a.module, json.loads(a.kwargs))
    if isinstance(net, torch.nn.Module):
        net = net.eval().float()
    x = torch.zeros([1, *map(int, a.shape.split(","))])
    with torch.no_grad():
        outs = net(x)
    n = len(outs) if isinstance(outs, (tuple, list)) else 1
    torch.onnx.export(net, (x,), a.out, opset_version=17, dynamo=False, input_names=["input"],
                      output_names=[f"output{i}" for i in range(n)])
    print(json.dumps({"outputs": [f"output{i}" for i in range(n)]}))


if __name__ == "__main__":
    main()
