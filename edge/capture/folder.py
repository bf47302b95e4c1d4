"""A folder of images, read in name order (a replayable 'camera' for tests and site surveys)."""

from __future__ import annotations

from edge.capture.base import SourceError
from edge.errors import EdgekitError
from edge.events.types import FrameDegraded, FrameUnreadable
from edge.images import list_images, read_picture


class FolderSource:
    is_live = False

    @classmethod
    def from_config(cls, cfg, emit=None):
        return cls(cfg.uri, emit)

    def __init__(self, folder: str, emit=None):
        self.folder, self.name = folder, folder
        self.files, self.i = [], 0
        self.skipped: list[str] = []
        self.emit = emit or (lambda event: None)  # a skipped file is an event naming it

    def open(self) -> None:
        try:
            self.files = list_images(self.folder)
        except EdgekitError as e:
            raise SourceError(str(e)) from None
        self.i = 0

    def read(self):
        while self.i < len(self.files):
            path = self.files[self.i]
            self.i += 1
            try:
                picture = read_picture(path)
            except EdgekitError as e:  # one bad file is skipped, not the end of the folder
                self.skipped.append(str(e))
                self.emit(FrameUnreadable(source=self.name, file=str(path), error=e.what))
                continue
            if picture.degraded:  # a damaged JPEG decodes partly: processed, and said so
                self.emit(FrameDegraded(source=self.name, file=str(path), reason=picture.degraded))
            return picture.image
        return None

    def close(self) -> None:
        pass
