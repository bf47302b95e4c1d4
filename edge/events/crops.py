"""The crop enricher: an event that carries the face crop that decided it gets the crop saved as a JPEG in
`events.crops_dir` and the file's path as `crop`; the folder keeps exactly the newest `events.crops_keep` (a doorbell
runs for months). A crop that cannot be written is `crop_error` on the event; the event still goes out."""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path

import cv2

from edge.events.types import Event
from edge.private import private_dir, write_private


class CropWriter:
    def __init__(self, crops_dir: str | None, keep: int):
        self.dir = Path(crops_dir).expanduser() if crops_dir else None
        self.keep = keep
        # names sort by time: what a previous run left counts towards `keep` too (listed once, not per write)
        self._kept = deque(sorted(self.dir.glob("*.jpg"))) if self.dir is not None and self.dir.is_dir() else deque()
        self._prune()

    def enrich(self, event: Event) -> None:
        crop, event.crop_image = event.crop_image, None  # the pixels never travel further
        if self.dir is None or crop is None:
            return
        frame, track = getattr(event, "frame_id", 0), getattr(event, "track_id", 0)
        path = self.dir / f"{int(time.time() * 1000)}-{frame}-{track}.jpg"  # names sort by time
        try:
            private_dir(self.dir)
            ok, jpeg = cv2.imencode(".jpg", crop)
            if ok:  # a face: 0600 whatever the umask (cv2.imwrite would make it 0666 & ~umask)
                write_private(path, jpeg.tobytes())
        except (OSError, cv2.error) as e:
            ok, why = False, f"{e.__class__.__name__}: {e}"[:200]
        else:
            why = "could not be encoded as JPEG"
        if not ok:
            event.crop_error = f"events.crops_dir {self.dir}: {path.name} {why}"
            return
        event.crop = str(path)
        self._kept.append(path)
        self._prune()

    def _prune(self) -> None:
        while len(self._kept) > self.keep:
            try:
                self._kept.popleft().unlink(missing_ok=True)
            except OSError:  # a file that cannot be deleted now is not worth stopping for
                pass
