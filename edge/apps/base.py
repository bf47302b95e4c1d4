"""The one protocol between the frame loop (edge.loop) and an app. An app is a folder edge/apps/<name>/ with a pure
policy module and an `app` module whose class, registered in edge.apps.APPS, declares:
- its models (`models()`: card name -> Model) and how it takes a new build of one (`reload_model`),
- the config sections it takes while running (`live_sections`, then `applied(cfg)`),
- its MQTT commands (`commands()`), its retained state (`state()`), telemetry and run stats,
- what it does per frame (`process`; `idle` for frames the motion gate kept from its detector) and when tracks must
  end (`finish`, `resized`).
The loop lends it an `AppContext`; the app never sees the loop, the link or the site."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from edge.events.types import Event
from edge.stats import StageTimer

if TYPE_CHECKING:
    from edge.config import SiteConfig
    from edge.loop.motion import MotionGate


@dataclass
class AppContext:
    """What the loop lends an app: where its events go, the stage timer, and the lock its interpreters run under
    (the loop and the MQTT thread, an `enroll` command or a model update, use them one at a time), and the motion
    gate when the site has one (its `boxes`: where this frame moved, for apps that detect on regions)."""

    emit: Callable[[Event], object]
    timer: StageTimer
    models_lock: threading.Lock
    motion: MotionGate | None = None


@dataclass
class Command:
    """An MQTT command an app offers: `handler(body) -> reply`; `changes_state`: the retained state is re-published
    after it ran; `read_only`: it changes nothing, so `mqtt.signing.unsigned_read_only` may answer it unsigned (every
    other command runs only when signed)."""

    handler: Callable[[dict], dict]
    changes_state: bool = False
    read_only: bool = False


class App:
    live_sections: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, cfg: SiteConfig, ctx: AppContext):
        self.cfg, self.ctx = cfg, ctx

    def models(self) -> dict:
        """{card name: Model} of the models this app runs now."""
        return {}

    def reload_model(self, name: str, card_path: Path) -> None:
        """Take the (installed, smoke-tested) files of model `name`, one of `models()`, into the running app;
        EdgekitError when the app cannot use it (the update is then rolled back)."""
        raise NotImplementedError

    def process(self, image: np.ndarray, meta: dict) -> None:
        raise NotImplementedError

    def tracking(self) -> bool:
        """Whether the app follows something now (the motion gate then runs its detector on every moving frame)."""
        return False

    def idle(self, image: np.ndarray | None, meta: dict) -> None:
        """A frame the motion gate kept from the detector (nothing moved): no detections, and no evidence that
        anything left, so tracks stay as they are. Timers that run on frame time go on here. `image` is None where
        the frame was never decoded (MJPEG sources: edge.capture.jpeg)."""

    def finish(self, meta: dict) -> None:
        """The source ended or the loop stops: close what is open (tracks)."""

    def resized(self, meta: dict) -> None:
        """The frame size changed (a camera reopened at another resolution)."""
        self.finish(meta)

    def applied(self, cfg: SiteConfig) -> None:
        """A new config whose changes are all in `live_sections`: take it into the app's parts."""
        self.cfg = cfg

    def commands(self) -> dict[str, Command]:
        return {}

    def state(self) -> dict:
        """The app's part of the retained `state` message (any thread may call it)."""
        return {}

    def telemetry(self) -> dict:
        return {}

    def overlay(self) -> dict:
        """What the web page's live view draws on the newest frame (any thread may call it): `boxes` [{box: [x1, y1,
        x2, y2] px, label}], `zones` [{name, polygon: [[x, y] px], text}]."""
        return {}

    def stats(self) -> dict:
        return {}
