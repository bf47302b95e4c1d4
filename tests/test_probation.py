"""Probation of a swapped-in model (edge.loop.rollback): a frame that fails inside the new model puts its last good
build back; a failure elsewhere (app logic, a bad frame) is not the model's fault until frames keep failing."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from edge.apps.base import App
from edge.card import load_card
from edge.loop.rollback import Probation
from edge.runtime.card_model import CardModel
from edge.runtime.lastgood import LastGood


class DetectorOnly(App):
    """The smallest app: one real detector; reload_model records what the probation put back."""

    def __init__(self, model: CardModel):
        self.model, self.reloaded = model, []

    def models(self) -> dict:
        return {"blazeface_short": self.model}

    def reload_model(self, name, card_path) -> None:
        self.reloaded.append(name)


@pytest.fixture
def on_probation(zoo, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    files = [models / "blazeface_short.tflite", models / "blazeface_short.card.json"]
    for f in files:
        shutil.copy(zoo / f.name, f)
    LastGood(models).keep("blazeface_short", files)  # as a model update does before it installs the new build
    app = DetectorOnly(CardModel(load_card(models / "blazeface_short.card.json")))
    emitted = []
    return Probation(models, app, emitted.append), app, emitted


def failure_inside(model: CardModel) -> Exception:
    try:
        model.run(np.zeros((1, 3, 3, 3), np.float32))  # the wrong input shape: fails inside the model's own call
    except ValueError as e:
        return e
    raise AssertionError("the model took a wrong-shaped input")


def test_a_failure_inside_the_model_on_probation_rolls_it_back(on_probation):
    probation, app, emitted = on_probation
    probation.failed(failure_inside(app.model), {"frame_id": 3})
    assert app.reloaded == ["blazeface_short"]
    assert [e.type for e in emitted] == ["model_rolled_back"]


def test_one_failure_outside_the_model_is_a_frame_error_not_a_rollback(on_probation):
    probation, app, emitted = on_probation
    probation.failed(KeyError("zone 'aisle-3'"), {"frame_id": 3})  # the app's own bug, not the new model's
    assert app.reloaded == [] and [e.type for e in emitted] == ["frame_error"]
    assert LastGood(probation.last_good.models).on_probation() == ["blazeface_short"]


def test_frames_that_keep_failing_on_probation_blame_the_new_model(on_probation):
    probation, app, emitted = on_probation
    for i in range(Probation.BLAME_AFTER):
        probation.failed(RuntimeError("NaN in the scores"), {"frame_id": i})
    assert app.reloaded == ["blazeface_short"] and emitted[-1].type == "model_rolled_back"
