"""`edgekit faces ...`: enroll, list, remove, export, import, calibrate, eval."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edge.apps.doorbell.policy import card_thresholds
from edge.config import SiteConfig, load_config


def _cfg(config_path) -> SiteConfig:
    return load_config(config_path) if config_path else SiteConfig()


def _models(
    cfg: SiteConfig,
    crop: str | None = None,
    margin: float | None = None,
    mirror: bool | None = None,
    use_float: bool = False,
    fit: tuple | None = None,
):
    """The configured detector and embedder (or their float references); crop/margin/mirror override the card and
    config (for measuring)."""
    from edge.faces.detector import FaceDetector
    from edge.faces.embedder import FaceEmbedder

    accel = cfg.runtime.accelerator
    cards = [cfg.card(cfg.detector.model), cfg.card(cfg.embedder.model)]
    if use_float:
        cards = [c.with_name(c.name.replace(".card.json", ".float.card.json")) for c in cards]
    for name, card in zip((cfg.detector.model, cfg.embedder.model), cards):
        if not card.is_file():
            from edge.errors import EdgekitError

            raise EdgekitError(
                f"model card {card}: not found",
                f"build it with `edgekit models build {name}` (or set runtime.models_dir)",
            )
    return (
        FaceDetector(cards[0], accel, cfg.detector.min_score),
        FaceEmbedder(
            cards[1], accel, cfg.embedder.mirror if mirror is None else mirror, crop or cfg.embedder.align, margin, fit
        ),
    )


def _far_detector(cfg: SiteConfig):
    """BlazeFace full range, when built, to count distant faces at enrollment (None otherwise)."""
    from edge.faces.detector import FaceDetector

    card = cfg.card("blazeface_full")
    return (
        FaceDetector(card, cfg.runtime.accelerator)
        if cfg.detector.model != "blazeface_full" and card.is_file()
        else None
    )


def _gallery(cfg: SiteConfig):
    from edge.faces.gallery import Gallery

    return Gallery(Path(cfg.gallery.path).expanduser())


def _tag(cfg: SiteConfig):
    """The configured embedder's tag, from its card (no model loaded); by name alone where the card is missing."""
    from edge.card import load_card
    from edge.errors import EdgekitError
    from edge.faces.gallery import EmbedderTag

    try:
        return EmbedderTag.of_card(load_card(cfg.card(cfg.embedder.model), verify=False), cfg.embedder.align)
    except EdgekitError:
        return EmbedderTag(cfg.embedder.model)


config_option = click.option(
    "--config", "config_path", type=click.Path(), help="site YAML (default: built-in defaults)"
)


def _keypoints(ctx, param, value):
    if value is None:
        return None
    try:
        idx = tuple(int(v) for v in value.split(","))
    except ValueError:
        idx = ()
    if len(idx) < 2 or any(i not in range(4) for i in idx):
        raise click.BadParameter(f"'{value}': two or more of 0 (right eye), 1 (left eye), 2 (nose), 3 (mouth)")
    return idx


def crop_options(f):
    """--crop/--margin/--mirror: try another face crop than the card's without rebuilding (what `eval` compares)."""
    f = click.option("--mirror/--no-mirror", default=None, help="test-time mirroring (default: the card's)")(f)
    f = click.option("--fit", callback=_keypoints, help="named chips: keypoints to fit, e.g. 0,1,3 (eyes, mouth)")(f)
    f = click.option("--margin", type=float, help="crop side = box side x MARGIN (default: the card's)")(f)
    from edge.vision.crop import CROPS

    return click.option("--crop", type=click.Choice(CROPS), help="face crop (default: the card's)")(f)


@click.group()
def faces():
    """Manage the face gallery and measure recognition accuracy."""


@faces.command()
@click.argument("name")
@click.argument("images", nargs=-1, type=click.Path())
@click.option(
    "--video", type=click.Path(), help="enroll from a video: frames with one clear face, most varied views kept"
)
@click.option("--max", "max_views", default=8, show_default=True, help="embeddings kept from a video")
@config_option
def enroll(name, images, video, max_views, config_path):
    """Enroll NAME from IMAGES (each must show exactly one clear face) or from --video."""
    import numpy as np

    from edge.errors import EdgekitError
    from edge.faces.enroll import EnrollRules, enrol_pictures, frames_from_video

    if not images and not video:
        raise click.UsageError("give IMAGE files or --video FILE")
    from edge.faces.gallery import EmbedderTag

    cfg = _cfg(config_path)
    gallery = _gallery(cfg)  # opened first: a bad or read-only gallery file is reported before any model work
    gallery.require_writable("enrol")
    detector, embedder = _models(cfg)
    rules = EnrollRules()
    far = _far_detector(cfg)
    result = enrol_pictures(detector, embedder, [(str(p), None) for p in images], rules, far_detector=far)
    for label, why in result.rejected:
        click.echo(f"rejected {label}: {why}", err=True)
    if video:
        frames = enrol_pictures(detector, embedder, frames_from_video(video), rules, max_views, far)
        click.echo(
            f"{video}: {len(frames.vectors)} view(s) kept, {len(frames.rejected)} frame(s) without one clear face",
            err=True,
        )
        result.vectors += frames.vectors
        result.sources += frames.sources
    if not result.vectors:
        raise EdgekitError(f"enroll {name}: no usable picture", "use sharp, frontal pictures with exactly one face")
    sources = ",".join(Path(label).name for label in result.sources)[:1000]
    n = gallery.add(name, EmbedderTag.of(embedder), np.stack(result.vectors), source=sources)
    click.echo(f"enrolled {name}: {n} embedding(s) ({embedder.name})")


@faces.command(name="list")
@config_option
def list_(config_path):
    """Identities in the gallery with their number of embeddings (those the configured embedder can match)."""
    cfg = _cfg(config_path)
    gallery, tag = _gallery(cfg), _tag(cfg)
    for name, n in gallery.identities(tag).items():
        click.echo(f"{name}\t{n}")
    note = gallery.foreign_note(tag)
    if note:
        click.echo(note, err=True)


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
    cfg = _cfg(config_path)
    click.echo(f"imported {_gallery(cfg).import_(path, expect=_tag(cfg))} embeddings")


@faces.command()
@click.option("--pairs", "pairs_csv", type=click.Path(), help="CSV with file_x,file_y,Decision (Yes/No)")
@click.option("--identities", "identities_dir", type=click.Path(), help="folder of folders, one per identity")
@click.option("--roc", "roc_csv", type=click.Path(), help="also write the ROC (threshold, far, tar) to this CSV")
@click.option(
    "--lfw",
    "lfw_path",
    is_flag=False,
    flag_value="",
    default=None,
    help="LFW's folds: the recognize and unlock operating points (default folder ../shared/data/faces/lfw)",
)
@click.option("--cache", type=click.Path(), help="LFW: embeddings cache folder (default: the user cache)")
@crop_options
@config_option
def calibrate(pairs_csv, identities_dir, roc_csv, lfw_path, cache, crop, margin, mirror, fit, config_path):
    """ROC, accuracy, AUC, TAR at FAR 1e-2/1e-3 and the recommended thresholds, for the configured embedder.
    With --lfw: `recognize` (balanced, from the 10 folds) and `unlock` (FAR <= 1e-3) for thresholds in the config."""
    from edge.faces import calibrate as cal

    if sum(x is not None and x is not False for x in (pairs_csv, identities_dir, lfw_path)) != 1:
        raise click.UsageError("give one of --pairs CSV, --identities DIR or --lfw [DIR]")
    cfg = _cfg(config_path)
    detector, embedder = _models(cfg, crop, margin, mirror, fit=fit)
    if lfw_path is not None:
        from edge.cli.faces_lfw import calibrate_lfw

        report = calibrate_lfw(lfw_path or None, detector, embedder, cache)
        report.update(model=embedder.name, crop=embedder.crop, margin=embedder.margin, mirror=embedder.mirror)
        click.echo(json.dumps(report, indent=1))
        return
    if pairs_csv:
        scores, same, skipped = cal.scores_from_pairs(detector, embedder, Path(pairs_csv))
    else:
        scores, same = cal.scores_from_identities(*cal.identity_vectors(detector, embedder, Path(identities_dir)))
        skipped = 0
    report = cal.report(scores, same, card_thresholds(cfg.thresholds, embedder).recognize)
    report.update(
        model=embedder.name, crop=embedder.crop, margin=embedder.margin, mirror=embedder.mirror, skipped_pairs=skipped
    )
    if roc_csv:
        report["roc_points"] = cal.write_roc(Path(roc_csv), scores, same)
    click.echo(json.dumps(report, indent=1))


@faces.command()
@click.option("--data", "data_dir", type=click.Path(), help="the shared faces folder (default: ../shared/data/faces)")
@click.option("--detector", "detectors", multiple=True, help="detector model(s) (default: both BlazeFace ranges)")
@click.option("--scores", default="0.5,0.4,0.3", show_default=True, help="score thresholds to report")
@click.option(
    "--zoom", default=0.6, show_default=True, help="second pass on the central share of a photo without a face (0: off)"
)
@click.option("--json", "as_json", is_flag=True, help="print one JSON document (with every miss) instead of lines")
@config_option
def recall(data_dir, detectors, scores, zoom, as_json, config_path):
    """Detector recall: every LFW photo (each holds a face) and false faces on one-person sets (AT&T, BBT)."""
    from edge.cli.faces_lfw import recall_report

    try:
        thresholds = sorted({float(v) for v in scores.split(",")}, reverse=True)
    except ValueError:
        raise click.BadParameter(
            f"'{scores}': comma-separated scores, e.g. 0.5,0.4,0.3", param_hint="--scores"
        ) from None
    recall_report(
        _cfg(config_path),
        data_dir,
        detectors or ("blazeface_short", "blazeface_full"),
        thresholds,
        zoom or None,
        as_json,
    )


@faces.command(name="eval")
@click.option("--data", "data_dir", type=click.Path(), help="the shared faces folder (default: ../shared/data/faces)")
@click.option("--peer", is_flag=True, help="also score the face_recognition library (dlib) on the same pairs")
@click.option(
    "--sweep", is_flag=True, help="compare crops (box / aligned / template), margins 1.1-1.5 and mirroring on the pairs"
)
@click.option("--json", "as_json", is_flag=True, help="print one JSON document instead of lines")
@click.option(
    "--lfw",
    "lfw_path",
    is_flag=False,
    flag_value="",
    default=None,
    help="LFW's 10-fold protocol instead (default folder ../shared/data/faces/lfw)",
)
@click.option("--folds", type=click.IntRange(2, 10), help="LFW: only the first N folds")
@click.option("--limit", type=click.IntRange(1), help="LFW: the first N same and N different pairs of each fold")
@click.option("--float/--no-float", "with_float", default=True, show_default=True, help="LFW: also the float models")
@click.option("--cache", type=click.Path(), help="LFW: embeddings cache folder (default: the user cache)")
@crop_options
@config_option
def eval_(
    data_dir, peer, sweep, as_json, lfw_path, folds, limit, with_float, cache, crop, margin, mirror, fit, config_path
):
    """Accuracy through the full pipeline (detect, crop/align, embed): verification on the deepface pairs, and rank-1
    identification on face-api.js BBT and AT&T with one enrolled picture per person and with all but one.
    With --lfw: LFW View 2 (10 folds, each fold's threshold from the other nine), INT8, float and --peer."""
    from edge.errors import EdgekitError
    from edge.faces.evaluate import FaceSource, identification, pair_scores, verification_report

    cfg = _cfg(config_path)
    if lfw_path is not None:
        from edge.cli.faces_lfw import run_lfw

        run_lfw(
            cfg,
            lfw_path or None,
            lambda is_float: _models(cfg, crop, margin, mirror, is_float, fit),
            peer,
            folds,
            limit,
            with_float,
            cache,
            as_json,
        )
        return
    from edge.paths import shared_data_dir

    root = Path(data_dir) if data_dir else shared_data_dir() / "faces"
    pair_files = [
        root / "deepface" / n for n in ("pairs.csv", "pairs_extended.csv") if (root / "deepface" / n).is_file()
    ]
    id_sets = [
        (n, root / sub)
        for n, sub in (("faceapi_bbt", "faceapi_bbt/identities"), ("att", "att"))
        if (root / sub).is_dir()
    ]
    if not pair_files and not id_sets:
        raise EdgekitError(
            f"faces data {root}: no deepface pairs, faceapi_bbt or att in it",
            "pass --data with the shared faces folder",
        )
    detector, embedder = _models(cfg, crop, margin, mirror, fit=fit)
    source = FaceSource(detector)  # each picture is read and detected once, whatever is compared
    threshold = card_thresholds(cfg.thresholds, embedder).recognize
    say = (lambda *a: None) if as_json else click.echo
    out = {
        "detector": cfg.detector.model,
        "embedder": embedder.name,
        "crop": embedder.crop,
        "margin": embedder.margin,
        "mirror": embedder.mirror,
        "threshold": threshold,
    }
    say(
        f"{cfg.detector.model} -> {embedder.name} (crop {embedder.crop} x{embedder.margin:g}, mirror "
        f"{'on' if embedder.mirror else 'off'}), threshold {threshold:.2f}"
    )
    for p in pair_files:
        scores, same, skipped = pair_scores(source, embedder, p)
        r = out[p.name] = {**verification_report(scores, same, threshold), "skipped_pairs": skipped}
        say(
            f"  {p.name:<20} {r['pairs']:>4} pairs: accuracy {r['accuracy_at_threshold']:.4f} at {threshold:.2f}, best "
            f"{r['best_accuracy']:.4f} at {r['best_threshold']:.3f}, AUC {r['auc']:.4f}, TAR "
            f"{r['tar_at_far_0.01']:.4f} "
            f"at FAR 1e-2, {r['tar_at_far_0.001']:.4f} at FAR 1e-3"
            + (f" ({skipped} left out: no face or unreadable)" if skipped else "")
        )
        if peer:
            from edge.faces.evaluate import peer_pair_scores

            d, same_p, skipped_p = peer_pair_scores(p)
            rp = verification_report(-d, same_p, -0.6)  # distance <= 0.6 means same, the library's default
            out[p.name + " face_recognition"] = {
                "pairs": rp["pairs"],
                "accuracy_at_0.6": rp["accuracy_at_threshold"],
                "best_accuracy": rp["best_accuracy"],
                "auc": rp["auc"],
                "skipped_pairs": skipped_p,
            }
            say(
                f"  {'  face_recognition':<20} {rp['pairs']:>4} pairs: accuracy {rp['accuracy_at_threshold']:.4f} at "
                "its 0.6, "
                f"best {rp['best_accuracy']:.4f}, AUC {rp['auc']:.4f}"
            )
    if pair_files:
        both = [out[p.name] for p in pair_files]
        n = sum(b["pairs"] for b in both)
        out["pairs_all_accuracy_at_threshold"] = round(
            sum(b["accuracy_at_threshold"] * b["pairs"] for b in both) / n, 4
        )
        say(
            f"  {'all deepface pairs':<20} {n:>4} pairs: accuracy {out['pairs_all_accuracy_at_threshold']:.4f} at "
            f"{threshold:.2f}"
        )
    for name, folder in id_sets:
        r = out[name] = identification(source, embedder, folder)
        say(
            f"  {name:<20} {r['identities']} identities, {r['images']} pictures: rank-1 {r['rank1_one_enrolled']:.4f} "
            "with one "
            f"enrolled picture each, {r['rank1_all_but_one']:.4f} with all but one"
        )
    if sweep and pair_files:
        out["sweep"] = _sweep(source, embedder, pair_files, threshold, say)
    if as_json:
        click.echo(json.dumps(out, indent=1))


def _sweep(source, embedder, pair_files, threshold, say) -> list[dict]:
    """The same detections through every crop / margin / mirror setting: which face crop suits this embedder."""
    from edge.faces.evaluate import pair_scores, verification_report

    rows = []
    say("  sweep (best accuracy / accuracy at threshold / AUC per pairs file):")
    for crop in ("box", "aligned", "template"):
        for margin in (1.1, 1.2, 1.3, 1.4, 1.5):
            for mirror in (False, True):
                embedder.crop, embedder.margin, embedder.mirror = crop, margin, mirror
                row = {"crop": crop, "margin": margin, "mirror": mirror}
                for p in pair_files:
                    r = verification_report(*pair_scores(source, embedder, p)[:2], threshold)
                    row[p.name] = {k: r[k] for k in ("best_accuracy", "accuracy_at_threshold", "auc")}
                rows.append(row)
                say(
                    f"    {crop:<8} x{margin:<4g} mirror {'on ' if mirror else 'off'}  "
                    + "  ".join(
                        f"{p.stem}: {row[p.name]['best_accuracy']:.4f} / {row[p.name]['accuracy_at_threshold']:.4f} / "
                        f"{row[p.name]['auc']:.4f}"
                        for p in pair_files
                    )
                )
    return rows


from edge.cli import faces_learning  # noqa: E402 - it uses the helpers above

for _command in (faces_learning.unknowns, faces_learning.name, faces_learning.reject, faces_learning.learning):
    faces.add_command(_command)
