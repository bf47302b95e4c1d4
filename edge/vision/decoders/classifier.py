"""Classifier head -> top-k labels and scores. `activation`: softmax (one class per image), sigmoid (independent
attributes: several may be true) or none (the graph already ends in one). `temperature` divides the logits before
softmax/sigmoid: the calibration knob (fit on labelled data so that a score of 0.8 is right 80% of the time).
A binary head (one output value, two labels: e.g. FaceRes's gender, mask/no mask) gives [1 - p, p] for the labels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.errors import EdgekitError


@dataclass
class Classes:
    ids: np.ndarray  # (k,) int, best first
    scores: np.ndarray  # (k,) float32
    labels: list[str]
    probabilities: np.ndarray  # (C,) every class

    def as_dict(self) -> list[dict]:
        return [{"label": l, "score": round(float(s), 4)} for l, s in zip(self.labels, self.scores)]


class Decoder:
    def __init__(self, card):
        p = card.decoder.params
        self.activation = p.get("activation", "softmax")
        if self.activation not in ("softmax", "sigmoid", "none"):
            raise EdgekitError(
                f"model card {card.name}: decoder.params.activation '{self.activation}'", "use softmax, sigmoid or none"
            )
        self.temperature = float(p.get("temperature", 1.0))
        self.top_k = int(p.get("top_k", 5))
        self.score_threshold = float(p.get("score_threshold", 0.0))
        self.output = card.outputs.index(p["output"]) if "output" in p else 0
        self.labels = list(card.labels)

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        z = np.asarray(logits, np.float32).reshape(len(logits), -1) / self.temperature
        if z.shape[1] == 1 and len(self.labels) == 2:  # binary head: p of labels[1]
            p = 1.0 / (1.0 + np.exp(-z)) if self.activation != "none" else z
            return np.concatenate([1.0 - p, p], 1)
        if self.activation == "softmax":
            e = np.exp(z - z.max(1, keepdims=True))
            return e / e.sum(1, keepdims=True)
        if self.activation == "sigmoid":
            return 1.0 / (1.0 + np.exp(-z))
        return z

    def decode_batch(self, logits: np.ndarray, top_k: int | None = None) -> list[Classes]:
        """(B, C) logits -> one Classes per row."""
        probs = self.probabilities(logits)
        k = min(top_k or self.top_k, probs.shape[1])
        top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
        out = []
        for row, ids in zip(probs, top):  # per image/crop, not per class
            ids = ids[row[ids] >= self.score_threshold]
            out.append(Classes(ids.astype(np.int32), row[ids].astype(np.float32), [self.label(i) for i in ids], row))
        return out

    def label(self, i: int) -> str:
        return self.labels[i] if 0 <= i < len(self.labels) else str(int(i))

    def __call__(self, outputs, transform=None, top_k: int | None = None) -> Classes:
        return self.decode_batch(np.asarray(outputs[self.output]).reshape(1, -1), top_k)[0]
