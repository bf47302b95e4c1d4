"""The crop enricher: an event that carries the face crop that decided it gets the crop saved as a JPEG in
`events.crops_dir` and the file's path as `crop`; the folder is pruned to `events.crops_keep` now and then."""
from __future__ import annotations

import time
from pathlib import Path

import cv2

from edge.events.types import Event
from edge.private import private_dir, write_private


class CropWriter:
    def __init__(self, crops_dir: str | None, keep: int):
        self.dir = Path(crops_dir).expanduser() if crops_dir else None
        self.keep, self.written = keep, 0

    def enrich(self, event: Event) -> None:
        crop, event.crop_image = event.crop_image, None  # the pixels never travel further
        if self.dir is None or crop is None:
            return
        private_dir(self.dir)
        frame, track = getattr(event, "frame_id", 0), getattr(event, "track_id", 0)
        path = self.dir / f"{int(time.time() * 1000)}-{frame}-{track}.jpg"  # names sort by time
        ok, jpeg = cv2.imencode(".jpg", crop)
        if ok:  # a face: 0600 whatever the umask (cv2.imwrite would make it 0666 & ~umask)
            event.crop = str(write_private(path, jpeg.tobytes()))
        self.written += 1
        if self.written % 50 == 1:  # prune now and then, not on every write
            crops = sorted(self.dir.glob("*.jpg"))
            for old in crops[: max(0, len(crops) - self.keep)]:
                old.unlink(missing_ok=True)
