"""Exact k-NN graphs and nearest centroids (kernels/knn.py)."""

import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from al_jax.kernels import knn
from conftest import same_on_eight_devices


@pytest.mark.parametrize('n, k', [(157, 5), (40, 39), (5000, 12)])
def test_knn_matches_sklearn(n, k):
  x = np.random.default_rng(n).normal(size=(n, 8)).astype(np.float32)
  dist, idx = knn.knn(x, k)
  ref_d, ref_i = NearestNeighbors(n_neighbors=k + 1, algorithm='brute').fit(
      np.float64(x)).kneighbors(np.float64(x))
  np.testing.assert_array_equal(idx, ref_i[:, 1:])  # Column 0 is self.
  np.testing.assert_allclose(dist, ref_d[:, 1:], rtol=1e-4, atol=1e-4)


def test_knn_reuses_compilation():
  x = np.random.default_rng(10).normal(size=(700, 8)).astype(np.float32)
  knn.knn(x, 5)
  traces = knn.block_search._cache_size()  # pylint: disable=protected-access
  knn.knn(x[::-1].copy(), 5)
  assert knn.block_search._cache_size() == traces  # pylint: disable=protected-access


def test_nearest_centroid_matches_brute_force():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(3000, 16)).astype(np.float32)
  cent = rng.normal(size=(37, 16)).astype(np.float32)
  dist, idx = knn.nearest_centroid(x, cent)
  brute = np.sqrt(((x[:, None].astype(np.float64) - cent[None]) ** 2).sum(-1))
  np.testing.assert_array_equal(idx, brute.argmin(1))
  np.testing.assert_allclose(dist, brute.min(1), rtol=1e-4, atol=1e-4)


def test_eight_devices_give_the_same_neighbours():
  script = '''
import numpy as np
from al_jax.kernels import knn
def picks(mesh):
  rng = np.random.default_rng(1)
  x = rng.normal(size=(1000, 6)).astype(np.float32)
  dist, idx = knn.knn(x, 7, mesh)
  cd, ci = knn.nearest_centroid(x, x[:50], mesh)
  return [idx.tolist(), dist.round(5).tolist(), ci.tolist(), cd.round(5).tolist()]
'''
  many, one = same_on_eight_devices(script)
  assert many == one


def test_nearest_centroid_across_tiles_ties_to_the_lower_index():
  rng = np.random.default_rng(3)
  cent = rng.normal(size=(5000, 8)).astype(np.float32)  # 3 tiles of 2048.
  cent[4100] = cent[10]  # A duplicate in a later tile.
  x = np.concatenate([cent[[10, 4999, 2048]],
                      rng.normal(size=(500, 8)).astype(np.float32)])
  dist, idx = knn.nearest_centroid(x, cent)
  np.testing.assert_array_equal(idx[:3], [10, 4999, 2048])
  brute = ((x[:, None].astype(np.float64) - cent[None]) ** 2).sum(-1)
  np.testing.assert_array_equal(idx[3:], brute[3:].argmin(1))
  np.testing.assert_allclose(dist[3:], np.sqrt(brute[3:].min(1)), rtol=1e-4)


@pytest.mark.parametrize('k, tile', [(1, 8192), (6, 8192), (13, 8192),
                                     (6, 1024)])
def test_knn_ties_go_to_the_lower_row_like_brute_force(k, tile, monkeypatch):
  # A shuffled integer lattice: many exactly equal distances (float32 sums of
  # small integers are exact), so every level of the kernel's selection meets
  # ties; a shuffled copy of 300 rows adds zero distances. Tiles of 1,024
  # rows: 3 tiles, the last one padded.
  monkeypatch.setattr(knn, '_TILE', tile)
  rng = np.random.default_rng(k)
  grid = np.stack(np.meshgrid(np.arange(48), np.arange(48)), -1).reshape(-1, 2)
  x = np.concatenate([grid, grid[rng.choice(len(grid), 300, replace=False)]])
  x = x[rng.permutation(len(x))].astype(np.float32)
  dist, idx = knn.knn(x, k)
  d2 = ((x[:, None] - x[None]) ** 2).sum(-1)
  np.fill_diagonal(d2, np.inf)
  brute = np.lexsort((np.broadcast_to(np.arange(len(x)), d2.shape), d2),
                     axis=1)[:, :k]
  np.testing.assert_array_equal(idx, brute)
  np.testing.assert_allclose(dist, np.sqrt(np.take_along_axis(d2, brute, 1)),
                             rtol=1e-6)
