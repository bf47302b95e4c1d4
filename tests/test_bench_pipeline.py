"""`edgekit bench pipeline`'s worst-case run: every face embedded on every frame needs thresholds that the site config
accepts and that never decide a track, whatever the strangers' gallery scores."""

from __future__ import annotations

import numpy as np

from edge.apps.doorbell.policy import DoorbellVote
from edge.bench.pipeline import NEVER_DECIDE
from edge.config import parse_config
from edge.vision.tracker import Track


def test_the_never_deciding_thresholds_are_a_valid_config_and_never_decide():
    cfg = parse_config({"thresholds": NEVER_DECIDE})  # was refused: unknown -1 is below the config's floor of 0
    vote, track = DoorbellVote(cfg.thresholds), Track(1, np.array([0, 0, 50, 50], np.float32), 0, 0)
    # the best of 100 random unit strangers is above 0 for any face (and below 1): always in the band
    for i, score in enumerate(np.linspace(0.01, 0.99, 50)):
        assert vote.attempt(track, "stranger-7", float(score), {"frame_id": i, "frame_time": 0.0}) is None
    assert not vote.decided(track)
