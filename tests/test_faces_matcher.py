"""Matching by cosine over the whole gallery (one matrix product), on galleries large enough to take the shortlist
path: behaviour, checked against a plain reference, not time (`edgekit bench pipeline` measures time)."""

from __future__ import annotations

import numpy as np

from edge.faces.matcher import Matcher


def _unit(x):
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _reference(vectors, ids, queries):
    sims = queries @ vectors.T
    names = np.unique(ids)
    per = np.stack([sims[:, ids == n].max(1) for n in names], 1)
    return names[per.argmax(1)], per.max(1)


def _gallery(n_ids, per_id, d, seed=0):
    rng = np.random.default_rng(seed)
    centres = _unit(rng.normal(size=(n_ids, d)))
    vectors = _unit(np.repeat(centres, per_id, 0) + 0.05 * rng.normal(size=(n_ids * per_id, d)))
    ids = np.repeat(np.array([f"id{i:05d}" for i in range(n_ids)], object), per_id)
    order = rng.permutation(len(ids))  # identities' rows interleaved, as a real gallery may return them
    return centres, vectors[order], ids[order]


def test_small_gallery_matches_the_reference_exactly():
    centres, vectors, ids = _gallery(50, 3, 32)
    queries = _unit(centres[:20] + 0.05 * np.random.default_rng(1).normal(size=(20, 32)))
    m = Matcher(vectors, ids)
    names, scores = m.match(queries)
    ref_names, ref_scores = _reference(vectors, ids, queries)
    assert list(names) == list(ref_names) and np.allclose(scores, ref_scores, atol=1e-5)
    assert list(names) == [f"id{i:05d}" for i in range(20)]


def test_ten_thousand_identities_through_the_shortlist():
    """12,000 identities x 2 embeddings (over the shortlist threshold): every probe finds its identity and the score
    equals the exact best similarity over that identity's embeddings."""
    centres, vectors, ids = _gallery(12_000, 2, 64, seed=2)
    m = Matcher(vectors, ids)
    assert len(m) == 12_000 and m.centroids is not None
    probes = np.random.default_rng(3).choice(12_000, 200, replace=False)
    queries = _unit(centres[probes] + 0.05 * np.random.default_rng(4).normal(size=(200, 64)))
    names, scores = m.match(queries)
    ref_names, ref_scores = _reference(vectors, ids, queries)
    assert list(names) == list(ref_names) == [f"id{i:05d}" for i in probes]
    assert np.allclose(scores, ref_scores, atol=1e-5)


def test_a_stranger_scores_low_and_an_empty_gallery_matches_no_one():
    centres, vectors, ids = _gallery(3000, 1, 64, seed=5)
    stranger = _unit(np.random.default_rng(6).normal(size=(1, 64)))
    names, scores = Matcher(vectors, ids).match(stranger)
    assert scores[0] < 0.6
    empty = Matcher(np.zeros((0, 64), np.float32), np.zeros(0, object))
    names, scores = empty.match(stranger)
    assert names[0] is None and scores[0] == -1
