"""Labelled pairs files: deepface's CSV (any spelling of yes) and LFW's pairs.txt, pictures found relative to the file
(never by base name alone), bad files named in one line."""

from pathlib import Path

import pytest

from edge.errors import EdgekitError
from edge.faces.pairs import read_pairs


def test_csv_decisions_in_any_spelling_and_paths_relative_to_the_file(tmp_path):
    (tmp_path / "images" / "sub").mkdir(parents=True)
    for n in ("a.jpg", "sub/b.jpg"):
        (tmp_path / "images" / n).write_bytes(b"x")
    (tmp_path / "b.jpg").write_bytes(b"x")  # same base name as images/sub/b.jpg: must not be taken for it
    rows = ["file_x,file_y,Decision"] + [
        f"a.jpg,sub/b.jpg,{d}" for d in ("Yes", "yes", "1", "true", "same", "No", "0", "")
    ]
    (tmp_path / "pairs.csv").write_text("\n".join(rows) + "\n")
    pairs = read_pairs(tmp_path / "pairs.csv")
    assert [p.same for p in pairs] == [True] * 5 + [False] * 3
    assert pairs[0].a == tmp_path / "images" / "a.jpg" and pairs[0].b == tmp_path / "images" / "sub" / "b.jpg"


def test_lfw_pairs_txt_beside_its_images_folder(shared_data):
    pairs = read_pairs(shared_data / "faces" / "lfw" / "meta" / "pairsDevTest.txt")
    assert len(pairs) == 1000 and sum(p.same for p in pairs) == 500
    first = pairs[0]
    assert first.a == shared_data / "faces" / "lfw" / "images" / "Abdullah_Gul" / "Abdullah_Gul_0013.jpg"
    assert first.a.is_file() and first.b.is_file()


def test_deepface_pairs_are_all_found(shared_data):
    pairs = read_pairs(shared_data / "faces" / "deepface" / "pairs.csv")
    assert len(pairs) == 300 and all(p.a.is_file() and p.b.is_file() for p in pairs)


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("pairs.csv", "left,right,Decision\na,b,Yes\n", "pairs.csv: column 'file_x' missing"),
        ("pairs.txt", "2\nAnn 1 2\nAnn one Bob 2\n", "pairs.txt: line 3 is neither"),
    ],
)
def test_bad_pairs_files_are_named(tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    with pytest.raises(EdgekitError, match=message):
        read_pairs(tmp_path / name)
    with pytest.raises(EdgekitError, match="nope.csv: not found"):
        read_pairs(Path(tmp_path / "nope.csv"))
