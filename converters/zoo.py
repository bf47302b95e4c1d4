"""`edgekit models build`: fetch each card's source with the registry's own client, verify it, convert, gate, store.
A model whose card, source and target are unchanged since its last build is not rebuilt."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from converters.convert import convert
from converters.source_card import SourceCard, load_source_card
from edge.errors import EdgekitError
from edge.fetch import fetch, fetch_sibling

CARDS_DIR = Path(__file__).resolve().parents[1] / "models"


def cards(cards_dir: Path = CARDS_DIR) -> dict[str, Path]:
    return {p.stem: p for p in sorted(cards_dir.glob("*.yaml"))}


def fetch_source(card: SourceCard) -> Path:
    path = fetch(card.source)
    if card.source.format in ("tfjs", "tfjs_weights"):  # weight shards live next to model.json / the manifest
        spec = json.loads(path.read_text())
        for group in spec if isinstance(spec, list) else spec.get("weightsManifest", []):
            for shard in group.get("paths", []):
                fetch_sibling(card.source, shard)
    return path


def build_key(card_path: Path, target: str) -> str:
    """Changes when the card, the target or the conversion code changes (then the model is rebuilt)."""
    code = b"".join(p.read_bytes() for p in sorted(Path(__file__).parent.rglob("*.py")))
    return hashlib.sha256(card_path.read_bytes() + target.encode() + code).hexdigest()[:16]


def is_current(out_dir: Path, name: str, key: str) -> bool:
    card = out_dir / f"{name}.card.json"
    try:
        return json.loads(card.read_text())["source"].get("build_key") == key and (out_dir / f"{name}.tflite").is_file()
    except (OSError, ValueError, KeyError):
        return False


def order(names: list[str], all_cards: dict[str, Path]) -> list[str]:
    """Detectors before the embedders that crop with them."""
    out: list[str] = []
    for n in names:
        det = load_source_card(all_cards[n]).detector
        if det and det not in out:
            out.append(det)
        if n not in out:
            out.append(n)
    return out


def build(names: list[str] | None, target: str, out_dir: Path, force: bool = False, threads: int = 1) -> dict[str, str]:
    from converters.face_crop import face_crop_from

    all_cards = cards()
    names = names or list(all_cards)
    unknown = [n for n in names if n not in all_cards]
    if unknown:
        raise EdgekitError(f"models {unknown}: no card in {CARDS_DIR}", f"known models: {', '.join(all_cards)}")
    outcome = {}
    for name in order(names, all_cards):
        card_path = all_cards[name]
        card = load_source_card(card_path)
        key = build_key(card_path, target)
        dest = out_dir if target == "cpu" else out_dir / target
        if is_current(dest, name, key) and not force:
            print(f"[{name}] unchanged, not rebuilt ({dest / (name + '.card.json')})", file=sys.stderr)
            outcome[name] = "unchanged"
            continue
        source = fetch_source(card)
        # Embedders crop faces with the cpu build's float reference of their detector.
        crop = (
            face_crop_from(out_dir / f"{card.detector}.float.card.json", card.decoder.params, card.preprocess.width)
            if card.detector
            else None
        )
        convert(source, card, target, dest, face_crop=crop, threads=threads, build_key=key)
        outcome[name] = "built"
    return outcome
