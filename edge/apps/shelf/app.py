"""The shelf app in the frame loop: scene gate, tiled detector, zones, smoothing, holds (edge.apps.shelf.run).
Its models are the detector and the optional classifier; command `shelf_state`; state: the zones' counts."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.apps.base import App, AppContext, Command
from edge.apps.shelf.run import ShelfRun


class ShelfApp(App):
    def __init__(self, cfg, ctx: AppContext):
        super().__init__(cfg, ctx)
        self.run = ShelfRun(cfg.shelf, cfg.models_dir(), cfg.runtime.accelerator)
        self.events = 0

    def models(self) -> dict:
        found = {self.run.detector.card.name: self.run.detector.model}
        if self.run.classifier is not None:
            found[self.run.classifier.model.card.name] = self.run.classifier.model
        return found

    def reload_model(self, name: str, card_path: Path) -> None:
        with self.ctx.models_lock:
            self.run.reload(name, card_path, self.cfg.runtime.accelerator)

    def process(self, image: np.ndarray, meta: dict) -> None:
        self._size = (image.shape[1], image.shape[0])
        with self.ctx.timer.stage("shelf"), self.ctx.models_lock:  # gate, detect (tiled), zones, smoothing
            events = self.run.process(image, meta["frame_time"])
        self._emit(events, meta)

    def idle(self, image: np.ndarray | None, meta: dict) -> None:
        """Nothing moved: no detection, but out-of-stock holds still run on frame time."""
        self._emit(self.run.shelf.tick(meta["frame_time"]), meta)

    def _emit(self, events, meta: dict) -> None:
        for event in events:
            self.events += 1
            event.frame_id = meta["frame_id"]
            self.ctx.emit(event)

    def commands(self) -> dict[str, Command]:
        return {"shelf_state": Command(lambda body: self.run.shelf.state(), read_only=True)}

    def state(self) -> dict:
        return {"shelf": self.run.shelf.state()}

    def overlay(self) -> dict:
        """The zones (in frame pixels of the newest frame size) with their counts."""
        shelf, state = self.run.shelf, self.run.shelf.state()["zones"]
        size = getattr(self, "_size", None)
        if size is None:
            return {"zones": []}
        zones = []
        for z, poly in zip(shelf.cfg.zones, shelf.polygons(*size)):
            s = state.get(z.name, {})
            text = f"{z.name}: {s.get('total', '-')}" + (" OUT" if s.get("out_of_stock") else "")
            zones.append({"name": z.name, "polygon": poly.round(1).tolist(), "text": text, "counts": s.get("counts")})
        return {"zones": zones}

    def telemetry(self) -> dict:
        return {"events": self.events, "shelf": self.run.shelf.state()}
