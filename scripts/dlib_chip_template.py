"""Where BlazeFace's keypoints land on dlib's own 150x150 face chip (padding 0.25), measured: dlib's 5-point
landmarks make the chip (dlib.get_face_chip, what face_recognition feeds its ResNet), BlazeFace is run on the chip
(centred in a frame twice its size), and its keypoints are averaged. Photos: the first photo of each LFW View 1
training person (peopleDevTrain.txt), so the View 2 test pairs are not what the template was fitted on.

    python scripts/dlib_chip_template.py [LFW_DIR] [N]     # needs the peer: `make peer`
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

from edge.faces.detector import FaceDetector
from edge.faces.lfw import central_face
from edge.images import read_image
from edge.paths import models_dir


def main(lfw: Path, n: int) -> None:
    import dlib
    import face_recognition_models as frm

    hog, shape5 = dlib.get_frontal_face_detector(), dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
    det = FaceDetector(models_dir() / "blazeface_short.card.json")
    people = [ln.split()[0] for ln in (lfw / "meta" / "peopleDevTrain.txt").read_text().splitlines()[1:]][:n]
    points = []
    for name in people:
        rgb = np.ascontiguousarray(read_image(lfw / "images" / name / f"{name}_0001.jpg")[..., ::-1])
        rects = hog(rgb, 1)
        if not rects:
            continue
        boxes = np.array([[r.left(), r.top(), r.right(), r.bottom()] for r in rects], np.float32)
        chip = dlib.get_face_chip(rgb, shape5(rgb, rects[central_face(boxes, rgb.shape)]), 150, 0.25)
        frame = cv2.copyMakeBorder(np.ascontiguousarray(chip[..., ::-1]), 75, 75, 75, 75, cv2.BORDER_CONSTANT)
        d = det.detect(frame)
        if len(d):
            points.append(d.keypoints[int(np.argmax(d.scores))][:4] - 75)
    p = np.stack(points)
    print(f"{len(p)} chips; BlazeFace keypoints on dlib's chip (mean, std) in 150 px:")
    for k, label in enumerate(("right eye", "left eye", "nose tip", "mouth centre")):
        mean, std = p[:, k].mean(0), p[:, k].std(0)
        print(f"  {label:<13} ({mean[0]:7.3f}, {mean[1]:7.3f})  +- ({std[0]:.2f}, {std[1]:.2f})")


if __name__ == "__main__":
    main(
        Path(sys.argv[1]) if len(sys.argv) > 1 else Path("../shared/data/faces/lfw"),
        int(sys.argv[2]) if len(sys.argv) > 2 else 600,
    )
