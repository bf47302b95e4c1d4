"""The last good build of each model, kept after a model update until the loop has run on the new one.

A smoke test cannot prove everything the loop will ask of a model. So a swapped-in model is on probation: the files
it replaced stay in `MODELS/.lastgood/` with a marker, until the loop has processed `frames` frames with it
(`release`). If the loop fails meanwhile — at run time, or at start-up after a crash or a restart — `roll_back` puts
the previous files back and the loop carries on with them."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

PROBATION_FRAMES = 30  # frames the loop must process with a new model before the old one is let go


class LastGood:
    def __init__(self, models_dir: str | Path):
        self.models = Path(models_dir)
        self.dir = self.models / ".lastgood"

    def _marker(self, name: str) -> Path:
        return self.dir / f"{name}.probation.json"

    def keep(self, name: str, files: list[Path], reason: str = "model update") -> None:
        """Before `files` (NAME.tflite, NAME.card.json) are replaced: copy them aside and put `name` on probation."""
        self.dir.mkdir(exist_ok=True)
        for f in files:
            if f.exists():
                shutil.copy2(f, self.dir / f.name)
        self._marker(name).write_text(
            json.dumps({"since": time.time(), "reason": reason, "files": [f.name for f in files]})
        )

    def on_probation(self) -> list[str]:
        if not self.dir.is_dir():
            return []
        return sorted(p.name[: -len(".probation.json")] for p in self.dir.glob("*.probation.json"))

    def release(self, name: str) -> None:
        """The loop ran on the new model (or the update was undone another way): the old files go."""
        marker = self._marker(name)
        if not marker.exists():
            return
        for f in json.loads(marker.read_text()).get("files", []):
            (self.dir / f).unlink(missing_ok=True)
        marker.unlink(missing_ok=True)

    def roll_back(self, name: str) -> bool:
        """Put the kept files back (each atomically); False when `name` is not on probation."""
        marker = self._marker(name)
        if not marker.exists():
            return False
        for f in json.loads(marker.read_text()).get("files", []):
            kept = self.dir / f
            if kept.exists():
                tmp = self.models / f".{f}.restore"
                shutil.copy2(kept, tmp)
                os.replace(tmp, self.models / f)
                kept.unlink()
        marker.unlink()
        return True
