"""A model swapped in by an update is on probation until the loop has run PROBATION_FRAMES frames on it. A frame
that fails inside it meanwhile (edge.runtime.card_model.failed_in), or BLAME_AFTER frames failing in a row whatever
raised, blame it: its last good build goes back (edge.runtime.lastgood), on disk and into the app, and the loop
carries on. Any other failing frame is reported and skipped, until MAX_FAILING_FRAMES in a row end the loop (the
service manager restarts the process)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edge.events.types import FrameError, ModelRolledBack
from edge.runtime.card_model import failed_in
from edge.runtime.lastgood import PROBATION_FRAMES, LastGood


class Probation:
    MAX_FAILING_FRAMES = 10
    BLAME_AFTER = 3  # failures in a row that blame a model on probation even when they were raised outside it

    def __init__(self, models_dir: Path, app, emit: Callable, on_rolled_back: Callable[[str], None] | None = None):
        self.last_good, self.app, self.emit = LastGood(models_dir), app, emit
        self.on_rolled_back = on_rolled_back  # the site: the link re-publishes the versions running now
        self.watched: dict[str, int] = {}  # updated model -> frames run on it
        self.failing = 0  # frames failed in a row

    def swapped(self, name: str) -> None:
        self.watched[name] = 0

    def frame_ok(self) -> None:
        self.failing = 0
        for name in list(self.watched):
            self.watched[name] += 1
            if self.watched[name] >= PROBATION_FRAMES:  # proven on real frames: the old build goes
                del self.watched[name]
                self.last_good.release(name)

    def failed(self, error: Exception, meta: dict) -> None:
        reason = f"{error.__class__.__name__}: {error}".splitlines()[0][:300]
        on_probation = [n for n in self.last_good.on_probation() if n in self.app.models()]
        culprit = failed_in(error)
        suspects = on_probation if self.failing + 1 >= self.BLAME_AFTER else [n for n in on_probation if n == culprit]
        for name in suspects:
            if self.last_good.roll_back(name):
                self.app.reload_model(name, self.last_good.models / f"{name}.card.json")
                self.watched.pop(name, None)
                self.emit(ModelRolledBack(model=name, at="run time", reason=reason, **meta))
                if self.on_rolled_back is not None:
                    self.on_rolled_back(name)
        if suspects:
            self.failing = 0
            return
        self.failing += 1
        self.emit(FrameError(error=reason, in_a_row=self.failing, **meta))
        if self.failing >= self.MAX_FAILING_FRAMES:
            raise error
