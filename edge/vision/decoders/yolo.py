"""Ultralytics YOLOv8 / YOLO11 TFLite export: one output [1, 4 + classes, N] (or its transpose [1, N, 4 + classes]),
rows cx, cy, w, h then one already-sigmoid score per class; no objectness, no NMS in the graph. TFLite exports give
the box normalised to the input (0..1); other exports give input pixels: `normalized: auto` tells by the range.
YOLOv5 heads add an objectness column after the box ([cx, cy, w, h, obj, classes...]): `objectness: true`, and a
box's score is obj * class."""

from __future__ import annotations

import numpy as np

from edge.errors import EdgekitError
from edge.vision.detections import Detections
from edge.vision.nms import nms


class Decoder:
    def __init__(self, card):
        p = card.decoder.params
        self.num_classes = int(p.get("num_classes", len(card.labels)))
        if self.num_classes < 1:
            raise EdgekitError(
                f"model card {card.name}: yolo decoder needs labels or decoder.params.num_classes",
                "add the class names as `labels`",
            )
        self.score_threshold = float(p.get("score_threshold", 0.25))
        self.iou_threshold = float(p.get("iou_threshold", 0.45))
        self.max_detections = int(p.get("max_detections", 300))
        self.normalized = p.get("normalized", "auto")  # true | false | "auto"
        self.agnostic = bool(p.get("agnostic_nms", False))
        self.objectness = bool(p.get("objectness", False))  # YOLOv5: score = obj * class
        self.first_class = 5 if self.objectness else 4
        self.size = np.array([card.preprocess.width, card.preprocess.height] * 2, np.float32)
        self.name = card.name

    def _rows(self, out: np.ndarray) -> np.ndarray:
        """(N, 4 [+ 1] + classes) whatever way round the export put it."""
        out = np.asarray(out).reshape(out.shape[-2:]) if out.ndim == 3 else np.asarray(out)
        width = self.first_class + self.num_classes
        if out.shape[0] == width:
            return out.T
        if out.shape[1] == width:
            return out
        raise EdgekitError(
            f"model {self.name}: yolo output shape {out.shape} has no axis of "
            f"{self.first_class} + {self.num_classes} classes",
            "check the card's labels match the export's classes (or set decoder.params.num_classes)",
        )

    def __call__(self, outputs, transform) -> Detections:
        rows = self._rows(outputs[0])
        scores_all = rows[:, self.first_class :]
        if self.objectness:
            scores_all = scores_all * rows[:, 4:5]
        best = scores_all.argmax(1)
        score = scores_all[np.arange(len(rows)), best]
        keep = score > self.score_threshold
        if not keep.any():
            return Detections()
        xywh, score, best = (
            rows[keep, :4].astype(np.float32),
            score[keep].astype(np.float32),
            best[keep].astype(np.int32),
        )
        normalized = self.normalized if isinstance(self.normalized, bool) else float(np.abs(rows[:, :4]).max()) <= 2.0
        boxes = np.concatenate([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], 1)
        if normalized:
            boxes *= self.size
        idx = nms(boxes, score, self.iou_threshold, None if self.agnostic else best, self.max_detections)
        return Detections(
            boxes=transform.to_frame(boxes[idx]).astype(np.float32), scores=score[idx], class_ids=best[idx]
        )
