"""The accuracy gate: float and INT8 side by side on held-out real images; refuse an INT8 model that lost too much."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from converters.calibration import resolve, resolve_all
from edge.errors import EdgekitError
from edge.faces.embedder import embed_chip
from edge.faces.evaluate import score_pairs
from edge.faces.pairs import read_pairs
from edge.images import list_images, read_image
from edge.metrics import best_accuracy, rank1, roc_auc
from edge.vision.detections import iou_matrix

DEFAULT_MAX_DROP = {
    "verification_accuracy": 0.005,
    "auc": 0.005,
    "rank1": 0.02,
    "recall": 0.10,
    "precision": 0.10,
    "top1_agreement": 0.05,
    "iou": 0.15,
    "lfw_accuracy": 0.003,
}


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.reshape(-1).astype(np.float64), b.reshape(-1).astype(np.float64)
    den = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / den) if den > 0 else float(np.allclose(a, b))


def output_agreement(float_model, int8_model, samples, ranges: dict | None = None) -> dict:
    """Cosine and max abs error per output; float values are first clipped to the card's declared output range
    (values beyond it carry no meaning, e.g. logits far below any threshold)."""
    cos: dict[str, list[float]] = {}
    err: dict[str, float] = {}
    ranges = ranges or {}
    for s in tqdm(samples, desc="gate: outputs", unit="img", leave=False, disable=None):
        x, _ = float_model.prepare(s.image)  # the same tensor into both: the cards' preprocessing is one
        for name, yf, yq in zip(float_model.card.outputs, float_model.run(x), int8_model.run(x)):
            if name in ranges:
                lo, hi = ranges[name]
                yf = np.clip(yf, -np.inf if lo is None else lo, np.inf if hi is None else hi)
            cos.setdefault(name, []).append(_cos(yf, yq))
            err[name] = max(err.get(name, 0.0), float(np.abs(yf - yq).max()))
    return {
        n: {
            "cosine_mean": round(float(np.mean(c)), 5),
            "cosine_min": round(float(np.min(c)), 5),
            "max_abs_error": round(err[n], 5),
        }
        for n, c in cos.items()
    }


def _match(ref, other, iou: float):
    """Greedy one-to-one matching, best reference detections first: (ref index, other index, IoU) triples."""
    if not len(ref) or not len(other):
        return []
    m = np.where(ref.class_ids[:, None] == other.class_ids[None, :], iou_matrix(ref.boxes, other.boxes), 0)
    free, out = np.ones(len(other), bool), []
    for i in np.argsort(-ref.scores):
        j = int(np.argmax(np.where(free, m[i], -1)))
        if free[j] and m[i, j] >= iou:
            free[j] = False
            out.append((int(i), j, float(m[i, j])))
    return out


def detection_agreement(float_model, int8_model, samples, iou: float = 0.5, margin: float = 0.1) -> dict:
    """Recall and precision of INT8 detections against float detections (the reference) at IoU >= iou.

    A detection scoring within `margin` of the decoder's threshold is a coin flip for either model (BlazeFace full
    range: every difference on the held-out set was a face at 0.52-0.55), so recall counts float detections scoring
    at least threshold + margin and precision INT8 detections scoring that much; each may match any detection of
    the other model above the threshold itself."""
    confident = getattr(float_model.decoder, "score_threshold", 0.0) + margin
    n_f = n_q = found = right = 0
    ious, kp_err = [], []
    for s in tqdm(samples, desc="gate: detections", unit="img", leave=False, disable=None):
        df, dq = float_model.infer(s.image), int8_model.infer(s.image)
        sure_f, sure_q = df[df.scores >= confident], dq[dq.scores >= confident]
        n_f, n_q = n_f + len(sure_f), n_q + len(sure_q)
        found += len(_match(sure_f, dq, iou))
        right += len(_match(sure_q, df, iou))
        for i, j, v in _match(df, dq, iou):
            ious.append(v)
            if df.keypoints is not None and dq.keypoints is not None:
                # keypoint error relative to the face size, so near and far faces weigh alike
                size = max(float(df.boxes[i, 2] - df.boxes[i, 0]), 1.0)
                kp_err.append(float(np.linalg.norm(df.keypoints[i] - dq.keypoints[j], axis=-1).max() / size))
    return {
        "float_detections": n_f,
        "int8_detections": n_q,
        "score_floor": round(confident, 3),
        "recall": round(found / n_f, 4) if n_f else 1.0,
        "precision": round(right / n_q, 4) if n_q else 1.0,
        "matched_iou_mean": round(float(np.mean(ious)), 4) if ious else None,
        "matched_iou_min": round(float(np.min(ious)), 4) if ious else None,
        **({"keypoint_error_max_rel": round(float(np.max(kp_err)), 4)} if kp_err else {}),
    }


def classifier_agreement(float_model, int8_model, samples) -> dict:
    """Share of held-out images on which INT8 and float pick the same top-1 class."""
    same = 0
    for s in tqdm(samples, desc="gate: top-1", unit="img", leave=False, disable=None):
        top_f, top_q = (int(np.argmax(m.infer(s.image).probabilities)) for m in (float_model, int8_model))
        same += int(top_f == top_q)
    return {"top1_agreement": round(same / max(len(samples), 1), 4)}


def _identity_sets(entries: list[str]) -> list[tuple[str, list[Path], list[str]]]:
    out = []
    for entry in entries:
        paths = resolve_all(entry)  # a glob names identity folders; a plain folder holds them
        folders = (
            paths
            if len(paths) > 1 or any(c in entry for c in "*?[")
            else [d for d in sorted(paths[0].iterdir()) if d.is_dir()]
        )
        files, ids = [], []
        for d in folders:
            for f in list_images(d):
                files.append(f)
                ids.append(d.name)
        out.append((entry, files, ids))
    return out


def embedding_metrics(
    float_model, int8_model, identities: list[str], pairs: list[str], face_crop=None, mirror: bool = False
) -> dict:
    """Rank-1 (one enrolled image per identity, the rest probes) and pair verification (accuracy at the best threshold,
    ROC AUC), float vs INT8. Pair CSVs hold whole photos: `face_crop(image)` cuts the face out first. `mirror`: the
    card's test-time mirroring, as the device embeds (edge.faces.embedder.embed_chip)."""
    out = {}
    for entry, files, ids in _identity_sets(identities):
        ids = np.asarray(ids)
        first = np.zeros(len(ids), bool)
        _, idx = np.unique(ids, return_index=True)
        first[idx] = True
        images = [read_image(f) for f in files]
        for tag, model in (("float", float_model), ("int8", int8_model)):
            emb = np.stack(
                [
                    embed_chip(model, im, mirror)
                    for im in tqdm(images, desc=f"gate: {entry} {tag}", leave=False, disable=None)
                ]
            )
            out.setdefault(f"rank1[{entry}]", {})[tag] = round(
                rank1(emb[first], ids[first], emb[~first], ids[~first]), 4
            )
            iu = np.triu_indices(len(ids), 1)
            sims, same = (emb @ emb.T)[iu], (ids[:, None] == ids[None, :])[iu]
            out.setdefault(f"verification_accuracy[{entry}]", {})[tag] = round(best_accuracy(sims, same)[0], 4)
            out.setdefault(f"auc[{entry}]", {})[tag] = round(roc_auc(sims, same), 4)
    for entry in pairs:
        rows = read_pairs(resolve(entry))
        if face_crop is None:
            raise EdgekitError(
                f"gate pairs {entry}: need a face detector to crop whole photos",
                "set `detector:` in the card and build it first",
            )
        cache: dict[Path, np.ndarray | None] = {}
        for f in dict.fromkeys(f for p in rows for f in (p.a, p.b)):
            try:
                cache[f] = face_crop(read_image(f))
            except EdgekitError:  # e.g. a truncated JPEG in the set: its pairs are left out and counted
                cache[f] = None
        for tag, model in (("float", float_model), ("int8", int8_model)):
            emb = {f: embed_chip(model, c, mirror) for f, c in cache.items() if c is not None}
            sims, same, left_out = score_pairs(rows, emb.get, lambda x, y: float(x @ y))
            out.setdefault(f"verification_accuracy[{entry}]", {})[tag] = round(best_accuracy(sims, same)[0], 4)
            out.setdefault(f"auc[{entry}]", {})[tag] = round(roc_auc(sims, same), 4)
        out[f"pairs_used[{entry}]"] = {"float": len(rows) - left_out, "int8": len(rows) - left_out, "of": len(rows)}
    return out


def lfw_metrics(float_model, int8_model, entry: str, limit: int | None, face_crop, mirror: bool = False) -> dict:
    """LFW's 10-fold accuracy (each fold's threshold from the other nine), float vs INT8, on the first `limit` same and
    different pairs of each fold; the subject is the face nearest the image centre, a photo without one makes its
    pairs errors (edge/faces/lfw.py). `mirror`: the card's test-time mirroring, as the device embeds."""
    from edge.faces import lfw

    if face_crop is None:
        raise EdgekitError(
            f"gate lfw {entry}: needs a face detector to crop the photos",
            "set `detector:` in the card and build it first",
        )
    pairs = lfw.read_pairs(resolve(entry), limit=limit)
    crops = {
        p: face_crop(read_image(pairs.images / p), pick="central")
        for p in tqdm(pairs.photos(), desc=f"gate: {entry} crops", leave=False, disable=None)
    }
    out = {}
    for tag, model in (("float", float_model), ("int8", int8_model)):
        vectors = {p: None if c is None else embed_chip(model, c, mirror) for p, c in crops.items()}
        scores, missed = lfw.pair_scores(pairs, vectors)
        accuracy = lfw.ten_fold(scores, pairs.same, pairs.fold)["accuracy_mean"]
        out.setdefault(f"lfw_accuracy[{entry}]", {})[tag] = round(accuracy, 4)
        out.setdefault(f"auc[{entry}]", {})[tag] = round(roc_auc(scores, pairs.same), 4)
    out[f"lfw_pairs[{entry}]"] = {"pairs": len(pairs), "photos_without_a_face": int(missed)}
    return out


def judge(
    metrics: dict, max_drop: dict[str, float], min_cosine: float, partitions: int | None, target: str
) -> list[str]:
    limits = {**DEFAULT_MAX_DROP, **max_drop}
    failures = []
    for name, m in metrics.get("outputs", {}).items():
        if m["cosine_mean"] < min_cosine:
            failures.append(f"output {name}: mean cosine {m['cosine_mean']} < {min_cosine}")
    for key, value in metrics.items():
        base = key.split("[")[0]
        if isinstance(value, dict) and "float" in value and "int8" in value and base in limits:
            drop = value["float"] - value["int8"]
            if drop > limits[base]:
                failures.append(
                    f"{key}: {value['float']} float -> {value['int8']} INT8 (drop {drop:.4f} > {limits[base]})"
                )
    if "top1_agreement" in metrics and 1.0 - metrics["top1_agreement"] > limits["top1_agreement"]:
        failures.append(f"top-1 agreement with float {metrics['top1_agreement']} < {1 - limits['top1_agreement']:.2f}")
    det = metrics.get("detections")
    if det:
        for k in ("recall", "precision"):
            if 1.0 - det[k] > limits[k]:
                failures.append(f"detections {k} {det[k]} vs float < {1 - limits[k]:.2f}")
        if det.get("matched_iou_mean") is not None and 1.0 - det["matched_iou_mean"] > limits["iou"]:
            failures.append(
                f"matched detections' mean IoU with float {det['matched_iou_mean']} < {1 - limits['iou']:.2f}"
            )
    if target == "cpu" and partitions is not None and partitions != 1:
        failures.append(f"XNNPACK runs the INT8 graph in {partitions} partitions, not 1")
    return failures
