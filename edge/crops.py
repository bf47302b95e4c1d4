"""JPEG crops of the faces that decided, kept to exactly the newest `keep` files (a doorbell runs for months)."""

from __future__ import annotations

from collections import deque
from pathlib import Path

import cv2
import numpy as np

from edge.errors import EdgekitError


class CropStore:
    def __init__(self, folder: str | Path, keep: int):
        self.dir, self.keep = Path(folder).expanduser(), keep
        # names sort by time: what a previous run left counts towards `keep` too (listed once, not per write)
        self._kept = deque(sorted(self.dir.glob("*.jpg"))) if self.dir.is_dir() else deque()
        self._prune()

    def save(self, crop: np.ndarray, stem: str) -> Path:
        """Write STEM.jpg; EdgekitError (one line) when it cannot be written. The oldest beyond `keep` are deleted."""
        path = self.dir / f"{stem}.jpg"
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            ok = cv2.imwrite(str(path), crop)
        except (OSError, cv2.error) as e:
            raise EdgekitError(
                f"events.crops_dir {self.dir}: cannot write {path.name} ({e})", "check the folder"
            ) from None
        if not ok:
            raise EdgekitError(
                f"events.crops_dir {self.dir}: cannot write {path.name}",
                "check the folder is writable and the disk not full",
            )
        self._kept.append(path)
        self._prune()
        return path

    def _prune(self) -> None:
        while len(self._kept) > self.keep:
            try:
                self._kept.popleft().unlink(missing_ok=True)
            except OSError:  # a file that cannot be deleted now is not worth stopping for
                pass
