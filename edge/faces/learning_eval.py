"""`edgekit faces learning --lfw`: the doorbell's learning measured on LFW identities fed as visits, through the
same policy functions the doorbell runs (edge.faces.unknowns, feedback, adapt). Input: the subject's unit vector per
LFW photo ("Name/Name_0001.jpg" -> vector, None where no face was found: left out and counted).

Held-out split: identities alternate (sorted by name) between a `tune` half, where the parameters are chosen, and a
`report` half, where the figures are given. Visit orders are shuffled with a fixed seed."""

from __future__ import annotations

import numpy as np

from edge.faces import adapt, unknowns
from edge.faces.adapt import AdaptConfig
from edge.faces.feedback import Negatives
from edge.metrics import tar_at_far

SEED = 13


def by_identity(vectors: dict) -> dict[str, np.ndarray]:
    """Identity -> (n, D) vectors of its photos with a face, in photo order."""
    out: dict[str, list] = {}
    for photo in sorted(vectors):
        if vectors[photo] is not None:
            out.setdefault(photo.split("/", 1)[0], []).append(np.asarray(vectors[photo], np.float32))
    return {k: np.stack(v) for k, v in out.items()}


def split(names: list[str]) -> tuple[list[str], list[str]]:
    names = sorted(names)
    return names[0::2], names[1::2]


# ---- unknown visitors: online clustering ----
def cluster_visits(visits: np.ndarray, threshold: float) -> np.ndarray:
    """The visitor (cluster index) each visit is assigned to, in order, by the doorbell's leader/centroid rule."""
    dim = visits.shape[1]
    centroids = np.zeros((len(visits), dim), np.float32)
    seen = np.zeros(len(visits), int)
    n = 0
    labels = np.empty(len(visits), int)
    for i, v in enumerate(visits):
        k, _ = unknowns.assign(centroids[:n], v, threshold)
        if k is None:
            k, n = n, n + 1
            centroids[k] = v
        else:
            centroids[k] = unknowns.merged_mean(centroids[k], seen[k], v)
        seen[k] += 1
        labels[i] = k
    return labels


def cluster_scores(labels: np.ndarray, truth: np.ndarray) -> dict:
    """Purity (share of visits in their visitor's majority identity), BCubed precision/recall/F1, visitors per
    identity (fragmentation), and how often a returning person was given a visitor that had seen them before."""
    labels, truth = np.asarray(labels), np.asarray(truth)
    purity_hits = 0
    for c in np.unique(labels):
        _, counts = np.unique(truth[labels == c], return_counts=True)
        purity_hits += counts.max()
    same_c = labels[:, None] == labels[None, :]
    same_t = truth[:, None] == truth[None, :]
    both = (same_c & same_t).sum(1)
    precision = float(np.mean(both / same_c.sum(1)))
    recall = float(np.mean(both / same_t.sum(1)))
    names = np.unique(truth)
    per_identity = [len(np.unique(labels[truth == t])) for t in names]
    returning, recognised = 0, 0
    for i in range(len(labels)):
        earlier = truth[:i] == truth[i]
        if earlier.any():
            returning += 1
            recognised += bool((labels[:i][earlier] == labels[i]).any())
    return {
        "visits": int(len(labels)),
        "identities": int(len(names)),
        "visitors": int(len(np.unique(labels))),
        "purity": round(purity_hits / len(labels), 4),
        "bcubed_precision": round(precision, 4),
        "bcubed_recall": round(recall, 4),
        "bcubed_f1": round(2 * precision * recall / max(precision + recall, 1e-12), 4),
        "visitors_per_identity": round(float(np.mean(per_identity)), 3),
        "returning_visits_recognised": round(recognised / max(returning, 1), 4),
    }


def clustering(people: dict[str, np.ndarray], names: list[str], threshold: float, max_photos: int = 20) -> dict:
    """Every photo (up to `max_photos` per person) of `names` as one visit, in a shuffled order."""
    rng = np.random.default_rng(SEED)
    visits = [(n, v) for n in names for v in people[n][:max_photos]]
    order = rng.permutation(len(visits))
    truth = np.asarray([visits[i][0] for i in order])
    labels = cluster_visits(np.stack([visits[i][1] for i in order]), threshold)
    return {"threshold": threshold, **cluster_scores(labels, truth)}


# ---- negative feedback on look-alikes ----
def look_alikes(people: dict[str, np.ndarray], names: list[str], recognize: float, top: int) -> list[tuple]:
    """The `top` highest-scoring (A, B) different-person pairs between A's first photo (A's enrolled gallery) and
    B's first photo (the false accept at the door), among people with two or more photos, at or above `recognize`."""
    multi = [n for n in names if len(people[n]) >= 2]
    firsts = np.stack([people[n][0] for n in multi])
    sims = firsts @ firsts.T
    np.fill_diagonal(sims, -np.inf)
    i, j = np.unravel_index(np.argsort(-sims, axis=None)[: 2 * top], sims.shape)
    pairs = [(multi[a], multi[b], float(sims[a, b])) for a, b in zip(i, j) if sims[a, b] >= recognize]
    return pairs[:top]


def rejection(people: dict[str, np.ndarray], names: list[str], recognize: float, top: int = 200) -> dict:
    """Per look-alike pair (A enrolled from one photo, B's first photo accepted as A and then rejected): B's other
    photos accepted as A before and after the negative, and A's own other photos accepted before and after (the
    price of the negative)."""
    pairs = look_alikes(people, names, recognize, top)
    out = {"pairs": len(pairs), "b_probes": 0, "b_accepted_before": 0, "b_accepted_after": 0}
    out.update(a_probes=0, a_accepted_before=0, a_accepted_after=0)
    for a, b, _ in pairs:
        gallery = people[a][:1]
        negatives = Negatives(people[b][:1], np.asarray([a], object))
        for key, probes in (("b", people[b][1:]), ("a", people[a][1:])):
            scores = (probes @ gallery.T).max(1)
            accepted = scores >= recognize
            refused = np.asarray([negatives.refuses(a, float(s), p) for s, p in zip(scores, probes)])
            out[f"{key}_probes"] += len(probes)
            out[f"{key}_accepted_before"] += int(accepted.sum())
            out[f"{key}_accepted_after"] += int((accepted & ~refused).sum())
    out["lowest_pair_score"] = round(min((s for *_, s in pairs), default=float("nan")), 4)
    return out


# ---- adaptation ----
def adaptation(
    people: dict[str, np.ndarray],
    names: list[str],
    strangers: list[str],
    cfg: AdaptConfig,
    min_score: float,
    far: float = 1e-3,
    operating: dict | None = None,
    max_photos: int = 40,
) -> dict:
    """Each of `names` enrolled from its first photo; the first half of its other photos are door visits (shuffled
    with as many stranger visits), the second half held out. A visit whose best match reaches `min_score` adapts that
    identity (right or wrong: wrong ones are counted). TAR at `far` on the held-out photos (impostors: held-out
    photos of the other identities and the strangers' photos not used as visits), before and after; also TAR and
    FAR at the doorbell's own thresholds (`operating`). At most `max_photos` per person (LFW has 530 of one)."""
    rng = np.random.default_rng(SEED)
    gallery = {n: [people[n][0]] for n in names}
    held, visits = {}, []
    for n in names:
        rest = people[n][1:max_photos]
        half = len(rest) // 2
        visits += [(n, v) for v in rest[:half]]
        held[n] = rest[half:]
    stranger_photos = [(s, v) for s in strangers for v in people[s][:1]]
    n_strangers = min(len(visits), len(stranger_photos) // 2)
    visits += [(None, v) for _, v in stranger_photos[:n_strangers]]
    impostor_only = [v for _, v in stranger_photos[n_strangers:]]
    before = _verification(gallery, held, impostor_only, far, operating)
    order = rng.permutation(len(visits))
    added = wrong = 0
    for i in order:
        truth, v = visits[i]
        best, score = None, -1.0
        for n in names:
            s = float((np.stack(gallery[n]) @ v).max())
            if s > score:
                best, score = n, s
        own = np.stack(gallery[best])
        k = adapt.choose(v[None], np.asarray([score]), own, len(gallery[best]) - 1, cfg, min_score)
        if k is not None:
            gallery[best].append(v)
            added += 1
            wrong += truth != best
    after = _verification(gallery, held, impostor_only, far, operating)
    return {
        "identities": len(names),
        "door_visits": len(visits),
        "stranger_visits": n_strangers,
        "held_out_probes": int(sum(len(h) for h in held.values())),
        "adapted": added,
        "adapted_wrong_identity": int(wrong),
        "before": before,
        "after": after,
    }


def _verification(gallery: dict, held: dict, strangers: list, far: float, operating: dict | None) -> dict:
    names = list(gallery)
    mats = [np.stack(gallery[n]) for n in names]
    genuine, impostor = [], []
    for i, n in enumerate(names):
        for p in held[n]:
            for j, m in enumerate(mats):
                (genuine if i == j else impostor).append(float((m @ p).max()))
    for p in strangers:
        impostor += [float((m @ p).max()) for m in mats]
    scores = np.asarray(genuine + impostor)
    same = np.arange(len(scores)) < len(genuine)
    tar, threshold = tar_at_far(scores, same, far)
    out = {f"tar_at_far_{far:g}": round(tar, 4), "threshold": round(threshold, 4)}
    g, im = np.asarray(genuine), np.asarray(impostor)
    for key, t in (operating or {}).items():
        out[key] = {"tar": round(float((g >= t).mean()), 4), "far": round(float((im >= t).mean()), 6)}
    out.update(genuine_pairs=len(genuine), impostor_pairs=len(impostor))
    return out
