"""SSD with the TFLite_Detection_PostProcess op in the graph (as Coral's and TF's SSD MobileNet models ship): the
graph already decodes anchors and runs NMS, and has four outputs: boxes [1, N, 4] as ymin, xmin, ymax, xmax normalised
to the input; classes [1, N] (float ids, 0-based for the op's labels); scores [1, N]; count [1] (valid rows).
The card's `outputs` names them (boxes, classes, scores, count) in the model's order; without names that order."""

from __future__ import annotations

import numpy as np

from edge.errors import EdgekitError
from edge.vision.detections import Detections

ROLES = ("boxes", "classes", "scores", "count")


class Decoder:
    def __init__(self, card):
        p = card.decoder.params
        self.score_threshold = float(p.get("score_threshold", 0.5))
        self.label_offset = int(p.get("label_offset", 0))  # e.g. 1 where the labels file keeps a background line 0
        # ids the label map leaves unused (COCO's gaps, `???`): the op can still emit them; they are dropped
        self.skip_ids = np.asarray(p.get("skip_ids", []), np.int32)
        names = card.outputs or list(ROLES)
        missing = [r for r in ROLES if r not in names]
        if missing:
            raise EdgekitError(
                f"model card {card.name}: ssd decoder needs outputs named {list(ROLES)}, missing {missing}",
                "name the post-process outputs in the card's `outputs` list",
            )
        self.index = {r: names.index(r) for r in ROLES}
        self.size = np.array([card.preprocess.width, card.preprocess.height] * 2, np.float32)

    def __call__(self, outputs, transform) -> Detections:
        boxes = np.asarray(outputs[self.index["boxes"]], np.float32).reshape(-1, 4)
        classes = np.asarray(outputs[self.index["classes"]], np.float32).reshape(-1)
        scores = np.asarray(outputs[self.index["scores"]], np.float32).reshape(-1)
        count = int(np.asarray(outputs[self.index["count"]]).reshape(-1)[0])
        n = max(0, min(count, len(scores), len(boxes)))
        keep = scores[:n] >= self.score_threshold
        if len(self.skip_ids):
            keep &= ~np.isin(np.rint(classes[:n]).astype(np.int32) + self.label_offset, self.skip_ids)
        yx = np.clip(boxes[:n][keep], 0.0, 1.0)
        xyxy = yx[:, [1, 0, 3, 2]] * self.size  # the op gives y first; Detections are x1, y1, x2, y2
        order = np.argsort(-scores[:n][keep], kind="stable")
        return Detections(
            boxes=transform.to_frame(xyxy[order]).astype(np.float32),
            scores=scores[:n][keep][order],
            class_ids=(np.rint(classes[:n][keep][order]).astype(np.int32) + self.label_offset),
        )
