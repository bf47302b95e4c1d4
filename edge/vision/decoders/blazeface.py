"""MediaPipe BlazeFace: SSD anchors, box + 6 keypoint regression, sigmoid scores, weighted NMS (all numpy)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from edge.errors import EdgekitError
from edge.vision.detections import Detections
from edge.vision.nms import weighted_nms


@lru_cache(maxsize=8)  # once per model shape, however many decoders (detector, enrolment, bench) are made
def _anchors(size: int, strides: tuple[int, ...], anchors_per_layer: int, offset: float) -> np.ndarray:
    a = ssd_anchors(size, list(strides), anchors_per_layer, offset)
    a.setflags(write=False)
    return a


def ssd_anchors(size: int, strides: list[int], anchors_per_layer: int, offset: float = 0.5) -> np.ndarray:
    """(N, 2) anchor centres in [0, 1]. Consecutive layers with the same stride share one grid (MediaPipe's
    SsdAnchorsCalculator with fixed_anchor_size, so widths/heights are 1 and only centres matter)."""
    centres = []
    i = 0
    while i < len(strides):
        j = i
        while j < len(strides) and strides[j] == strides[i]:
            j += 1
        grid = int(np.ceil(size / strides[i]))
        ys, xs = np.meshgrid((np.arange(grid) + offset) / grid, (np.arange(grid) + offset) / grid, indexing="ij")
        cells = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(cells, anchors_per_layer * (j - i), axis=0))
        i = j
    return np.concatenate(centres).astype(np.float32)


class Decoder:
    def __init__(self, card):
        p = card.decoder.params
        self.size = card.preprocess.width
        self.name = card.name
        self.anchors = _anchors(
            self.size,
            tuple(int(s) for s in p.get("strides", [8, 16, 16, 16])),
            int(p.get("anchors_per_layer", 2)),
            float(p.get("anchor_offset", 0.5)),
        )
        self.score_threshold = float(p.get("score_threshold", 0.5))
        self.iou_threshold = float(p.get("iou_threshold", 0.3))
        self.clip = float(p.get("score_clip", 100.0))
        self.order = [card.outputs.index(n) for n in ("regressors", "classificators")] if card.outputs else [0, 1]

    def __call__(self, outputs, transform) -> Detections:
        raw = outputs[self.order[0]].reshape(-1, 16)
        logits = outputs[self.order[1]].reshape(-1)
        if len(raw) != len(self.anchors):
            raise EdgekitError(
                f"model card {self.name}: the model gives {len(raw)} boxes, the card's anchors make "
                f"{len(self.anchors)}",
                "fix decoder.params strides/anchors_per_layer in the card (128 px short range: [8, 16, 16, 16] x 2)",
            )
        keep = logits > np.log(self.score_threshold / (1 - self.score_threshold))  # sigmoid(x) > t, without exp on all
        if not keep.any():
            return Detections(keypoints=np.zeros((0, 6, 2), np.float32))
        raw, anchors = raw[keep], self.anchors[keep]
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits[keep], -self.clip, self.clip)))
        pts = raw.reshape(-1, 8, 2) / self.size + anchors[:, None, :]  # centre, (w, h) placeholder, 6 keypoints
        cx, cy = pts[:, 0, 0], pts[:, 0, 1]
        w, h = raw[:, 2] / self.size, raw[:, 3] / self.size
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1) * self.size
        kps = pts[:, 2:, :] * self.size
        boxes, scores, kps = weighted_nms(boxes, scores.astype(np.float32), self.iou_threshold, kps)
        boxes = transform.to_frame(boxes)
        kps = transform.to_frame(kps.reshape(len(kps), -1)).reshape(-1, 6, 2)
        return Detections(
            boxes=boxes.astype(np.float32),
            scores=scores,
            class_ids=np.zeros(len(scores), np.int32),
            keypoints=kps.astype(np.float32),
        )
