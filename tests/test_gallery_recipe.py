"""The gallery records how its vectors' faces reached the network (the card's preprocessing and the crop), beside the
weights: a restart with a card that feeds the same weights another way is refused in one line instead of calling
every resident a stranger. Found by probing: FaceNet's standardisation fix keeps the weights' sha256, and a restart
over a gallery enrolled before it went unnoticed (the live model update already refused it)."""

from __future__ import annotations

import numpy as np
import pytest

from edge.card import load_card
from edge.errors import EdgekitError
from edge.faces.gallery import EmbedderTag, Gallery
from tests.fixtures.cards import edited_card

VECTOR = np.eye(512, dtype=np.float32)[:1]


@pytest.fixture()
def facenet(zoo):
    card = zoo / "facenet.card.json"
    if not card.is_file():
        pytest.skip(f"facenet not built in {zoo}: `edgekit models build facenet`")
    return card


def _prewhitening(card, tmp_path):
    """The same weights fed the way the card did before the fix (prewhitened images)."""
    return edited_card(card, tmp_path / "old", lambda c: c["preprocess"].update(prewhiten=True))


def test_a_restart_with_a_card_that_feeds_the_weights_another_way_is_refused_naming_what_differs(facenet, tmp_path):
    gallery = Gallery(tmp_path / "g.db")
    gallery.add("ada", EmbedderTag.of_card(load_card(facenet, verify=False)), VECTOR)
    other = EmbedderTag.of_card(load_card(_prewhitening(facenet, tmp_path), verify=False))
    assert other.weights == EmbedderTag.of_card(load_card(facenet, verify=False)).weights  # the weights check passes
    with pytest.raises(EdgekitError, match=r"preprocess.*re-enrol|preprocess") as e:
        gallery.check_fits(other)
    assert "1 identity" in e.value.what and "facenet" in e.value.what
    assert gallery.check_fits(EmbedderTag.of_card(load_card(facenet, verify=False))) is None  # the same card fits


def test_the_sites_crop_is_part_of_the_recipe_and_the_embedder_and_its_card_agree(facenet, zoo, tmp_path):
    from edge.faces.embedder import FaceEmbedder

    card = load_card(facenet, verify=False)
    assert EmbedderTag.of(FaceEmbedder(facenet)) == EmbedderTag.of_card(card)
    assert EmbedderTag.of(FaceEmbedder(facenet, crop="box")) == EmbedderTag.of_card(card, align="box")
    gallery = Gallery(tmp_path / "g.db")
    gallery.add("ada", EmbedderTag.of_card(card), VECTOR)
    with pytest.raises(EdgekitError, match="crop"):
        gallery.check_fits(EmbedderTag.of_card(card, align="box"))
    # mirroring is not part of it: one-view and mirrored vectors live in one space (the doorbell mixes them)
    assert EmbedderTag.of(FaceEmbedder(facenet, mirror=False)) == EmbedderTag.of_card(card)


def test_a_field_that_a_later_edgekit_adds_to_the_recipe_does_not_refuse_older_galleries(facenet, tmp_path):
    import json

    gallery = Gallery(tmp_path / "g.db")
    tag = EmbedderTag.of_card(load_card(facenet, verify=False))
    recipe = json.loads(tag.recipe)
    recipe["preprocess"]["gamma"], recipe["upsampling"] = 1.0, "none"  # a newer edgekit's recipe of the same card
    newer = EmbedderTag(tag.model, tag.weights, tag.dim, json.dumps(recipe, sort_keys=True))
    gallery.add("ada", tag, VECTOR)
    assert gallery.check_fits(newer) is None
    recipe["preprocess"]["std"] = [1.0, 1.0, 1.0]  # a field both record, changed: refused
    with pytest.raises(EdgekitError, match="preprocess"):
        gallery.check_fits(EmbedderTag(tag.model, tag.weights, tag.dim, json.dumps(recipe, sort_keys=True)))


def test_a_gallery_from_before_recipes_were_recorded_fits_any_card(facenet, tmp_path):
    gallery = Gallery(tmp_path / "g.db")
    tag = EmbedderTag.of_card(load_card(facenet, verify=False))
    gallery.add("ada", EmbedderTag(tag.model, tag.weights, tag.dim), VECTOR)  # no recipe: as galleries were
    assert gallery.check_fits(EmbedderTag.of_card(load_card(_prewhitening(facenet, tmp_path), verify=False))) is None


def test_enrolling_another_recipe_beside_the_stored_one_is_refused_until_nobody_is_left(facenet, tmp_path):
    gallery = Gallery(tmp_path / "g.db")
    new = EmbedderTag.of_card(load_card(facenet, verify=False))
    old = EmbedderTag.of_card(load_card(_prewhitening(facenet, tmp_path), verify=False))
    gallery.add("ada", new, VECTOR)
    with pytest.raises(EdgekitError, match="preprocess"):
        gallery.add("bob", old, VECTOR)
    assert gallery.identities(new) == {"ada": 1}  # nothing of bob's stored
    gallery.remove("ada")
    gallery.add("bob", old, VECTOR)  # an empty gallery takes the new recipe
    assert gallery.check_fits(old) is None
    with pytest.raises(EdgekitError, match="preprocess"):
        gallery.check_fits(new)
    reopened = Gallery(tmp_path / "g.db")  # recorded in the file, not in the object
    with pytest.raises(EdgekitError, match="preprocess"):
        reopened.check_fits(new)


def test_edgekit_run_refuses_to_start_over_a_gallery_of_another_recipe(facenet, tmp_path):
    from edge.cli.run import _check_gallery
    from edge.config import parse_config

    gallery = Gallery(tmp_path / "g.db")
    gallery.add("ada", EmbedderTag.of_card(load_card(facenet, verify=False)), VECTOR)
    gallery.close()
    old = _prewhitening(facenet, tmp_path)
    site = {"gallery": {"path": str(tmp_path / "g.db")}, "embedder": {"model": "facenet"}}
    _check_gallery(parse_config({**site, "runtime": {"models_dir": str(facenet.parent)}}))  # as enrolled: starts
    with pytest.raises(EdgekitError, match="preprocess differ"):
        _check_gallery(parse_config({**site, "runtime": {"models_dir": str(old.parent)}}))
