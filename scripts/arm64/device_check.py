"""The device side's own work, run identically on x86 and on (emulated) arm64 by scripts/arm64/check.py.

Loads every INT8 model of the zoo and runs it on a real photo; runs BlazeFace and the face embedders on real photos
through edgekit's own detector and embedder; writes faces, embeddings and raw outputs to a JSON file (and .npz).
With --inputs, the same preprocessed input tensors are fed on both machines (saved by the first run), so the INT8
kernels can be compared bit for bit apart from image resizing."""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from edge.card import load_card
from edge.faces.detector import FaceDetector
from edge.faces.embedder import FaceEmbedder
from edge.runtime import CardModel

DETECTOR = "blazeface_short"
EMBEDDERS = ("faceres", "facenet")


def int8_cards(models: Path) -> list[Path]:
    return sorted(p for p in models.glob("*.card.json") if not p.name.endswith(".float.card.json"))


def run(models: Path, photos: list[Path], inputs: Path, save_inputs: bool) -> tuple[dict, dict]:
    report, arrays = {"machine": platform.machine(), "python": sys.version.split()[0], "models": {}, "photos": {}}, {}
    first = cv2.imread(str(photos[0]))
    for card_path in int8_cards(models):
        card = load_card(card_path)
        t0 = time.perf_counter()
        model = CardModel(card)
        x = model.prepare(first)[0]
        if save_inputs:
            np.save(inputs / f"{card.name}.npy", x)
        x_shared = np.load(inputs / f"{card.name}.npy")
        outs = [np.asarray(o) for o in model.run(x_shared)]  # dequantised: equal iff the int8 outputs are
        report["models"][card.name] = {
            "loaded": True,
            "seconds": round(time.perf_counter() - t0, 2),
            "input_sha256": hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()[:16],
            "outputs_sha256_on_shared_input": [hashlib.sha256(o.tobytes()).hexdigest()[:16] for o in outs],
        }
        for k, o in enumerate(outs):
            arrays[f"{card.name}/shared/{k}"] = o
    detector = FaceDetector(models / f"{DETECTOR}.card.json")
    embedders = {n: FaceEmbedder(models / f"{n}.card.json") for n in EMBEDDERS if (models / f"{n}.card.json").is_file()}
    for photo in photos:
        frame = cv2.imread(str(photo))
        dets = detector.detect(frame)
        entry = {
            "faces": [
                {"box": [round(float(v), 2) for v in b], "score": round(float(s), 4)}
                for b, s in zip(dets.boxes, dets.scores)
            ]
        }
        for name, emb in embedders.items():
            vecs = emb.embed(frame, dets) if len(dets) else np.zeros((0, emb.dim), np.float32)
            arrays[f"{photo.name}/{name}"] = np.asarray(vecs, np.float32)
        if dets.keypoints is not None:
            arrays[f"{photo.name}/keypoints"] = dets.keypoints.astype(np.float32)
        report["photos"][photo.name] = entry
    return report, arrays


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", type=Path, required=True)
    ap.add_argument("--photos", type=Path, nargs="+", required=True)
    ap.add_argument("--inputs", type=Path, required=True, help="folder of shared input tensors (.npy)")
    ap.add_argument("--save-inputs", action="store_true", help="write this machine's tensors there (first run)")
    ap.add_argument("--out", type=Path, required=True, help="OUT.json (+ OUT.npz)")
    a = ap.parse_args(argv)
    a.inputs.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    report, arrays = run(a.models, a.photos, a.inputs, a.save_inputs)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    a.out.write_text(json.dumps(report, indent=1) + "\n")
    np.savez(a.out.with_suffix(".npz"), **{k.replace("/", "|"): v for k, v in arrays.items()})
    print(
        f"{report['machine']}: {len(report['models'])} models loaded, "
        f"{sum(len(p['faces']) for p in report['photos'].values())} faces in {len(report['photos'])} photos, "
        f"{report['seconds']} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
