"""Every detector decoder on real trained weights that users bring (../shared/data/models): YOLOv8n COCO and SKU-110K
Ultralytics exports, the classic quantised SSD MobileNet v1 with TFLite_Detection_PostProcess. Cards come from
`edgekit models import`; the YOLO boxes are checked against an independent numpy decode of the raw tensor."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from converters.importer import Options, import_model
from edge.vision.detector import Detector

ASSETS = "shelf/ultralytics_assets"


@pytest.fixture(scope="module")
def models(shared_data):
    return shared_data / "models"


@pytest.fixture(scope="module")
def imported(models, tmp_path_factory):
    out = tmp_path_factory.mktemp("imported")
    cache = {}

    def get(rel: str, **options):
        key = (rel, tuple(sorted(options.items())))
        if key not in cache:
            name = f"m{len(cache)}"
            cache[key] = import_model(models / rel, out, Options(name=name, **options)).card_path
        return cache[key]

    return get


def ultralytics_letterbox(img: np.ndarray, size: int = 640):
    """Ultralytics' LetterBox(auto=False): INTER_LINEAR resize, 114 grey, padding split with round(d -/+ 0.1)."""
    h, w = img.shape[:2]
    r = min(size / h, size / w)
    nw, nh = round(w * r), round(h * r)
    dw, dh = (size - nw) / 2, (size - nh) / 2
    img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    top, left = round(dh - 0.1), round(dw - 0.1)
    img = cv2.copyMakeBorder(img, top, size - nh - top, left, size - nw - left, cv2.BORDER_CONSTANT, value=(114,) * 3)
    return img, r, left, top


def greedy_nms(boxes, scores, iou):
    order, keep = np.argsort(-scores, kind="stable"), []  # ties (int8 scores) keep the lower anchor
    while len(order):
        i, order = order[0], order[1:]
        keep.append(i)
        xx1 = np.maximum(boxes[i, 0], boxes[order, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[order, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[order, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[order, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)

        def area(b):
            return (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])

        order = order[inter / (area(boxes[i]) + area(boxes[order]) - inter) <= iou]
    return np.array(keep, int)


def raw_yolo(tflite_path, img_bgr):
    """The export's raw output [4 + nc, 8400] (dequantised) on Ultralytics' letterboxed RGB 0..1 input."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(tflite_path))
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    x, r, left, top = ultralytics_letterbox(img_bgr)
    x = x[..., ::-1].astype(np.float32)[None] / 255.0
    if inp["dtype"] != np.float32:
        s, z = inp["quantization"]
        x = np.clip(np.rint(x / s + z), -128, 127).astype(inp["dtype"])
    it.set_tensor(inp["index"], x)
    it.invoke()
    y = it.get_tensor(out["index"])[0]
    if out["dtype"] != np.float32:
        s, z = out["quantization"]
        y = (y.astype(np.float32) - z) * s
    return y, r, left, top


def reference_yolo(y, r, left, top, frame_shape, conf=0.25, iou=0.7):
    """Ultralytics' decode, written here from its definition: rows [cx, cy, w, h, class scores] x 8400 (normalised
    to the 640 input), class-aware NMS at 0.7, letterbox undone, clipped to the photo."""
    rows = y.T  # (8400, 4 + nc)
    cls = rows[:, 4:].argmax(1)
    score = rows[:, 4:].max(1)
    keep = score > conf
    rows, cls, score = rows[keep], cls[keep], score[keep]
    cx, cy, w, h = (rows[:, i] * 640 for i in range(4))
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)
    kept = greedy_nms(boxes + cls[:, None] * 7680.0, score, iou)
    boxes = (boxes[kept] - [left, top, left, top]) / r
    ih, iw = frame_shape[:2]
    return np.clip(boxes, 0, [iw, ih, iw, ih]), score[kept], cls[kept]


def match(a_boxes, b_boxes):
    """For each box of a, the largest coordinate difference to its nearest box of b."""
    return np.array([np.abs(b_boxes - box).max(1).min() for box in a_boxes])


COCO_EXPORTS = ["yolov8n_coco/yolov8n_full_integer_quant.tflite", "yolov8n_coco/yolov8n_int8.tflite"]
PHOTOS = [("bus.jpg", {"person": 3, "bus": 1}), ("zidane.jpg", {"person": 2, "tie": 1})]


@pytest.mark.parametrize("rel", COCO_EXPORTS)
@pytest.mark.parametrize("photo, expected", PHOTOS)
def test_yolo_decoder_on_the_raw_tensor_matches_a_numpy_decode(shared_data, models, imported, rel, photo, expected):
    from edge.preprocess import Transform

    det = Detector(imported(rel))
    img = cv2.imread(str(shared_data / ASSETS / photo))
    y, r, left, top = raw_yolo(models / rel, img)
    d = det.decoder([y[None]], Transform(r, r, float(left), float(top)))
    ref_boxes, ref_scores, ref_cls = reference_yolo(y, r, left, top, img.shape)
    assert len(d) == len(ref_scores)
    np.testing.assert_allclose(np.sort(d.scores), np.sort(ref_scores), atol=1e-5)
    ih, iw = img.shape[:2]
    boxes = np.clip(d.boxes, 0, [iw, ih, iw, ih])
    assert match(boxes, ref_boxes).max() < 1.0 and match(ref_boxes, boxes).max() < 1.0
    names = [det.label(c) for c in ref_cls]
    for label, n in expected.items():
        assert names.count(label) >= n, (photo, names)


@pytest.mark.parametrize("rel", COCO_EXPORTS)
@pytest.mark.parametrize("photo, expected", PHOTOS)
def test_yolov8_coco_finds_people_bus_tie_as_ultralytics_does(shared_data, models, imported, rel, photo, expected):
    """The whole path (card preprocessing, model, decoder) against Ultralytics' preprocessing and decode."""
    det = Detector(imported(rel))
    img = cv2.imread(str(shared_data / ASSETS / photo))
    d = det.detect(img)
    names = [det.label(c) for c in d.class_ids]
    for label, n in expected.items():
        assert names.count(label) >= n, (photo, names)
    ref_boxes, _, ref_cls = reference_yolo(*raw_yolo(models / rel, img), img.shape)
    assert sorted(d.class_ids) == sorted(ref_cls)
    assert match(d.boxes, ref_boxes).max() < 3.0 and match(ref_boxes, d.boxes).max() < 3.0


def test_yolov8_card_comes_from_ultralytics_metadata(imported):
    from edge.card import load_card

    card = load_card(imported("yolov8n_coco/yolov8n_full_integer_quant.tflite"))
    assert card.labels[0] == "person" and card.labels[27] == "tie" and len(card.labels) == 80
    assert card.preprocess.resize == "letterbox" and card.preprocess.pad == 114 and card.preprocess.width == 640
    assert card.decoder.params["iou_threshold"] == 0.7 and card.decoder.params["max_detections"] == 300
    assert card.quantization["requantised"] is False and card.partitions["ops"] > 200
    assert card.source["metadata_from"] == "metadata embedded in the .tflite"
    sku = load_card(imported("sku110k_yolov8n/best_full_integer_quant.tflite"))  # no embedded metadata: the yaml beside
    assert sku.labels == ["object"] and sku.source["metadata_from"].endswith("metadata.yaml")


def test_sku110k_yolov8_counts_products_beyond_a_hundred(shared_data, imported):
    det = Detector(imported("sku110k_yolov8n/best_full_integer_quant.tflite"))
    img = cv2.imread(str(shared_data / "models/sku110k_yolov8n/test_37.jpg"))
    d = det.detect(img)
    assert len(d) > 100  # a dense shelf: no silent cap at 100 boxes
    assert (d.boxes[:, 2] > d.boxes[:, 0]).all() and d.boxes[:, 3].max() <= img.shape[0]


@pytest.mark.parametrize("photo, expected", [("bus.jpg", ["person", "bus"]), ("zidane.jpg", ["person", "tie"])])
def test_ssd_mobilenet_post_process_maps_coco_ids_with_gaps(shared_data, imported, photo, expected):
    card = imported("ssd_mobilenet_v1_coco_quant/detect.tflite", score_threshold=0.3)
    det = Detector(card)
    d = det.detect(cv2.imread(str(shared_data / ASSETS / photo)))
    names = [det.label(c) for c in d.class_ids[d.scores > 0.3]]
    assert set(expected) <= set(names), names
    assert "???" not in names
    # ids past a gap: labelmap line 13 'stop sign' is op class 12 (line 0 is the background, line 12 a gap)
    assert det.labels[12] == "stop sign" and det.labels[11] == "???" and det.labels[89] == "toothbrush"
    assert 11 in det.card.decoder.params["skip_ids"] and det.card.decoder.params["max_detections"] == 10


def test_ssd_bus_boxes_are_where_the_people_are(shared_data, imported):
    det = Detector(imported("ssd_mobilenet_v1_coco_quant/detect.tflite"))
    d = det.detect(cv2.imread(str(shared_data / ASSETS / "bus.jpg")))
    bus = d.boxes[[det.label(c) == "bus" for c in d.class_ids]][0]
    assert bus[2] - bus[0] > 600 and bus[1] < 300  # the bus spans the photo's width, its roof near the top
