"""Approximate k-NN by probing lists (kernels/knn_probe.py)."""

import numpy as np

from al_jax.kernels import knn
from al_jax.kernels import knn_probe


def _blobs(n, d, blobs, seed=0):
  rng = np.random.default_rng(seed)
  centres = rng.normal(size=(blobs, d)) * 4
  return (centres[rng.integers(0, blobs, n)]
          + rng.normal(size=(n, d))).astype(np.float32)


def test_probing_every_list_is_the_exact_graph():
  # 3 lists, all probed: the order, the own-row numbering and the mapping
  # back to pool rows must reproduce the exact graph.
  x = _blobs(3000, 8, 20)
  dist, idx = knn_probe.knn_probe(x, 7, probe=5, list_rows=1024)
  ref_d, ref_i = knn.knn(x, 7)
  np.testing.assert_array_equal(idx, ref_i)
  np.testing.assert_allclose(dist, ref_d, rtol=1e-4, atol=1e-4)


def test_few_probes_find_most_neighbours_with_exact_distances():
  x = _blobs(12_000, 16, 60, seed=1)
  k = 10
  dist, idx = knn_probe.knn_probe(x, k, probe=2, list_rows=1024)
  ref_d, ref_i = knn.knn(x, k)
  recall = np.mean([len(np.intersect1d(a, b)) / k for a, b in zip(idx, ref_i)])
  assert 0.9 < recall < 1.0  # Approximate, and good on clustered data.
  assert not (idx == np.arange(len(x))[:, None]).any()
  assert (np.diff(dist, axis=1) >= 0).all()
  exact = np.sqrt(((x[:, None] - x[idx]) ** 2).sum(-1, dtype=np.float64))
  np.testing.assert_allclose(dist, exact, rtol=1e-4, atol=1e-4)
  # Never nearer than the true k-th neighbour allows.
  assert (dist >= ref_d - 1e-4).all()
