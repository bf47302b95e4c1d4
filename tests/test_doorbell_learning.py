"""The doorbell learning from its own camera, end to end on real footage through the real zoo models (carphone, a
package-shipped clip): a stranger becomes a visitor with a count, naming the visitor enrols them, "that was not
them" refuses them again, and the commands the device page uses."""

import base64

import pytest

from edge.config import parse_config
from edge.errors import EdgekitError
from edge.faces.gallery import Gallery
from edge.site import build_loop
from tests.fixtures.events import ListSink


def site(zoo, media, tmp_path, **learning):
    return parse_config(
        {
            "runtime": {"models_dir": str(zoo)},
            "gallery": {"path": str(tmp_path / "g.db")},
            "source": {"uri": str(media("carphone"))},
            "events": {"stdout": False},
            "learning": learning,
        }
    )


def run(cfg) -> list[dict]:
    sink = ListSink()
    build_loop(cfg, [sink]).run()
    return [e for e in sink.events if e["type"] in ("face_recognized", "face_unknown")]


def test_a_stranger_comes_back_as_the_same_visitor_then_is_named_then_rejected(zoo, media, tmp_path):
    cfg = site(zoo, media, tmp_path, unknowns={"thumbnails": True})
    first = run(cfg)
    assert [e["type"] for e in first] == ["face_unknown"]
    assert first[0]["visitor"] == "visitor-1" and first[0]["seen"] == 1
    second = run(cfg)
    assert second[0]["visitor"] == "visitor-1" and second[0]["seen"] == 2
    assert second[0]["first_seen"] == first[0]["first_seen"]
    with Gallery(cfg.gallery.path) as g:
        (v,) = g.visitors()
        assert v.seen == 2 and v.thumbnail[:2] == b"\xff\xd8"  # a JPEG, since thumbnails are on
        assert len(g.visitor_vectors("visitor-1")) == 2
        assert g.name_visitor("visitor-1", "caller") == 2
        assert g.visitors() == [] and g.identities()["caller"] == 2
    third = run(cfg)
    assert [(e["type"], e.get("identity")) for e in third] == [("face_recognized", "caller")]


def test_that_was_not_them_refuses_the_look_alike_next_time(zoo, media, tmp_path):
    """Thresholds low enough that the carphone caller passes for Obama (a false accept); after `reject` of that
    event the caller resembles the negative more than Obama's photo and is refused: unknown, a visitor."""
    from edge.faces.detector import FaceDetector
    from edge.faces.embedder import FaceEmbedder
    from edge.faces.enroll import EnrollRules, check_and_embed
    from edge.images import read_image

    low = {"recognize": 0.0, "unknown": -1.0, "instant": 0.0, "unlock": 0.0}
    cfg = site(zoo, media, tmp_path)
    cfg = cfg.model_copy(update={"thresholds": cfg.thresholds.model_copy(update=low)})
    det, emb = FaceDetector(cfg.card("blazeface_short")), FaceEmbedder(cfg.card("faceres"))
    with Gallery(cfg.gallery.path) as g:
        g.add("obama", "faceres", check_and_embed(det, emb, read_image(media("obama")), EnrollRules())[0])
    accepted = run(cfg)
    assert [(e["type"], e.get("identity")) for e in accepted] == [("face_recognized", "obama")]
    with Gallery(cfg.gallery.path) as g:
        done = g.reject(accepted[0]["id"], 50)
        assert done == {"identity": "obama", "negatives": 1, "adapted_removed": 1}  # it had adapted obama
        assert g.identities() == {"obama": 1}  # an adapted view from the false accept went with the rejection
        with pytest.raises(EdgekitError, match="not among the recent decisions"):
            g.reject("no-such-event", 50)
    again = run(cfg)
    assert [e["type"] for e in again] == ["face_unknown"] and again[0]["visitor"] == "visitor-1"


def test_without_thumbnails_configured_only_embeddings_are_kept(zoo, media, tmp_path):
    cfg = site(zoo, media, tmp_path)
    run(cfg)
    with Gallery(cfg.gallery.path) as g:
        (v,) = g.visitors()
        assert v.thumbnail is None
        assert g.db.execute("SELECT COUNT(*) FROM visitors WHERE thumbnail IS NOT NULL").fetchone()[0] == 0


def test_commands_list_name_and_reject(zoo, media, tmp_path):
    from edge.apps.doorbell.app import DoorbellApp

    cfg = site(zoo, media, tmp_path, unknowns={"thumbnails": True})
    run(cfg)
    loop = build_loop(cfg, [ListSink()])
    app = loop.app
    assert isinstance(app, DoorbellApp)
    cmds = app.commands()
    assert cmds["unknowns"].read_only and cmds["name_visitor"].changes_state and cmds["reject"].changes_state
    (v,) = cmds["unknowns"].handler({})["visitors"]
    assert v["id"] == "visitor-1" and v["seen"] == 1 and v["first_seen"] <= v["last_seen"]
    assert base64.b64decode(v["thumbnail"])[:2] == b"\xff\xd8"
    assert app.state()["unknowns"]["visitors"] == 1
    reply = cmds["name_visitor"].handler({"visitor": "visitor-1", "name": "caller"})
    assert reply == {"named": "caller", "visitor": "visitor-1", "embeddings": 1}
    assert cmds["unknowns"].handler({}) == {"visitors": []}
    with pytest.raises(EdgekitError, match="visitor-1: no such unknown visitor"):
        cmds["name_visitor"].handler({"visitor": "visitor-1", "name": "caller"})
    with pytest.raises(EdgekitError, match="not a visitor id"):
        cmds["name_visitor"].handler({"visitor": "Ann", "name": "caller"})
    recognised = run(cfg)
    assert recognised[0]["identity"] == "caller"
    reply = cmds["reject"].handler({"event_id": recognised[0]["id"]})
    assert reply["identity"] == "caller" and reply["negatives"] == 1
    state = app.state()
    assert state["gallery"]["negatives"] == 1 and state["unknowns"]["visitors"] == 0


def test_adapted_views_recognise_but_do_not_open_the_door_unless_configured(zoo, media, tmp_path):
    """caller's only close embedding is an adapted one (their enrolled one is Obama's photo, far from them): the
    recognition goes out, with unlock false; with learning.adapt.unlock the adapted view may open it."""
    from edge.faces.detector import FaceDetector
    from edge.faces.embedder import FaceEmbedder
    from edge.faces.enroll import EnrollRules, check_and_embed
    from edge.images import read_image

    cfg = site(zoo, media, tmp_path, adapt={"enabled": False})
    run(cfg)
    det, emb = FaceDetector(cfg.card("blazeface_short")), FaceEmbedder(cfg.card("faceres"))
    with Gallery(cfg.gallery.path) as g:
        seen = g.visitor_vectors("visitor-1")
        g.add("caller", "faceres", seen, source="adapted:earlier-event")
        g.add("caller", "faceres", check_and_embed(det, emb, read_image(media("obama")), EnrollRules())[0])
    (event,) = run(cfg)
    assert event["type"] == "face_recognized" and event["identity"] == "caller" and event["unlock"] is False
    (event,) = run(site(zoo, media, tmp_path, adapt={"enabled": False, "unlock": True}))
    assert event["identity"] == "caller" and event["unlock"] is True
