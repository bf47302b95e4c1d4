"""NanoDet (GFL head): per stride, class scores (already sigmoid) and 4 x (reg_max + 1) logits of a distribution over
the distance from the cell centre to each box side; distance = expectation of the softmax, times the stride."""

from __future__ import annotations

import numpy as np

from edge.vision.detections import Detections
from edge.vision.nms import nms


class Decoder:
    def __init__(self, card):
        p = card.decoder.params
        self.strides = list(p.get("strides", [8, 16, 32]))
        self.reg_max = int(p.get("reg_max", 10))
        self.score_threshold = float(p.get("score_threshold", 0.35))
        self.iou_threshold = float(p.get("iou_threshold", 0.5))
        self.max_detections = int(p.get("max_detections", 300))
        self.centre_offset = float(p.get("centre_offset", 0.0))
        w, h = card.preprocess.width, card.preprocess.height
        names = card.outputs or []
        self.cls_idx = [names.index(f"cls{s}") for s in self.strides]
        self.box_idx = [names.index(f"box{s}") for s in self.strides]
        # Cell centres per stride, computed once: (N, 2) in input pixels, row-major as the head emits them.
        self.centres = []
        for s in self.strides:
            gw, gh = int(np.ceil(w / s)), int(np.ceil(h / s))
            ys, xs = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
            self.centres.append((np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float32) + self.centre_offset) * s)
        self.bins = np.arange(self.reg_max + 1, dtype=np.float32)

    def __call__(self, outputs, transform) -> Detections:
        boxes, scores, classes = [], [], []
        for s, ci, bi, centres in zip(self.strides, self.cls_idx, self.box_idx, self.centres):
            cls = outputs[ci].reshape(len(centres), -1)
            # every (cell, class) above the threshold, as NanoDet's own post-process: a cell may hold two classes
            cells, cids = np.nonzero(cls > self.score_threshold)
            if len(cells) == 0:
                continue
            logits = outputs[bi].reshape(len(centres), 4, self.reg_max + 1)[cells]
            e = np.exp(logits - logits.max(-1, keepdims=True))
            dist = (e / e.sum(-1, keepdims=True)) @ self.bins * s  # (n, 4): left, top, right, bottom
            c = centres[cells]
            boxes.append(np.concatenate([c - dist[:, :2], c + dist[:, 2:]], 1))
            scores.append(cls[cells, cids])
            classes.append(cids)
        if not boxes:
            return Detections()
        boxes, scores, classes = (
            np.concatenate(boxes),
            np.concatenate(scores).astype(np.float32),
            np.concatenate(classes).astype(np.int32),
        )
        keep = nms(boxes, scores, self.iou_threshold, classes, self.max_detections)
        return Detections(
            boxes=transform.to_frame(boxes[keep]).astype(np.float32), scores=scores[keep], class_ids=classes[keep]
        )
