"""`edgekit faces ...`: enroll, list, remove, export, import, calibrate, eval."""
from __future__ import annotations

import json
from pathlib import Path

import click

from edge.config import SiteConfig, load_config


def _cfg(config_path) -> SiteConfig:
    return load_config(config_path) if config_path else SiteConfig()


def _models(cfg: SiteConfig):
    from edge.faces.detector import FaceDetector
    from edge.faces.embedder import FaceEmbedder

    accel = cfg.runtime.accelerator
    return (FaceDetector(cfg.card(cfg.detector.model), accel),
            FaceEmbedder(cfg.card(cfg.embedder.model), accel, cfg.embedder.mirror, cfg.embedder.align))


def _gallery(cfg: SiteConfig):
    from edge.faces.gallery import Gallery

    return Gallery(Path(cfg.gallery.path).expanduser())


config_option = click.option("--config", "config_path", type=click.Path(), help="site YAML (default: built-in defaults)")


@click.group()
def faces():
    """Manage the face gallery and measure recognition accuracy."""


@faces.command()
@click.argument("name")
@click.argument("images", nargs=-1, type=click.Path())
@click.option("--video", type=click.Path(), help="enroll from a video: frames with one clear face, most varied views kept")
@click.option("--max", "max_views", default=8, show_default=True, help="embeddings kept from a video")
@config_option
def enroll(name, images, video, max_views, config_path):
    """Enroll NAME from IMAGES (each must show exactly one clear face) or from --video."""
    from edge.faces.enroll import EnrollRules, check_and_embed, frames_from_video, pick_diverse
    from edge.images import read_image
    from edge.errors import EdgekitError

    if not images and not video:
        raise click.UsageError("give IMAGE files or --video FILE")
    cfg = _cfg(config_path)
    detector, embedder = _models(cfg)
    rules = EnrollRules()
    kept, labels = [], []
    inputs = [(str(p), None) for p in images]
    if video:
        if not Path(video).is_file():
            raise EdgekitError(f"video {video}: not found", "check the path")
        inputs += list(frames_from_video(video))
    for label, frame in inputs:
        try:
            image = frame if frame is not None else read_image(label)
        except EdgekitError as e:
            click.echo(f"rejected {label}: {e}", err=True)
            continue
        vec, why = check_and_embed(detector, embedder, image, rules)
        if vec is None:
            if frame is None:  # video frames without a clear face are expected; say so only for pictures
                click.echo(f"rejected {label}: {why}", err=True)
            continue
        kept.append(vec)
        labels.append(label)
    if video:
        idx = pick_diverse(kept, max_views)
        kept, labels = [kept[i] for i in idx], [labels[i] for i in idx]
    if not kept:
        raise EdgekitError(f"enroll {name}: no usable picture", "use sharp, frontal pictures with exactly one face")
    import numpy as np

    n = _gallery(cfg).add(name, embedder.name, np.stack(kept), source=",".join(Path(l).name for l in labels)[:1000])
    click.echo(f"enrolled {name}: {n} embedding(s) ({embedder.name})")


@faces.command(name="list")
@config_option
def list_(config_path):
    """Identities in the gallery with their number of embeddings."""
    for name, n in _gallery(_cfg(config_path)).identities().items():
        click.echo(f"{name}\t{n}")


@faces.command()
@click.argument("name")
@config_option
def remove(name, config_path):
    """Remove NAME and all its embeddings."""
    from edge.errors import EdgekitError

    n = _gallery(_cfg(config_path)).remove(name)
    if not n:
        raise EdgekitError(f"identity {name!r}: not in the gallery", "see `edgekit faces list`")
    click.echo(f"removed {name} ({n} embeddings)")


@faces.command(name="export")
@click.argument("path", type=click.Path())
@config_option
def export_(path, config_path):
    """Write the gallery's embeddings to a JSON file."""
    click.echo(f"exported {_gallery(_cfg(config_path)).export(path)} embeddings to {path}")


@faces.command(name="import")
@click.argument("path", type=click.Path())
@config_option
def import_(path, config_path):
    """Add the embeddings of an exported JSON file."""
    click.echo(f"imported {_gallery(_cfg(config_path)).import_(path)} embeddings")


@faces.command()
@click.option("--pairs", "pairs_csv", type=click.Path(), help="CSV with file_x,file_y,Decision (Yes/No)")
@click.option("--identities", "identities_dir", type=click.Path(), help="folder of folders, one per identity")
@config_option
def calibrate(pairs_csv, identities_dir, config_path):
    """ROC, accuracy, AUC, TAR at FAR 1e-2/1e-3 and the recommended thresholds, for the configured embedder."""
    import numpy as np

    from edge.faces.evaluate import embed_file, pair_scores, verification_report
    from edge.images import list_images

    if not pairs_csv and not identities_dir:
        raise click.UsageError("give --pairs CSV or --identities DIR")
    cfg = _cfg(config_path)
    detector, embedder = _models(cfg)
    if pairs_csv:
        scores, same, skipped = pair_scores(detector, embedder, Path(pairs_csv))
    else:
        vecs, ids = [], []
        for d in sorted(p for p in Path(identities_dir).iterdir() if p.is_dir()):
            for f in list_images(d):
                v = embed_file(detector, embedder, f, whole_if_none=True)
                if v is not None:
                    vecs.append(v)
                    ids.append(d.name)
        v, ids = np.stack(vecs), np.asarray(ids)
        iu = np.triu_indices(len(ids), 1)
        scores, same, skipped = (v @ v.T)[iu], (ids[:, None] == ids[None, :])[iu], 0
    report = verification_report(scores, same, cfg.thresholds.recognize)
    # recognize: no more than 1 in 1000 different-person pairs pass it (and not below the best-accuracy point);
    # unknown: 99% of same-person pairs score above it, so a score below is almost surely a stranger.
    recognize = max(report["threshold_at_far_0.001"], report["best_threshold"])
    unknown = min(float(np.percentile(scores[same], 1)), recognize)
    report.update(model=embedder.name, skipped_pairs=skipped,
                  recommended={"recognize": round(recognize, 3), "unknown": round(unknown, 3)})
    click.echo(json.dumps(report, indent=1))


@faces.command(name="eval")
@click.option("--data", "data_dir", type=click.Path(), help="the shared faces folder (default: ../shared/data/faces)")
@click.option("--peer", is_flag=True, help="also score the face_recognition library (dlib) on the same pairs")
@config_option
def eval_(data_dir, config_path, peer):
    """Accuracy through the full pipeline: deepface pairs, and rank-1 on face-api.js BBT and AT&T."""
    from edge.faces.evaluate import identification, pair_scores, verification_report

    cfg = _cfg(config_path)
    root = Path(data_dir) if data_dir else Path(__file__).resolve().parents[2].parent / "shared" / "data" / "faces"
    detector, embedder = _models(cfg)
    out = {"detector": cfg.detector.model, "embedder": embedder.name, "mirror": embedder.mirror, "align": embedder.align}
    for csv_name in ("pairs.csv", "pairs_extended.csv"):
        p = root / "deepface" / csv_name
        if p.is_file():
            scores, same, skipped = pair_scores(detector, embedder, p)
            out[csv_name] = {**verification_report(scores, same, cfg.thresholds.recognize), "skipped_pairs": skipped}
            if peer:
                from edge.faces.evaluate import peer_pair_scores

                d, same_p, skipped_p = peer_pair_scores(p)
                report = verification_report(-d, same_p, -0.6)  # distance <= 0.6 means same, the library's default
                out[csv_name + " face_recognition"] = {"pairs": report["pairs"], "accuracy_at_0.6": report["accuracy_at_threshold"],
                                                       "best_accuracy": report["best_accuracy"], "auc": report["auc"], "skipped_pairs": skipped_p}
    for name, sub in (("faceapi_bbt", "faceapi_bbt/identities"), ("att", "att")):
        if (root / sub).is_dir():
            out[name] = identification(detector, embedder, root / sub)
    click.echo(json.dumps(out, indent=1))
