"""`edgekit faces eval --lfw`: LFW's 10-fold protocol for the INT8 pipeline, its float models and the peer."""

from __future__ import annotations

import json
from pathlib import Path

import click


def default_lfw() -> Path:
    """../shared/data/faces/lfw beside the checkout (or under EDGEKIT_SHARED_DATA)."""
    from edge.paths import shared_data_dir

    return shared_data_dir() / "faces" / "lfw"


def float_card(card: Path) -> Path:
    return card.with_name(card.name.replace(".card.json", ".float.card.json"))


def run_lfw(cfg, path, models, peer: bool, folds, limit, with_float: bool, cache, as_json: bool) -> dict:
    """`models(card_override)` -> (detector, embedder); prints a line per pipeline, returns the JSON document."""
    from edge.faces import lfw

    pairs = lfw.read_pairs(path or default_lfw(), folds, limit)
    cache_root = Path(cache) if cache else lfw.cache_dir()
    say = (lambda *a: None) if as_json else click.echo
    photos = pairs.photos()
    say(
        f"LFW View 2: {len(pairs)} pairs in {len(set(pairs.fold.tolist()))} folds, {len(photos)} photos "
        f"({pairs.images}); subject: {lfw.SUBJECT_RULE}; a photo without a face makes its pairs errors"
    )
    out = {"subject_rule": lfw.SUBJECT_RULE, "cache": str(cache_root)}
    runs = [("lfw", False)] + ([("lfw_float", True)] if with_float else [])
    for key, is_float in runs:
        detector, embedder = models(is_float)
        label = f"{detector.model.card.name} -> {embedder.name} ({'float' if is_float else detector.model.card.target})"
        cache_ = lfw.EmbeddingCache(cache_root, lfw.pipeline_key(detector, embedder))
        vectors = lfw.embed_photos(photos, pairs.images, lfw.pipeline_embed(detector, embedder), cache_, label)
        scores, missed = lfw.pair_scores(pairs, vectors)
        out[key] = {
            "pipeline": label,
            "crop": embedder.crop,
            "margin": embedder.margin,
            "mirror": embedder.mirror,
            "min_score": float(detector.decoder.score_threshold),
            **lfw.lfw_report(scores, pairs, missed),
        }
        say(_line(label + f", crop {embedder.crop}", out[key]))
        if not is_float and embedder.mirror and cfg.embedder.live_mirror == "undecided":
            _, plain = models(False)
            plain.mirror = False
            cache_ = lfw.EmbeddingCache(cache_root, lfw.pipeline_key(detector, plain))
            once = lfw.embed_photos(photos, pairs.images, lfw.pipeline_embed(detector, plain), cache_, label + ", once")
            out["lfw_live"] = {
                "pipeline": label + ", live faces mirrored in the band",
                **live_report(cfg, embedder, pairs, vectors, once),
            }
            r = out["lfw_live"]
            say(
                _line("  as the doorbell embeds live faces", r)
                + f"; {100 * r['second_view_share']:.1f}% took the mirror image (band {r['band'][0]:.3f}-"
                f"{r['band'][1]:.3f}), decisions changed at the points: {r['decisions_changed']}"
            )
    if peer:
        cache_ = lfw.EmbeddingCache(
            cache_root, {"peer": "face_recognition 1.3.0", "detector": "hog", "upsample": 1, "rule": "central"}
        )
        vectors = lfw.embed_photos(photos, pairs.images, lfw.peer_embed(), cache_, "face_recognition")
        scores, missed = lfw.pair_scores(pairs, vectors, distance=True)
        out["lfw_peer"] = {
            "pipeline": "face_recognition (dlib HOG, upsample 1, ResNet, 5-point chip)",
            **lfw.lfw_report(scores, pairs, missed),
        }
        out["lfw_peer"]["thresholds"] = {
            k: (-v if k in ("recognize", "unlock") else v) for k, v in out["lfw_peer"]["thresholds"].items()
        }  # back to distances
        say(_line("face_recognition (distance thresholds)", out["lfw_peer"]))
    if as_json:
        click.echo(json.dumps(out, indent=1))
    return out


def live_report(cfg, embedder, pairs, mirrored: dict, once: dict) -> dict:
    """LFW's figures for live faces embedded the doorbell's way (edge.faces.lfw.live_scores, the band from the site's
    thresholds as the app resolves them), the share that took a second inference, and how many pairs it decides
    otherwise than mirroring both sides at each operating point."""
    from edge.apps.doorbell.app import mirror_margin
    from edge.apps.doorbell.policy import POINTS, card_thresholds
    from edge.faces import lfw

    t = card_thresholds(cfg.thresholds, embedder)
    band = t.undecided_band(mirror_margin(cfg, embedder))
    scores, share = lfw.live_scores(pairs, mirrored, once, band)
    both, missed = lfw.pair_scores(pairs, mirrored)
    points = {k: getattr(t, k) for k in POINTS if getattr(t, k) is not None}
    return {
        **lfw.lfw_report(scores, pairs, missed),
        "band": [round(band[0], 4), round(band[1], 4)],
        "second_view_share": round(share, 4),
        "decisions_changed": {k: int(((scores >= v) != (both >= v)).sum()) for k, v in points.items()},
    }


def _line(label: str, r: dict) -> str:
    t = r["thresholds"]
    return (
        f"  {label}: accuracy {100 * r['accuracy_mean']:.2f}% +- {100 * r['accuracy_std']:.2f}, AUC {r['auc']:.4f}, "
        f"TAR {r['tar_at_far_1e-3']:.4f} at FAR 1e-3, {r['faces_missed']} photo(s) without a face "
        f"({r['pairs_with_a_missed_face']} pairs counted wrong); thresholds recognize {t['recognize']:.3f}, "
        f"unlock {t['unlock']:.3f}"
    )


def calibrate_lfw(path, detector, embedder, cache) -> dict:
    """Both operating points from LFW's folds for the configured pipeline: `recognize` (balanced: the mean of the
    folds' best-accuracy thresholds) and `unlock` (at most 1 in 1000 different-person pairs accepted)."""
    from edge.faces import lfw

    pairs = lfw.read_pairs(path or default_lfw())
    cache_ = lfw.EmbeddingCache(Path(cache) if cache else lfw.cache_dir(), lfw.pipeline_key(detector, embedder))
    vectors = lfw.embed_photos(pairs.photos(), pairs.images, lfw.pipeline_embed(detector, embedder), cache_, "LFW")
    scores, missed = lfw.pair_scores(pairs, vectors)
    r = lfw.lfw_report(scores, pairs, missed)
    t = r.pop("thresholds")
    import numpy as np

    # unknown: 9 in 10 strangers score under it (the 90th percentile of different-person pairs); between it and
    # recognize the doorbell waits for another look
    different = np.isfinite(scores) & ~pairs.same
    unknown = float(np.percentile(scores[different], 90)) if different.any() else t["recognize"]
    return {
        "source": f"LFW View 2, {len(pairs)} pairs, 10 folds",
        "subject_rule": lfw.SUBJECT_RULE,
        **r,
        "recommended": {
            "recognize": round(t["recognize"], 3),
            "unlock": round(t["unlock"], 3),
            "unknown": round(min(unknown, t["recognize"]), 3),
            "instant": round(t["unlock"], 3),
        },
        "unlock_tar": t["unlock_tar"],
        "unlock_far": t["unlock_far"],
    }


def recall_report(cfg, data_dir, detectors, scores, zoom, as_json) -> dict:
    """`faces recall`: per detector and score threshold, photos without a face (LFW: all of them hold one) and false
    faces on one-person sets; each LFW miss is listed."""
    from edge.faces import recall
    from edge.faces.detector import FaceDetector

    faces_root = Path(data_dir) if data_dir else default_lfw().parent
    sets = recall.photo_sets(faces_root)
    say = (lambda *a: None) if as_json else click.echo
    out = {}
    for name in detectors:
        card = cfg.card(name)
        if not card.is_file():
            say(f"{name}: not built, skipped (`edgekit models build {name}`)")
            continue
        det = FaceDetector(card, cfg.runtime.accelerator, min(scores))
        for set_name, (root, photos) in sets.items():
            found = recall.run(det, photos, root, zoom, f"{name} {set_name}", max(scores))
            for t in scores:
                r = recall.summary(found, t, bool(zoom))
                out.setdefault(name, {}).setdefault(set_name, {})[f"{t:g}"] = r
                after = f", {r['without_a_face_after_zoom']} after the zoomed second pass" if zoom else ""
                several = "several faces (bystanders are real in LFW)" if set_name == "lfw" else "a false second face"
                say(
                    f"  {name:<16} {set_name:<12} score >= {t:<4g} {r['photos']:>6} photos: {r['without_a_face']} "
                    f"without a face{after}; {r['with_several_faces']} with {several}"
                )
                if set_name == "lfw" and r["misses"] and len(r["misses"]) <= 20:
                    say("      missed: " + ", ".join(r["misses"]))
    if as_json:
        click.echo(json.dumps(out, indent=1))
    return out
