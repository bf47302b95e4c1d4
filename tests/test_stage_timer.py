"""StageTimer is written by the frame loop and read by the telemetry/MQTT threads at the same time."""

from __future__ import annotations

import sys
import threading

from edge.stats import StageTimer


def test_summary_while_the_loop_adds_a_new_stage():
    """A stage seen for the first time (a model swapped in, motion turned on) appears while `stats` reads: the
    summary must not fail with 'dictionary changed size during iteration' (it did, in a full test run)."""
    timer = StageTimer()
    for i in range(50):
        timer.add(f"stage{i}", 0.001)
    stop, errors = threading.Event(), []

    def loop():
        i = 50
        while not stop.is_set():
            timer.add(f"stage{i}", 0.001)
            i += 1

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: the race shows within a few hundred reads
    writer = threading.Thread(target=loop, daemon=True)
    writer.start()
    try:
        for _ in range(300):
            try:
                timer.summary()
            except RuntimeError as e:
                errors.append(e)
                break
    finally:
        stop.set()
        writer.join()
        sys.setswitchinterval(old)
    assert not errors, errors
