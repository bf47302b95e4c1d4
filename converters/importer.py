"""`edgekit models import FILE`: a detector a user brings as .tflite, recognised from what the file says, validated and
given a card. Already-quantised files are kept byte for byte (no second quantisation); the card says what was learnt
and from where.

Recognised: an Ultralytics export (its metadata: embedded in the .tflite, or `metadata.yaml` beside it), an SSD ending
in `TFLite_Detection_PostProcess` (labels from a label map), an Edge TPU-compiled file (`edgetpu-custom-op`: refused
where no Edge TPU delegate loads), two-stage detectors and TF select ops (refused: no accelerator here runs them).
Anything else needs `decoder` and `labels` from the caller."""

from __future__ import annotations

import ctypes
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from converters.label_map import PLACEHOLDER, fit_to_classes, from_names, read_label_file, unused_ids
from converters.tflite_facts import Tensor, TfliteFacts, as_plain, read_facts
from edge.card import DecoderSpec, ModelCard, Preprocess, TensorSpec, sha256_file
from edge.errors import EdgekitError

EDGETPU_OP = "edgetpu-custom-op"
SSD_OP = "TFLite_Detection_PostProcess"
SSD_ROLES = ("boxes", "classes", "scores", "count")  # the post-process op's outputs, in its fixed order
LABEL_FILES = ("labelmap.txt", "labels.txt", "coco_labels.txt", "labelmap.pbtxt")
# Two-stage detectors crop proposals out of a feature map; no INT8 accelerator edgekit targets runs these ops.
TWO_STAGE_OPS = re.compile(r"CropAndResize|ROIAlign|RoiAlign|ROIPool|RoiPool|PSRoi", re.I)
ULTRALYTICS_MAX_DET = 300  # Ultralytics' own predict default (max_det)
ULTRALYTICS_IOU = 0.7  # and its NMS IoU


@dataclass
class Options:
    """What the caller can tell that a file may not: each is a named `edgekit models import` option."""

    name: str | None = None
    labels: Path | None = None
    decoder: str | None = None  # yolo | ssd | nanodet, for bare graphs
    input_range: tuple[float, float] | None = None  # pixels 0..255 mapped linearly onto this range
    max_detections: int | None = None
    score_threshold: float | None = None
    edgetpu_library: str = "libedgetpu.so.1"


@dataclass
class Imported:
    card_path: Path
    card: ModelCard
    family: str
    notes: list[str] = field(default_factory=list)


def default_name(path: Path) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", path.stem.lower()).strip("_") or "model"


def _edgetpu_loads(library: str) -> bool:
    try:
        ctypes.CDLL(library)
        return True
    except OSError:
        return False


def refuse_unrunnable(facts: TfliteFacts, opts: Options) -> str:
    """The target the file needs ('cpu' or 'coral'), or a one-line refusal for what this machine cannot run."""
    path = facts.path
    two_stage = sorted({k for k in facts.ops if TWO_STAGE_OPS.search(k)})
    if two_stage:
        raise EdgekitError(
            f"{path}: a two-stage detector (Faster R-CNN style: {', '.join(two_stage)}); edgekit runs single-stage "
            "detectors only",
            "use an SSD or YOLO export (no INT8 accelerator edgekit targets runs proposal cropping)",
        )
    flex = sorted(k[len("custom:") :] for k in facts.custom_ops if k.startswith("custom:Flex"))
    if flex:
        raise EdgekitError(
            f"{path}: needs TensorFlow select ops ({', '.join(flex[:4])}), which the device's "
            "interpreter does not have",
            "re-export with TFLite builtin ops only",
        )
    if facts.has_custom(EDGETPU_OP):
        if not _edgetpu_loads(opts.edgetpu_library):
            raise EdgekitError(
                f"{path}: compiled for the Edge TPU ({EDGETPU_OP}), and this machine has no Edge TPU "
                f"delegate ({opts.edgetpu_library} does not load)",
                "import it on the device with the Coral and libedgetpu, or import the CPU .tflite it was compiled from",
            )
        return "coral"
    return "cpu"


def ultralytics_metadata(facts: TfliteFacts) -> tuple[dict | None, str]:
    if facts.embedded_metadata:
        return facts.embedded_metadata, "metadata embedded in the .tflite"
    beside = facts.path.with_name("metadata.yaml")
    if beside.is_file():
        try:
            meta = yaml.safe_load(beside.read_text())
        except yaml.YAMLError as e:
            raise EdgekitError(f"{beside}: not valid YAML ({str(e).splitlines()[0]})", "re-export the model") from None
        if isinstance(meta, dict) and "names" in meta:
            return meta, str(beside)
    return None, ""


def _input(facts: TfliteFacts) -> tuple[Tensor, str, int, int, int]:
    if len(facts.inputs) != 1:
        raise EdgekitError(
            f"{facts.path}: has {len(facts.inputs)} inputs, edgekit detectors take one", "export a single-input model"
        )
    t = facts.inputs[0]
    if len(t.shape) != 4 or t.shape[0] != 1:
        raise EdgekitError(
            f"{facts.path}: input {t.name} has shape {t.shape}, expected [1, H, W, C] or [1, C, H, W]",
            "export with a fixed input size and batch 1",
        )
    if t.shape[3] in (1, 3):
        return t, "NHWC", t.shape[1], t.shape[2], t.shape[3]
    if t.shape[1] in (1, 3):
        return t, "NCHW", t.shape[2], t.shape[3], t.shape[1]
    raise EdgekitError(f"{facts.path}: input shape {t.shape} has no 1- or 3-channel axis", "export an image model")


def pixel_mapping(facts: TfliteFacts, opts: Options, known: tuple[float, float] | None) -> tuple[list, list, str]:
    """mean/std so that (pixel - mean) / std is what the model wants, and where that came from. A uint8 input takes
    raw pixels (the TFLite/Coral convention: quantising the mapped value gives the pixel back)."""
    t = facts.inputs[0]
    if opts.input_range is not None:
        lo, hi, why = *opts.input_range, "--input-range"
    elif known is not None:
        lo, hi, why = *known, "the exporter's convention"
    elif t.dtype == "uint8" and t.scale:
        return [float(t.zero_point)] * 3, [1.0 / t.scale] * 3, "uint8 input: raw pixels (its quantisation)"
    else:
        raise EdgekitError(
            f"{facts.path}: its {t.dtype} input does not say what pixel range it expects",
            "pass --input-range 0,1 (or -1,1 or 0,255)",
        )
    std = 255.0 / (hi - lo)
    return [-lo * std] * 3, [std] * 3, f"pixels 0..255 -> {lo:g}..{hi:g} ({why})"


def _spec(t: Tensor) -> TensorSpec:
    return TensorSpec(name=t.name, shape=t.shape, dtype=t.dtype, scale=t.scale, zero_point=t.zero_point)


def ultralytics_card(facts: TfliteFacts, meta: dict, where: str, opts: Options) -> dict:
    task = meta.get("task", "detect")
    if task != "detect":
        raise EdgekitError(
            f"{facts.path}: an Ultralytics '{task}' export ({where}); edgekit imports 'detect' models",
            "export the detection model (task=detect)",
        )
    labels = from_names(meta.get("names", {}))
    if opts.labels:
        labels = read_label_file(opts.labels)[0]
    if not labels:
        raise EdgekitError(f"{facts.path}: its Ultralytics metadata ({where}) has no class names", "pass --labels FILE")
    _, layout, h, w, _ = _input(facts)
    imgsz = meta.get("imgsz") or [h, w]
    if [int(v) for v in imgsz] != [h, w]:
        raise EdgekitError(f"{facts.path}: metadata imgsz {imgsz} but the input is {h}x{w}", "re-export the model")
    out = facts.outputs[0].shape if facts.outputs else []
    if len(facts.outputs) != 1 or 4 + len(labels) not in out[-2:]:
        raise EdgekitError(
            f"{facts.path}: output {out} has no axis of 4 + {len(labels)} classes (a YOLOv8/11 head)",
            "only YOLOv8/YOLO11 detect exports without NMS are supported; check the class names",
        )
    mean, std, how = pixel_mapping(facts, opts, (0.0, 1.0))
    params = {
        "num_classes": len(labels),
        "score_threshold": opts.score_threshold or 0.25,
        "iou_threshold": ULTRALYTICS_IOU,
        "max_detections": opts.max_detections or ULTRALYTICS_MAX_DET,
    }
    return dict(
        task="object_detector",
        labels=labels,
        outputs=["output0"],
        output_tensors=[_spec(facts.outputs[0])],
        preprocess=Preprocess(
            width=w,
            height=h,
            layout=layout,
            color="RGB",
            resize="letterbox",
            pad=114,
            interpolation="linear",
            mean=mean,
            std=std,
        ),
        decoder=DecoderSpec(name="yolo", params=params),
        licence=str(meta.get("license", "")),
        source={
            "ultralytics": {
                k: as_plain(meta[k]) for k in ("description", "version", "date", "stride", "task") if k in meta
            },
            "metadata_from": where,
        },
        notes=f"Ultralytics export: letterbox with 114 grey, {how}; NMS at IoU {ULTRALYTICS_IOU}; at most "
        f"{params['max_detections']} boxes per call (decoder.params.max_detections).",
    )


def _find_labels(facts: TfliteFacts, opts: Options) -> Path:
    if opts.labels:
        return Path(opts.labels)
    for name in LABEL_FILES:
        p = facts.path.with_name(name)
        if p.is_file() and not name.endswith(".pbtxt"):
            return p
    raise EdgekitError(
        f"{facts.path}: an SSD (TFLite_Detection_PostProcess) with no label map beside it "
        f"({', '.join(LABEL_FILES[:3])})",
        "pass --labels FILE (one class per line, or 'ID label')",
    )


def ssd_card(facts: TfliteFacts, opts: Options) -> dict:
    op = dict(facts.custom_options.get(SSD_OP, {}))
    num_classes = int(op.get("num_classes", 0))
    label_path = _find_labels(facts, opts)
    labels = read_label_file(label_path)[0]
    labels = fit_to_classes(labels, num_classes, str(label_path)) if num_classes else labels
    role_of = dict(zip(facts.custom_outputs.get(SSD_OP, []), SSD_ROLES))
    graph_outs = [t for t in facts.outputs if t.name in role_of]
    if len(graph_outs) != 4:
        raise EdgekitError(f"{facts.path}: the graph's outputs are not the post-process op's four", "re-export the SSD")
    _, layout, h, w, _ = _input(facts)
    mean, std, how = pixel_mapping(facts, opts, None)
    cap = int(op.get("max_detections", 0)) or None
    params = {"score_threshold": opts.score_threshold or 0.5, "skip_ids": unused_ids(labels)}
    if cap:
        params["max_detections"] = cap  # fixed inside the graph: for the reader, the decoder does not apply it
    return dict(
        task="object_detector",
        labels=labels,
        outputs=[role_of[t.name] for t in graph_outs],
        output_tensors=[_spec(t) for t in graph_outs],
        preprocess=Preprocess(width=w, height=h, layout=layout, color="RGB", resize="stretch", mean=mean, std=std),
        decoder=DecoderSpec(name="ssd", params=params),
        source={"labels_from": str(label_path), "post_process": {k: as_plain(v) for k, v in op.items()}},
        notes=f"SSD with {SSD_OP} in the graph (anchors and NMS inside, IoU {op.get('nms_iou_threshold', '?'):.2g}); "
        f"{how}; the graph returns at most {cap} boxes (op option max_detections); "
        f"{len(params['skip_ids'])} unused label ids ({PLACEHOLDER}) are dropped.",
    )


def bare_card(facts: TfliteFacts, opts: Options) -> dict:
    if not opts.decoder:
        raise EdgekitError(
            f"{facts.path}: neither Ultralytics metadata nor a {SSD_OP} op: edgekit cannot tell how "
            "to decode its outputs",
            "pass --decoder yolo (with --labels FILE and --input-range)",
        )
    if opts.decoder != "yolo":
        raise EdgekitError(
            f"{facts.path}: --decoder {opts.decoder} needs a card edgekit cannot learn from the file",
            "write models/NAME.yaml and use `edgekit convert` (see models/nanodet.yaml)",
        )
    if not opts.labels:
        raise EdgekitError(f"{facts.path}: a bare graph carries no class names", "pass --labels FILE")
    meta = {"names": dict(enumerate(read_label_file(opts.labels)[0])), "task": "detect"}
    card = ultralytics_card(facts, meta, f"--labels {opts.labels}", opts)
    card["source"] = {"labels_from": str(opts.labels)}
    return card


def card_fields(facts: TfliteFacts, opts: Options) -> tuple[str, dict]:
    meta, where = ultralytics_metadata(facts)
    if meta is not None:
        return "ultralytics", ultralytics_card(facts, meta, where, opts)
    if facts.has_custom(SSD_OP):
        return "ssd", ssd_card(facts, opts)
    return "bare", bare_card(facts, opts)


def import_model(path: str | Path, out_dir: Path, opts: Options | None = None) -> Imported:
    """Recognise, card, copy into `out_dir` as NAME.tflite + NAME.card.json, and validate by loading and decoding."""
    from converters.card_writer import tool_versions

    opts = opts or Options()
    path = Path(path)
    if not path.is_file():
        raise EdgekitError(f"model {path}: not found", "check the path")
    facts = read_facts(path)
    target = refuse_unrunnable(facts, opts)
    family, fields = card_fields(facts, opts)
    name = opts.name or default_name(path)
    if not re.fullmatch(r"[a-z0-9_]+", name):
        raise EdgekitError(f"--name {name}: use lower-case letters, digits and _", f"e.g. --name {default_name(path)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dest = out_dir / f"{name}.tflite"
    if dest.resolve() != path.resolve():
        shutil.copyfile(path, dest)
    source = {"format": "tflite", "imported_from": str(path), "sha256": sha256_file(path), **fields.pop("source", {})}
    card = ModelCard(
        name=name,
        target=target if facts.quantized or target == "coral" else "float",
        tflite=dest.name,
        sha256=sha256_file(dest),
        inputs=[_spec(t) for t in facts.inputs],
        source=source,
        quantization={
            "kind": facts.quantization_kind,
            "requantised": False,
            "note": "imported as is: no second quantisation",
        },
        gate={"passed": None, "note": "imported: no float reference to gate against"},
        tools=tool_versions(),
        **fields,
    )
    card._dir = out_dir
    notes = validate(card, target)
    card.save(out_dir / f"{name}.card.json")
    return Imported(out_dir / f"{name}.card.json", card, family, notes)


def validate(card: ModelCard, target: str) -> list[str]:
    """Load the model on its accelerator, run it on a grey frame and decode: a card that names the wrong tensors or
    sizes fails here, not on the device. Records the partition report."""
    import numpy as np

    from edge.vision.detector import Detector

    if target == "coral":
        return ["Edge TPU model: loaded by the coral accelerator on this machine; not run on the CPU"]
    det = Detector(card)
    det.detect(np.full((card.preprocess.height, card.preprocess.width, 3), 114, np.uint8))
    report = det.model.report()
    card.partitions = report.as_dict()
    notes = [f"graph: {report}"]
    if report.partitions != 1:
        notes.append(
            f"note: {report.partitions} XNNPACK partitions (1 is best; ops left on reference kernels run slow)"
        )
    cap = card.decoder.params.get("max_detections")
    if cap is not None and cap < 100:
        notes.append(f"note: at most {cap} detections per call (fixed in the graph): too few for dense shelves")
    return notes
