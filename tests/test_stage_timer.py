"""StageTimer is written by the frame loop and read by the telemetry/MQTT threads at the same time."""

from __future__ import annotations

import gc
import threading

from edge.stats import StageTimer


def test_summary_while_the_loop_adds_a_new_stage():
    """A stage seen for the first time (a model swapped in, motion turned on) appears while `stats` reads: the
    summary must not fail with 'dictionary changed size during iteration'. It did in a full test run even after the
    summary copied the table with list(): the copy allocates, an allocation can run the garbage collector, and the
    finalisers it runs let other threads in mid-copy. Here a GC callback hands over to the loop's thread at that
    moment, as a busy process's finalisers would, so the race shows every time instead of once in a full run."""
    timer = StageTimer()
    for i in range(50):
        timer.add(f"stage{i}", 0.001)
    reader = threading.get_ident()
    go, done, stop = threading.Event(), threading.Event(), threading.Event()
    armed = [0]  # hand over at the armed-th collection: the first ones come before the copy starts iterating

    def loop():
        i = 50
        while not stop.is_set():
            if go.wait(0.01):
                go.clear()
                timer.add(f"stage{i}", 0.001)
                i += 1
                done.set()

    def hand_over(phase, info):
        if phase == "start" and armed[0] and threading.get_ident() == reader:
            armed[0] -= 1
            if armed[0]:
                return
            done.clear()
            go.set()
            done.wait(0.2)  # a timer that locks keeps the loop out until the copy is done: this times out

    old_thresholds = gc.get_threshold()
    writer = threading.Thread(target=loop, daemon=True)
    writer.start()
    gc.callbacks.append(hand_over)
    gc.set_threshold(1, 1, 1)
    errors, summaries = [], []
    try:
        for _ in range(5):
            # Empty CPython's free list of pairs, as a busy process does, so that copying the table allocates anew
            held = [(i, -i) for i in range(5000)]  # noqa: F841
            armed[0] = 5
            try:
                summaries.append(timer.summary())
            except RuntimeError as e:
                errors.append(e)
    finally:
        gc.callbacks.remove(hand_over)
        gc.set_threshold(*old_thresholds)
        stop.set()
        writer.join()
    assert not errors, errors
    assert len(timer.samples) > 50, "the loop's thread never added a stage: the test did not exercise the race"
    assert all(s["stage0"]["n"] == 1 for s in summaries)
