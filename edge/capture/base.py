"""The Source interface and the Capture policy, written once for every kind of source.

A Source opens, reads one BGR frame at a time (None at the end of a stream) and closes. Capture wraps it: a source that
fails or ends is reopened with exponential backoff (files: loop or stop), and under load a grabber thread keeps only
the newest frame, counting the ones it overwrote as dropped, so no queue ever grows. A live source that stops
delivering is reported once (`source_lost`), retried, and reported back with the outage's length (`source_restored`);
the first frame after the gap carries `gap_s`, so the loop can close tracks that cannot continue across it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from edge.errors import EdgekitError
from edge.events.types import Event, SourceFailed, SourceLost, SourceRestarted, SourceRestored
from edge.events.types import SourceError as SourceErrorEvent
from edge.registry import Registry


class SourceError(Exception):
    """The source failed (device gone, stream broken); Capture reopens it."""


class Source(Protocol):
    name: str
    is_live: bool  # cameras and streams run at their own pace; files and folders only when read

    def open(self) -> None: ...

    def read(self) -> np.ndarray | None: ...  # or a JpegFrame (edge.capture.jpeg): decoded by the loop

    def close(self) -> None: ...


class CaptureConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["opencv", "folder", "picamera2"] = "opencv"
    uri: str = Field("0", description="device index, /dev/videoN, rtsp://..., http://..., a video file, or a folder")
    # network streams (rtsp://, http(s)://): the RTSP transport, and how long an open or a read may take before the
    # stream counts as failed (a stalled camera keeps its socket open and sends nothing)
    transport: Literal["tcp", "udp"] = "tcp"
    open_timeout_s: float = Field(10.0, gt=0)
    read_timeout_s: float = Field(5.0, gt=0)
    ffmpeg_options: dict[str, str] = Field(default_factory=dict)  # more FFmpeg demuxer options, e.g. {max_delay: "0"}
    # MJPEG files: read JPEG packets and decode each only as far as needed (a small grey copy for motion, the full
    # frame for the app); off: FFmpeg decodes every frame in full
    jpeg_frames: bool = True
    at_end: Literal["loop", "stop"] = "stop"  # files and folders
    pace: Literal["asap", "realtime"] = (
        "asap"  # files: realtime replays at the file's frame rate, dropping frames under load
    )
    fps: float | None = Field(None, gt=0)  # realtime pace for folders, or to override a file's own rate
    width: int | None = Field(None, gt=0)  # request from cameras
    height: int | None = Field(None, gt=0)
    # Reject frames of any other size than width x height (e.g. zones drawn in pixels for one resolution). Off: any
    # size is processed (detectors letterbox), and a change of size ends the open tracks.
    strict_size: bool = False
    backoff_initial_s: float = Field(0.5, gt=0)
    backoff_max_s: float = Field(30.0, gt=0)
    # Give up after this many failed opens in a row. Unset: never for cameras and streams (they come back), 5 for
    # files and folders (a file that exists but does not decode will not get better).
    open_retries: int | None = Field(None, ge=0)


@dataclass
class Frame:
    image: np.ndarray
    frame_id: int  # counts frames read from the source, dropped ones included
    time: float  # epoch seconds at capture
    gap_s: float | None = None  # the first frame after a lost live source came back: how long it was away


# Source classes by `source.kind`, each built with cls.from_config(cfg, emit); imported when first used (picamera2
# only imports on a Pi). `emit` takes the events of sources that skip bad items (a folder's unreadable file).
SOURCES: Registry[type] = Registry("source kind", "set source.kind to one of: {known}")
SOURCES.lazy("opencv", "edge.capture.opencv:OpenCVSource")
SOURCES.lazy("folder", "edge.capture.folder:FolderSource")
SOURCES.lazy("picamera2", "edge.capture.picamera:Picamera2Source")


def open_source(cfg: CaptureConfig, emit=None) -> Source:
    return SOURCES.get(cfg.kind).from_config(cfg, emit)


class Capture:
    def __init__(self, cfg: CaptureConfig, source: Source | None = None, emit: Callable[[Event], object] | None = None):
        self.cfg = cfg
        self.emit = emit or (lambda e: None)  # the event bus
        self.source = source or open_source(cfg, self.emit)
        self.dropped = 0
        self.read_count = 0
        self.reopened = 0
        # asked before each frame: False = grab it without decoding (sources with grab(); the motion gate's idle
        # frames). Such frames count in frame ids but are neither delivered nor dropped.
        self.wanted: Callable[[], bool] | None = None
        self.undecoded = 0
        self._stop = threading.Event()
        self._slot: Frame | None = None
        self._cond = threading.Condition()
        self._ended = False
        self._grabber_busy = False
        self._handover = threading.Lock()
        self.failure: str | None = None  # why the source was given up on (never opened, or lost for good)
        self.delivered = False  # a frame arrived since this Capture started: wrong-URL errors are no longer fatal
        self._last_image_t = 0.0  # monotonic time of the last frame read
        self._lost_at: float | None = None  # monotonic time of the last frame before a live source was lost
        self._lost_attempts = 0
        self._gap: float | None = None  # outage length for the next frame handed out

    # -- reading with the reopen policy (runs in the caller's thread, or the grabber's) --
    def _open(self) -> bool:
        delay = self.cfg.backoff_initial_s
        retries = self.cfg.open_retries if self.cfg.open_retries is not None else (None if self.source.is_live else 5)
        failures = 0
        while not self._stop.is_set():
            try:
                self.source.open()
                return True
            except (SourceError, OSError) as e:
                failures += 1
                self._lost_attempts += 1
                if getattr(e, "permanent", False) and not self.delivered:  # a wrong URL or password: say so, once
                    self.emit(SourceFailed(source=self.source.name, error=str(e), attempts=failures))
                    raise EdgekitError(f"source.uri {getattr(e, 'what', e)}", getattr(e, "fix", None)) from None
                if retries is not None and failures > retries:
                    self.failure = f"gave up after {failures} attempts ({e})"
                    self.emit(SourceFailed(source=self.source.name, error=str(e), attempts=failures))
                    return False
                self.emit(SourceErrorEvent(source=self.source.name, error=str(e), retry_in_s=delay))
                if self._stop.wait(delay):
                    return False
                delay = min(delay * 2, self.cfg.backoff_max_s)
        return False

    def _next_image(self) -> np.ndarray | None:
        """The next frame, reopening on failure; None once a file/folder ends with at_end: stop (or on stop())."""
        while not self._stop.is_set():
            error = None
            try:
                image = self.source.read()
            except SourceError as e:
                image, error = None, str(e)
            if image is not None:
                self._delivered_one()
                return image
            if error is not None:
                self._failed_read(error)
            elif not self.source.is_live and self.cfg.at_end == "stop":
                return None
            self.source.close()
            if error is None and not self.source.is_live:
                self.emit(SourceRestarted(source=self.source.name))
            self.reopened += 1
            if not self._open():
                return None
        return None

    def _delivered_one(self) -> None:
        self.delivered, self._last_image_t = True, time.monotonic()
        if self._lost_at is not None:
            self._gap = round(self._last_image_t - self._lost_at, 2)
            self.emit(SourceRestored(source=self.source.name, outage_s=self._gap, attempts=self._lost_attempts + 1))
            self._lost_at = None

    def _failed_read(self, error: str) -> None:
        """A live source that was delivering is lost (once, until it delivers again); anything else is an error."""
        if self.source.is_live and self.delivered and self._lost_at is None:
            self._lost_at, self._lost_attempts = self._last_image_t, 0
            self.emit(SourceLost(source=self.source.name, error=error, frames=self.read_count))
        else:
            self.emit(SourceErrorEvent(source=self.source.name, error=error, retry_in_s=self.cfg.backoff_initial_s))

    def frames(self) -> Iterator[Frame]:
        if not self._open():
            return
        realtime = self.source.is_live or self.cfg.pace == "realtime"
        try:
            yield from (self._grabbed() if realtime else self._sequential())
        finally:
            self.stop()
            if not self._grabber_busy:
                self.source.close()

    def _skipped(self) -> bool:
        """The next frame grabbed and not decoded, because nobody wants it (False: read it, or it failed/ended)."""
        if self.wanted is None or self.wanted() or not hasattr(self.source, "grab") or not self.source.grab():
            return False
        self.read_count += 1
        self.undecoded += 1
        return True

    def _sequential(self) -> Iterator[Frame]:
        while True:
            if self._skipped():
                continue
            image = self._next_image()
            if image is None:
                return
            self.read_count += 1
            yield Frame(image, self.read_count, time.time(), self._take_gap())

    def _grabbed(self) -> Iterator[Frame]:
        """Frames as the source gives them, paced for files, grabbed on a thread with a newest-frame slot. One
        generator on purpose (~65 lines): the grab thread, the slot and the stop flag live in its closure and end
        with it."""
        period = 1.0 / (self.cfg.fps or getattr(self.source, "fps", None) or 30.0)
        paced = not self.source.is_live  # a file replayed as if it were a camera

        done = [False]

        failure: list[EdgekitError] = []

        def grab():
            try:
                grab_loop()
            except EdgekitError as e:  # a wrong URL found on a reopen before any frame came: the consumer raises it
                failure.append(e)
                with self._cond:
                    self._ended = True
                    self._cond.notify_all()
            finally:
                with self._handover:
                    done[0] = True
                    if self._grabber_busy:  # the consumer left while we were stuck in read(): closing is ours
                        self.source.close()

        def grab_loop():
            next_t = time.monotonic()
            while not self._stop.is_set():
                if self._skipped():
                    if paced:
                        next_t += period
                        self._stop.wait(max(0.0, next_t - time.monotonic()))
                    continue
                image = self._next_image()
                with self._cond:
                    if image is None:
                        self._ended = True
                        self._cond.notify_all()
                        return
                    self.read_count += 1
                    if self._slot is not None:
                        self.dropped += 1  # the consumer was busy: keep only the newest frame
                    gap = self._take_gap() or getattr(self._slot, "gap_s", None)  # an overwritten frame's gap stays
                    self._slot = Frame(image, self.read_count, time.time(), gap)
                    self._cond.notify_all()
                if paced:
                    next_t += period
                    self._stop.wait(max(0.0, next_t - time.monotonic()))

        thread = threading.Thread(target=grab, name="edgekit-capture", daemon=True)
        thread.start()
        try:
            while True:
                with self._cond:
                    while self._slot is None and not self._ended and not self._stop.is_set():
                        self._cond.wait(0.5)
                    frame, self._slot = self._slot, None
                    if frame is None:
                        if failure:
                            raise failure[0]
                        return
                yield frame
        finally:
            self._stop.set()
            thread.join(timeout=2)
            # A read() stuck on a stalled stream (FFmpeg may wait 30 s) must not meet a release() from this thread:
            # OpenCV does not allow the two at once. The grabber closes the source when its read returns.
            with self._handover:
                self._grabber_busy = not done[0]

    def _take_gap(self) -> float | None:
        gap, self._gap = self._gap, None
        return gap

    def stop(self) -> None:
        self._stop.set()


def check_frame(image, expected: tuple[int, int] | None = None) -> str | None:
    """Why a frame is unusable, or None. Frames must be uint8 HxWx3 (or HxW grey)."""
    if not isinstance(image, np.ndarray):
        return f"frame is {type(image).__name__}, not an image array"
    if image.dtype != np.uint8:
        return f"frame dtype {image.dtype}, expected uint8"
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3)) or min(image.shape[:2]) < 8:
        return f"frame shape {image.shape}, expected HxWx3 (at least 8x8)"
    return size_problem((image.shape[1], image.shape[0]), expected)


def size_problem(size: tuple[int, int], expected: tuple[int, int] | None) -> str | None:
    if expected is not None and tuple(size) != tuple(expected):
        return (
            f"frame size {size[0]}x{size[1]}, expected {expected[0]}x{expected[1]} (source.width/height with "
            f"source.strict_size: set them to what the camera delivers, or strict_size: false)"
        )
    return None


def expected_size(cfg: CaptureConfig) -> tuple[int, int] | None:
    return (cfg.width, cfg.height) if cfg.strict_size and cfg.width and cfg.height else None
