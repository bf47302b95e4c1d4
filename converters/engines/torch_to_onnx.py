"""Inside the torch engine venv: a PyTorch model -> ONNX (opset 17, batch 1, the card's input shape).

    python torch_to_onnx.py MODEL OUT.onnx C,H,W [--module pkg.mod:Class] [--kwargs JSON] [--stub MOD ...]
                            [--alias NAME=PKG.MOD ...] [--normalize-boxes] [--flat-yolov5-detect]

MODEL: a TorchScript file (torch.jit.save), an ExportedProgram (torch.export.save, .pt2), a pickled checkpoint
holding the whole network (a Module, or a dict with one under 'ema'/'model', as ultralytics/yolov5 saves them; the
pickle names its classes by the training repo's module layout, which --alias maps onto a registry package, e.g.
models=yolov5.models), or with --module a checkpoint (a state_dict, or a dict holding one under 'state_dict'/'model')
loaded into Class(**kwargs); with --module and MODEL '-' the class builds itself (e.g. it loads weights its package
ships). --normalize-boxes: YOLO heads giving [1, N, 4 + ...] with cx, cy, w, h in input pixels; only that output is
exported, its box columns divided by the input size, so every column is 0..1 and one INT8 scale keeps the scores'
resolution (a shared 0..640 scale, ~2.5 per step, rounds every score to 0). --flat-yolov5-detect: yolov5's head
decoded on 3-D tensors, with --normalize-boxes normalised inside each level, and nearest 2x upsampling as a
transposed conv (flat_yolov5_detect, upsample_as_conv)."""

import argparse
import importlib
import json
import sys
import types
import zipfile

import torch


class _StandIn(types.ModuleType):
    """A module a model's package imports but its network never calls (facenet-pytorch imports torchvision and PIL
    for its face-cropping pipeline): any attribute is another stand-in, so `from X.y import z` works."""

    def __init__(self, name, *class_args):  # class_args: `class X(standin.Base)` builds a stand-in too
        super().__init__(name)
        self.__path__ = []  # a package, so its submodules import too (through _Finder)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _StandIn(f"{self.__name__}.{name}")

    def __call__(self, *args, **kwargs):  # import-time calls such as cv2.setNumThreads(0)
        return _StandIn(f"{self.__name__}()")

    def __iter__(self):  # import-time loops over a stand-in's tables (yolov5: PIL.ExifTags.TAGS.keys())
        return iter(())


def stand_in(names: list[str]) -> None:
    for name in names:
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            sys.modules.setdefault(".".join(parts[:i]), _StandIn(".".join(parts[:i])))


class _Alias:
    """`models.yolo` -> `yolov5.models.yolo`: the module the pickle names is the registry package's module."""

    def __init__(self, aliases: dict[str, str]):
        self.aliases = aliases

    def find_spec(self, fullname, path=None, target=None):
        import importlib.machinery

        if fullname.split(".")[0] in self.aliases:
            return importlib.machinery.ModuleSpec(fullname, self)
        return None

    def create_module(self, spec):
        root, _, rest = spec.name.partition(".")
        return importlib.import_module(self.aliases[root] + ("." + rest if rest else ""))

    def exec_module(self, module):
        pass


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
        pass
    net = whole_network(path)
    if net is None:
        sys.exit(
            f"{path}: neither TorchScript nor an ExportedProgram nor a pickled network; a plain checkpoint "
            "needs --module pkg.mod:Class"
        )
    return net


def whole_network(path: str) -> torch.nn.Module | None:
    """A pickled Module, or the one a training checkpoint dict holds (yolov5: 'ema', else 'model')."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except ModuleNotFoundError as e:
        sys.exit(
            f"{path}: loading its pickle needs module '{e.name}', which is not installed: map it onto a registry "
            "package (source.module_aliases, e.g. models: yolov5.models) or stand it in (source.engine_stubs)"
        )
    except Exception:
        return None
    if isinstance(state, dict):
        state = state["ema"] if state.get("ema") is not None else state.get("model")
    return state if isinstance(state, torch.nn.Module) else None


def flat_yolov5_detect(net: torch.nn.Module, size: tuple[int, int] | None) -> None:
    """yolov5's Detect decodes on 5-D tensors [1, anchors, ny, nx, 5 + classes], whose split onnx2tf turns into a
    TensorFlow (Flex) op no TFLite interpreter here runs. Same arithmetic on [1, anchors * ny * nx, 5 + classes].
    With `size` (H, W) the boxes are divided by it before each level's concat: INT8 gives a concat one scale, and
    boxes in pixels beside the scores would round every score to 0."""
    div = 1.0 if size is None else torch.tensor([size[1], size[0]], dtype=torch.float32)
    detect = next(m for m in reversed(list(net.modules())) if hasattr(m, "anchors") and hasattr(m, "na"))
    grids = []

    def forward(xs):
        out = []
        for i, x in enumerate(xs):
            p = detect.m[i](x)
            _, _, ny, nx = p.shape
            # sigmoid after the slices: a slice of an INT8 LOGISTIC (fixed scale 1/256) came out as zeros
            p = p.view(1, detect.na, detect.no, ny * nx).permute(0, 1, 3, 2).reshape(1, -1, detect.no)
            if len(grids) <= i:
                yv, xv = torch.meshgrid(torch.arange(ny), torch.arange(nx), indexing="ij")
                cell = torch.stack([xv, yv], -1).view(1, ny * nx, 2).float() - 0.5
                anchor = (detect.anchors[i] * detect.stride[i]).view(detect.na, 1, 2).float()
                grids.append((cell.repeat(1, detect.na, 1), anchor.expand(-1, ny * nx, -1).reshape(1, -1, 2)))
            cell, anchor = grids[i]
            xy = (p[..., :2].sigmoid() * 2 + cell) * (detect.stride[i] / div)
            wh = (p[..., 2:4].sigmoid() * 2) ** 2 * (anchor / div)
            out.append(torch.cat([xy, wh, p[..., 4:].sigmoid()], -1))
        return torch.cat(out, 1)

    detect.forward = forward


def upsample_as_conv(net: torch.nn.Module) -> int:
    """Every nearest 2x nn.Upsample runs as a transposed convolution with an identity 2x2 kernel (exact): XNNPACK
    leaves INT8 RESIZE_NEAREST_NEIGHBOR on the CPU, a partition cut (and requantising QUANTIZE ops) each. The module
    stays (yolov5 keeps its graph wiring on it); its forward changes. How many were changed."""
    n = 0
    for m in net.modules():
        if isinstance(m, torch.nn.Upsample) and m.mode == "nearest" and m.scale_factor in (2, 2.0):
            m.forward = types.MethodType(_nearest_up2, m)
            n += 1
    return n


def _nearest_up2(self, x):
    if getattr(self, "_eye", None) is None or self._eye.shape[0] != x.shape[1]:  # made on the warm-up call: a constant
        c = x.shape[1]
        self._eye = torch.eye(c).view(c, c, 1, 1).repeat(1, 1, 2, 2)
    return torch.nn.functional.conv_transpose2d(x, self._eye, stride=2)


class NormalizedBoxes(torch.nn.Module):
    """The YOLO prediction [1, N, 4 + ...] only, cx, cy, w, h divided by the input's width and height."""

    def __init__(self, net: torch.nn.Module, height: int, width: int):
        super().__init__()
        self.net = net
        self.register_buffer("scale", torch.tensor([width, height, width, height], dtype=torch.float32))

    def forward(self, x):
        y = self.net(x)
        y = y[0] if isinstance(y, (tuple, list)) else y
        return torch.cat([y[..., :4] / self.scale, y[..., 4:]], -1)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("out")
    p.add_argument("shape")
    p.add_argument("--module")
    p.add_argument("--kwargs", default="{}")
    p.add_argument("--stub", action="append", default=[])
    p.add_argument("--alias", action="append", default=[])
    p.add_argument("--normalize-boxes", action="store_true")
    p.add_argument("--flat-yolov5-detect", action="store_true")
    a = p.parse_args()
    if a.alias:
        sys.meta_path.insert(0, _Alias(dict(kv.split("=", 1) for kv in a.alias)))
    if a.stub:
        stand_in(a.stub)
        sys.meta_path.insert(0, _Finder(s.split(".")[0] for s in a.stub))
    net = load(a.model, a.module, json.loads(a.kwargs))
    if isinstance(net, torch.nn.Module):
        net = net.eval().float()
    shape = [int(v) for v in a.shape.split(",")]
    if a.flat_yolov5_detect:
        flat_yolov5_detect(net, (shape[1], shape[2]) if a.normalize_boxes else None)
        upsample_as_conv(net)
    elif a.normalize_boxes:
        net = NormalizedBoxes(net, shape[1], shape[2]).eval()
    x = torch.zeros([1, *shape])
    with torch.no_grad():
        outs = net(x)
    n = len(outs) if isinstance(outs, (tuple, list)) else 1
    torch.onnx.export(
        net,
        (x,),
        a.out,
        opset_version=17,
        dynamo=False,
        input_names=["input"],
        output_names=[f"output{i}" for i in range(n)],
    )
    print(json.dumps({"outputs": [f"output{i}" for i in range(n)]}))


if __name__ == "__main__":
    main()
