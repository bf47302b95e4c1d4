"""`edgekit faces unknowns | name | reject` (on the gallery file, like the other `faces` commands) and
`edgekit faces learning --lfw` (the learning measured on LFW identities fed as visits)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from edge.apps.doorbell.policy import card_thresholds
from edge.cli.faces import _cfg, _gallery, _models, _tag, config_option


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


@click.command()
@click.option("--crops", "crops_dir", type=click.Path(), help="write each visitor's thumbnail to DIR/<visitor>.jpg")
@click.option("--json", "as_json", is_flag=True, help="one JSON document (thumbnails base64) instead of lines")
@config_option
def unknowns(crops_dir, as_json, config_path):
    """Unknown visitors the doorbell clustered, most recently seen first."""
    cfg = _cfg(config_path)
    visitors = _gallery(cfg).visitors(_tag(cfg))
    if as_json:
        click.echo(json.dumps({"visitors": [v.to_json() for v in visitors]}, indent=1))
    for v in visitors:
        crop = ""
        if crops_dir and v.thumbnail:
            path = Path(crops_dir).expanduser() / f"{v.id}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(v.thumbnail)
            crop = f"\t{path}"
        if not as_json:
            click.echo(
                f"{v.id}\tseen {v.seen} time{'s' * (v.seen != 1)} since {_when(v.first_seen)}, "
                f"last {_when(v.last_seen)}{crop}"
            )
    if not visitors and not as_json:
        click.echo("no unknown visitors", err=True)
    elif crops_dir and not any(v.thumbnail for v in visitors):
        click.echo("note: no thumbnails stored (set learning.unknowns.thumbnails: true to keep them)", err=True)


@click.command()
@click.argument("visitor")
@click.argument("name")
@config_option
def name(visitor, name, config_path):
    """Enrol unknown VISITOR (visitor-7) as NAME with the embeddings the doorbell kept of it."""
    n = _gallery(_cfg(config_path)).name_visitor(visitor, name)
    click.echo(f"enrolled {name.strip()}: {n} embedding(s) of {visitor}")


@click.command()
@click.argument("event_id")
@config_option
def reject(event_id, config_path):
    """ "That was not them": EVENT_ID (a face_recognized event's id) becomes a negative for the identity."""
    cfg = _cfg(config_path)
    done = _gallery(cfg).reject(event_id, cfg.learning.negatives.max_per_identity)
    extra = ", its adapted view removed" if done["adapted_removed"] else ""
    click.echo(f"{event_id}: not {done['identity']} ({done['negatives']} negative(s) for {done['identity']}{extra})")


@click.command()
@click.option(
    "--lfw",
    "lfw_path",
    is_flag=False,
    flag_value="",
    default=None,
    help="the LFW folder (default ../shared/data/faces/lfw)",
)
@click.option("--cache", type=click.Path(), help="embeddings cache folder (default: the user cache)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON document instead of lines")
@click.option("--mirror/--no-mirror", default=None, help="embed each photo mirrored or once (default: the card's)")
@config_option
def learning(lfw_path, cache, as_json, mirror, config_path):
    """Measure the doorbell's learning on LFW: unknown-visitor clustering (purity), rejection of look-alikes, and
    adaptation (TAR at FAR 1e-3 before/after), each tuned on half the identities and reported on the other half."""
    from edge.cli.faces_lfw import default_lfw
    from edge.faces import learning_eval as ev
    from edge.faces import lfw

    cfg = _cfg(config_path)
    root = Path(lfw_path) if lfw_path else default_lfw()
    images = root / "images"
    if not images.is_dir():
        from edge.errors import EdgekitError

        raise EdgekitError(f"LFW {root}: no images/ folder in it", "pass --lfw with the LFW folder")
    photos = sorted(f"{d.name}/{p.name}" for d in images.iterdir() if d.is_dir() for p in d.glob("*.jpg"))
    detector, embedder = _models(cfg, mirror=mirror)
    cache_ = lfw.EmbeddingCache(Path(cache) if cache else lfw.cache_dir(), lfw.pipeline_key(detector, embedder))
    vectors = lfw.embed_photos(photos, images, lfw.pipeline_embed(detector, embedder), cache_, "LFW", not as_json)
    people = ev.by_identity(vectors)
    t = card_thresholds(cfg.thresholds, embedder)
    say = (lambda *a: None) if as_json else click.echo
    out = {
        "pipeline": f"{detector.model.card.name} -> {embedder.name} ({detector.model.card.target})",
        "photos": len(photos),
        "photos_without_a_face": sum(v is None for v in vectors.values()),
        "thresholds": {"recognize": t.recognize, "unknown": t.unknown, "unlock": t.unlock},
    }
    say(f"LFW: {len(photos)} photos, {out['photos_without_a_face']} without a face; {out['pipeline']}")
    out["clustering"] = _clustering(ev, people, t, cfg.learning.unknowns.threshold, say)
    out["rejection"] = _rejection(ev, people, t, say)
    out["adaptation"] = _adaptation(ev, people, t, cfg.learning.adapt, say)
    if as_json:
        click.echo(json.dumps(out, indent=1))


def _clustering(ev, people, t, configured, say) -> dict:
    multi = [n for n, v in people.items() if len(v) >= 2]
    tune, report = ev.split(multi)
    unlock = t.unlock if t.unlock is not None else t.instant
    grid = sorted({round(x, 3) for x in (t.unknown, t.recognize, 0.91, 0.92, unlock, 0.93, 0.94, 0.95)})
    tuned = [ev.clustering(people, tune, x) for x in grid]
    best = max(tuned, key=lambda r: r["bcubed_f1"])["threshold"]
    used = unlock if configured is None else configured
    door = report[::4][:200]  # a doorbell keeps at most learning.unknowns.max_visitors (200) visitors
    out = {"grid_tune": tuned, "best_threshold": best, "configured_threshold": used}
    for key, names, x in (
        ("report_at_best", report, best),
        ("report_at_configured", report, used),
        ("report_200_people_at_configured", door, used),
        ("report_200_people_at_unknown", door, t.unknown),
    ):
        r = out[key] = ev.clustering(people, names, x)
        say(
            f"unknown visitors (threshold {r['threshold']}, {key}; {r['identities']} LFW people with 2+ photos, "
            f"{r['visits']} visits): purity {r['purity']:.3f}, BCubed P/R/F1 {r['bcubed_precision']:.3f}"
            f"/{r['bcubed_recall']:.3f}/{r['bcubed_f1']:.3f}, {r['visitors_per_identity']:.2f} visitors per person, "
            f"{100 * r['returning_visits_recognised']:.1f}% of returning visits given a visitor that saw them before"
        )
    return out


def _rejection(ev, people, t, say) -> dict:
    r = ev.rejection(people, sorted(people), t.recognize)
    say(
        f"reject (the {r['pairs']} highest-scoring LFW look-alike pairs, all >= recognize {t.recognize}; "
        f"lowest {r['lowest_pair_score']}): the look-alike's other photos accepted {r['b_accepted_before']} -> "
        f"{r['b_accepted_after']} of {r['b_probes']}; the person's own other photos accepted "
        f"{r['a_accepted_before']} -> {r['a_accepted_after']} of {r['a_probes']}"
    )
    return r


def _adaptation(ev, people, t, cfg, say) -> dict:
    many = [n for n, v in people.items() if len(v) >= 10]
    strangers = sorted(n for n, v in people.items() if len(v) < 10)
    s_tune, s_report = ev.split(strangers)
    tune, report = ev.split(many)
    unlock = t.unlock if t.unlock is not None else t.instant
    operating = {"at_recognize": t.recognize, "at_unlock": unlock}
    grid = [
        cfg.model_copy(update={"max_similarity": ms, "max_per_identity": mp})
        for ms in (0.95, 0.97, 1.0)
        for mp in (5, 10, 20)
    ]
    rows = []
    for c in grid:
        for min_score in sorted({unlock, 0.93, 0.94, 0.95}):
            r = ev.adaptation(people, tune, s_tune, c, min_score, operating=operating)
            rows.append(
                {
                    "min_score": min_score,
                    "max_similarity": c.max_similarity,
                    "max_per_identity": c.max_per_identity,
                    "tar_after": r["after"]["tar_at_far_0.001"],
                    "tar_before": r["before"]["tar_at_far_0.001"],
                    "wrong": r["adapted_wrong_identity"],
                }
            )
    best = max(rows, key=lambda r: (r["tar_after"], -r["wrong"]))
    chosen = cfg.model_copy(
        update={"max_similarity": best["max_similarity"], "max_per_identity": best["max_per_identity"]}
    )
    out = {"grid_tune": rows, "best": best}
    out["report_at_best"] = ev.adaptation(people, report, s_report, chosen, best["min_score"], operating=operating)
    default_min = cfg.min_score if cfg.min_score is not None else unlock
    out["report_at_configured"] = ev.adaptation(people, report, s_report, cfg, default_min, operating=operating)
    out["report_at_configured"]["min_score"] = default_min
    for key, r in (("tuned", out["report_at_best"]), ("configured", out["report_at_configured"])):
        b, a = r["before"], r["after"]
        say(
            f"adaptation ({key}; {r['identities']} LFW people with 10+ photos enrolled from one, {r['door_visits']} "
            f"door visits incl. {r['stranger_visits']} strangers, {r['held_out_probes']} held-out photos): "
            f"TAR at FAR 1e-3 {b['tar_at_far_0.001']:.3f} -> {a['tar_at_far_0.001']:.3f}; at recognize "
            f"{t.recognize}: TAR {b['at_recognize']['tar']:.3f} -> {a['at_recognize']['tar']:.3f}, FAR "
            f"{b['at_recognize']['far']:.4f} -> {a['at_recognize']['far']:.4f}; {r['adapted']} embeddings added, "
            f"{r['adapted_wrong_identity']} to the wrong person"
        )
    return out
