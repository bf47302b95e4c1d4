"""Where BlazeFace's keypoints land on dlib's own 150x150 face chip (padding 0.25), measured on the photos themselves:
dlib's 5-point landmarks define the chip (dlib.get_face_chip_details, what face_recognition feeds its ResNet); the
chip's pixel -> photo mapping is read off by cutting the chip out of two coordinate images (x and y of every photo
pixel) and fitting an affine map to them; BlazeFace's keypoints, found on the whole photo as the device finds them,
are mapped onto the chip through it and averaged. Photos: the first photo of each LFW View 1 training person
(peopleDevTrain.txt), never tuned on View 2's test pairs.

An earlier version ran BlazeFace again on each chip (black-bordered, at another scale than the photos); keypoints
found in the photo's own context sit 2-3 px elsewhere, and the chip made with them scored higher on View 1
(docs/benchmarks.md, "Faces on LFW").

    python scripts/dlib_chip_template.py [LFW_DIR] [N]     # needs the peer: `make peer`
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from edge.faces.detector import FaceDetector
from edge.faces.lfw import central_face
from edge.images import read_image
from edge.paths import models_dir

SIZE, PADDING = 150, 0.25


def chip_to_photo(dlib, details, shape) -> np.ndarray:
    """2x3 affine taking chip pixel (u, v) to photo pixel (x, y): least squares over every chip pixel."""
    h, w = shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    photo = np.c_[dlib.extract_image_chip(xs, details).ravel(), dlib.extract_image_chip(ys, details).ravel()]
    u, v = np.meshgrid(np.arange(SIZE, dtype=np.float64), np.arange(SIZE, dtype=np.float64))
    a, *_ = np.linalg.lstsq(np.c_[u.ravel(), v.ravel(), np.ones(u.size)], photo, rcond=None)
    return a.T


def measure(lfw: Path, n: int) -> np.ndarray:
    """(photos, 4, 2): BlazeFace's four keypoints on dlib's chip, for the first photo of the first n View 1 training
    people where both HOG and BlazeFace find a face."""
    import dlib
    import face_recognition_models as frm

    hog, shape5 = dlib.get_frontal_face_detector(), dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
    det = FaceDetector(models_dir() / "blazeface_short.card.json")
    people = [ln.split()[0] for ln in (lfw / "meta" / "peopleDevTrain.txt").read_text().splitlines()[1:]][:n]
    points = []
    for name in people:
        image = read_image(lfw / "images" / name / f"{name}_0001.jpg")
        rgb = np.ascontiguousarray(image[..., ::-1])
        rects, d = hog(rgb, 1), det.detect(image)
        if not rects or not len(d):
            continue
        boxes = np.array([[r.left(), r.top(), r.right(), r.bottom()] for r in rects], np.float32)
        details = dlib.get_face_chip_details(shape5(rgb, rects[central_face(boxes, rgb.shape)]), SIZE, PADDING)
        to_photo = np.vstack([chip_to_photo(dlib, details, rgb.shape), [0, 0, 1]])
        kps = d.keypoints[central_face(d.boxes, image.shape)][:4]
        points.append((np.c_[kps, np.ones(4)] @ np.linalg.inv(to_photo).T)[:, :2])
    return np.stack(points)


def main(lfw: Path, n: int) -> None:
    p = measure(lfw, n)
    print(f"{len(p)} photos; BlazeFace keypoints on dlib's chip (mean, std) in {SIZE} px:")
    for k, label in enumerate(("right eye", "left eye", "nose tip", "mouth centre")):
        mean, std = p[:, k].mean(0), p[:, k].std(0)
        print(f"  {label:<13} ({mean[0]:7.3f}, {mean[1]:7.3f})  +- ({std[0]:.2f}, {std[1]:.2f})")


if __name__ == "__main__":
    main(
        Path(sys.argv[1]) if len(sys.argv) > 1 else Path("../shared/data/faces/lfw"),
        int(sys.argv[2]) if len(sys.argv) > 2 else 1100,
    )
