"""The frame loop: capture -> frame checks -> the app (through edge.apps.base.App only), paced by the peripherals,
petting the systemd watchdog per frame. The site (edge.site) builds it with its collaborators."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from edge.apps import APPS
from edge.apps.base import AppContext
from edge.capture import Capture
from edge.capture.base import expected_size
from edge.capture.jpeg import JpegFrame
from edge.config import SiteConfig
from edge.events.bus import EventBus
from edge.loop import telemetry as report
from edge.loop.frames import FrameCheck, LatestFrame
from edge.loop.hotswap import model_versions, swap_in
from edge.loop.motion import MotionGate
from edge.loop.pacing import Pacer
from edge.loop.reconfig import reconfigured
from edge.loop.rollback import Probation
from edge.stats import StageTimer


class FrameLoop:
    def __init__(
        self,
        cfg: SiteConfig,
        bus: EventBus,
        capture: Capture | None = None,
        peripherals=None,
        notifier=None,
        latest: LatestFrame | None = None,
    ):
        self.cfg, self.bus, self.peripherals, self.notifier = cfg, bus, peripherals, notifier
        self.capture = capture or Capture(cfg.source, emit=bus.emit)
        self.latest = latest or LatestFrame()
        self.timer = StageTimer()
        self.models_lock = threading.Lock()
        self.motion = MotionGate(cfg.motion) if cfg.motion is not None else None
        if self.motion is not None and cfg.motion.idle_every > 1:
            self.capture.wanted = self.motion.wants_next  # still scenes: frames grabbed, not decoded
        self.app = APPS.get(cfg.app)(cfg, AppContext(bus.emit, self.timer, self.models_lock, self.motion))
        self.checks = FrameCheck(expected_size(cfg.source), bus.emit)
        self._stop = threading.Event()
        self.pacer = Pacer(peripherals, self.capture, self._stop)
        self.rate = report.FrameRate()
        self.frames = 0
        self.started = time.time()
        self.restart_requested = False
        self.probation = Probation(cfg.models_dir(), self.app, bus.emit)  # models updated and not yet proven

    def run(self, max_frames: int | None = None) -> dict:
        frame_meta = {"frame_id": 0, "frame_time": 0.0}
        if self.notifier is not None:
            unsigned = getattr(getattr(self.cfg.mqtt, "signing", None), "allow_unsigned", False)
            warn = "WARNING: unsigned commands allowed (mqtt.signing.allow_unsigned); " if unsigned else ""
            # `systemctl status` shows it; the source's name has its credentials masked
            self.notifier.ready(warn + "models loaded; opening " + self.capture.source.name)
        t_wait = time.perf_counter()
        for frame in self.capture.frames():
            self.timer.add("capture", time.perf_counter() - t_wait)
            frame_meta = {"frame_id": frame.frame_id, "frame_time": round(frame.time, 3)}
            if frame.gap_s is not None:  # the source was lost and came back: nothing seen before continues
                self.app.finish(frame_meta)
            self.step(frame.image, frame_meta)
            if self.notifier is not None:
                self.notifier.frame()  # the watchdog is petted only while frames flow
            if (max_frames and self.frames >= max_frames) or self._stop.is_set():
                self.capture.stop()
                break
            self.pacer.wait()
            t_wait = time.perf_counter()
        self.app.finish(frame_meta)
        return self.stats()

    def step(self, image: np.ndarray | JpegFrame, meta: dict) -> None:
        """One frame; a JpegFrame (MJPEG packets) is decoded in full only if the app is to process it (the motion
        gate looks at a small grey copy)."""
        image, resized = self.checks.accept(image, meta)
        if image is None:
            return
        if resized:
            self.app.resized(meta)  # tracks from frames of the old size are void
        self.frames += 1
        self.rate.tick()
        self.latest.value = (image, meta)
        if self.motion is not None:
            with self.timer.stage("motion"):
                moved = self.motion.check(image, self.app.tracking())
            if not moved:
                self.app.idle(None if isinstance(image, JpegFrame) else image, meta)
                return
        if isinstance(image, JpegFrame):
            with self.timer.stage("decode"):
                image = self.checks.decode(image, meta)
            if image is None:
                return
        try:
            self.app.process(image, meta)
        except Exception as e:  # noqa: BLE001 - a frame that fails must not end a loop that can recover
            self.probation.failed(e, meta)
        else:
            self.probation.frame_ok()

    def stop(self) -> None:
        """Safe from a signal handler: only sets flags."""
        self._stop.set()
        self.capture.stop()

    def request_restart(self) -> None:
        """Stop gracefully; `edgekit run` then starts afresh in the same process (re-reads config, models, gallery)."""
        self.restart_requested = True
        self.stop()

    def reconfigure(self, changes) -> dict:
        """The `set_config` command: whole or not at all; safe from another thread (the app reads its cfg afresh on
        every frame)."""
        new, changed = reconfigured(self.cfg, changes, self.app.live_sections)
        self.cfg = new
        self.app.applied(new)
        return {"applied": changed}

    def model_versions(self) -> dict:
        return model_versions(self.app)

    def reload_model(self, name: str, card_path: Path) -> bool:
        if not swap_in(self.app, name, card_path):
            return False
        self.probation.swapped(name)
        return True

    def stats(self) -> dict:
        return report.run_stats(self)

    def telemetry(self) -> dict:
        return report.telemetry(self)
