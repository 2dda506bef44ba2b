"""HAC kernels: exact path vs scipy, multi-round vs exact, cluster assignment,
eps selection, and input checks."""

import warnings

import numpy as np
import pytest
from scipy.spatial.distance import pdist
from scipy.spatial.distance import squareform
from sklearn.metrics import adjusted_rand_score

from al_jax.kernels import hac
from al_jax.kernels import knn
from third_party import hac_peers


def _mixture(n, d, n_centers, spread=3.0, seed=0):
  """[n, d] float32 Gaussian mixture: unit-variance blobs, random centres."""
  rng = np.random.default_rng(seed)
  centers = rng.normal(size=(n_centers, d)) * spread
  return (centers[rng.integers(0, n_centers, n)]
          + rng.normal(size=(n, d))).astype(np.float32)


def _scipy_cut(x, eps, metric='euclidean'):
  z = hac_peers.average_linkage(x, metric)
  return hac_peers.cut(z, eps), z


@pytest.mark.parametrize('n,d,seed,library', [
    (60, 2, 0, 'scipy'), (400, 8, 1, 'scipy'), (1500, 32, 2, 'scipy'),
    (400, 8, 1, 'fastcluster')])
def test_exact_equals_peer(n, d, seed, library):
  x = np.random.default_rng(seed).normal(size=(n, d))
  z = hac_peers.average_linkage(x, library=library)
  heights = np.sort(z[:, 2])
  for q in (0.05, 0.5, 0.9, 0.99):
    # Midway between two merge heights: no cut sits on a rounding boundary.
    i = int(q * (n - 2))
    eps = float(heights[i] + heights[i + 1]) / 2
    want = hac_peers.cut(z, eps)
    with warnings.catch_warnings():
      warnings.simplefilter('ignore')  # q=0.99 may leave one giant cluster.
      got = hac.hac_average(x, eps)
    np.testing.assert_array_equal(got, want)


def test_linkage_heights_equal_scipy():
  x = np.random.default_rng(3).normal(size=(700, 16))
  z = hac_peers.average_linkage(x)
  np.testing.assert_allclose(hac.average_linkage_heights(x), np.sort(z[:, 2]),
                             rtol=1e-12)


def test_distance_matrix_blocks_agree():
  x = np.random.default_rng(2).normal(size=(300, 7))
  whole = hac.exact._distance_matrix(x, block=1000)  # pylint: disable=protected-access
  blocked = hac.exact._distance_matrix(x, block=64)  # pylint: disable=protected-access
  np.testing.assert_array_equal(whole, blocked)
  off = ~np.eye(300, dtype=bool)
  np.testing.assert_allclose(whole[off], squareform(pdist(x))[off], rtol=1e-9)


def test_canonical_labels():
  np.testing.assert_array_equal(hac.canonical_labels([7, 7, 3, 9, 3]),
                                [0, 0, 1, 2, 1])


def test_multiround_complete_graph_is_exact_rms_linkage():
  # With every pair an edge, one round is exact HAC under the RMS linkage
  # sqrt(mean ||a - b||^2) = scipy 'average' on squared distances.
  x = np.random.default_rng(5).normal(size=(300, 6)).astype(np.float32)
  z = hac_peers.average_linkage(x, 'sqeuclidean')
  heights = np.sort(z[:, 2])
  for q in (0.2, 0.6, 0.9):
    i = int(q * 298)
    eps = float(np.sqrt((heights[i] + heights[i + 1]) / 2))
    want = hac_peers.cut(z, eps**2)
    got = hac.hac_multiround(x, eps, k=299, tau=np.inf, rounds=1)
    assert adjusted_rand_score(want, got) == 1.0


def test_multiround_close_to_exact():
  """2,000 points, 40 blobs in 32-d, eps for mean cluster size 10.

  Two gaps separate multi-round from Algorithm 1: (1) the k-NN graph and the
  rounds (measured vs exact HAC under the same RMS linkage: ARI 0.995) and
  (2) the RMS linkage vs the mean pairwise distance (Jensen gap, small in
  32-d: exact RMS vs exact mean HAC has ARI 0.977 here). Multi-round vs
  exact measures 0.975; the bounds leave a margin under both gaps.
  """
  x = _mixture(2000, 32, 40)
  eps = hac.eps_for_average_size(x, 10.0)
  exact = hac.hac_average(x, eps)
  rms, _ = _scipy_cut(x, eps**2, 'sqeuclidean')
  multi = hac.hac_multiround(x, eps, k=10)
  ari_exact = adjusted_rand_score(exact, multi)
  ari_rms = adjusted_rand_score(rms, multi)
  print(f'ARI multi-round vs exact {ari_exact:.4f}, vs exact RMS linkage '
        f'{ari_rms:.4f}; K = {exact.max() + 1} vs {multi.max() + 1}')
  assert ari_rms >= 0.97
  assert ari_exact >= 0.9


def test_assign_follows_eps_c():
  rng = np.random.default_rng(6)
  x = _mixture(1500, 8, 12, spread=6.0, seed=6)
  seed_mask = rng.random(1500) < 0.3
  eps, eps_c = 4.5, 3.2
  labels = hac.hac_assign(x, seed_mask, eps, eps_c)
  seed_labels = hac.hac_average(x[seed_mask], eps)
  centroids = np.stack([x[seed_mask][seed_labels == c].mean(0)
                        for c in range(seed_labels.max() + 1)])
  rest = np.flatnonzero(~seed_mask)
  d = np.linalg.norm(x[rest, None] - centroids[None], axis=-1)
  nearest, dmin = d.argmin(1), d.min(1)
  seed_rows = np.flatnonzero(seed_mask)
  # Seed clusters are unchanged up to relabeling.
  assert adjusted_rand_score(labels[seed_rows], seed_labels) == 1.0
  sizes = np.bincount(labels)
  for i, point in enumerate(rest):
    if dmin[i] <= eps_c:
      members = seed_rows[seed_labels == nearest[i]]
      assert labels[point] == labels[members[0]]
    else:
      assert sizes[labels[point]] == 1
  assert 0 < (dmin > eps_c).sum() < rest.size  # Both cases were exercised.


def test_eps_for_average_size_exact_reaches_target():
  x = _mixture(800, 16, 30, seed=7)
  for target in (1.25, 10.0):
    eps = hac.eps_for_average_size(x, target)
    with warnings.catch_warnings():
      warnings.simplefilter('ignore')
      labels = hac.hac_average(x, eps)
      smaller = hac.hac_average(x, np.nextafter(eps, 0))
    assert 800 / (labels.max() + 1) >= target
    assert 800 / (smaller.max() + 1) < target  # And it is the smallest eps.


def test_eps_for_average_size_multiround_and_eps_c():
  x = _mixture(1200, 16, 30, seed=8)
  eps = hac.eps_for_average_size(x, 10.0, method='multiround', k=10)
  labels = hac.hac_multiround(x, eps, k=10)
  assert 1200 / (labels.max() + 1) >= 10.0
  seed_mask = np.random.default_rng(8).random(1200) < 0.25
  eps_c = hac.eps_c_for_average_size(x, seed_mask, 7.0, 10.0)
  labels = hac.hac_assign(x, seed_mask, 7.0, eps_c)
  assert 1200 / (labels.max() + 1) >= 10.0
  # eps_c picked inside hac_assign, from the same seed clustering.
  np.testing.assert_array_equal(
      hac.hac_assign(x, seed_mask, 7.0, target=10.0), labels)
  with pytest.raises(ValueError, match='eps_c or a target'):
    hac.hac_assign(x, seed_mask, 7.0)


def test_giant_cluster_warns():
  x = _mixture(300, 4, 3, seed=9)
  with pytest.warns(UserWarning, match='One cluster holds.*histogram'):
    hac.hac_average(x, 1e6)
  with pytest.warns(UserWarning, match='One cluster holds'):
    hac.hac_multiround(x, 1e6, k=8)


@pytest.mark.parametrize('bad', [np.nan, np.inf])
def test_bad_embeddings_raise(bad):
  x = _mixture(50, 3, 2)
  x[7, 1] = bad
  with pytest.raises(ValueError, match='NaN/inf'):
    hac.hac_average(x, 1.0)
  with pytest.raises(ValueError, match='NaN/inf'):
    hac.hac_multiround(x, 1.0)
  with pytest.raises(ValueError, match='NaN/inf'):
    hac.hac_assign(x, np.arange(50) < 10, 1.0, 1.0)


@pytest.mark.parametrize('eps', [0.0, -1.0, np.nan])
def test_bad_eps_raises(eps):
  x = _mixture(50, 3, 2)
  with pytest.raises(ValueError, match='eps must be > 0'):
    hac.hac_average(x, eps)
  with pytest.raises(ValueError, match='eps must be > 0'):
    hac.hac_multiround(x, eps)
  with pytest.raises(ValueError, match='eps_c must be > 0'):
    hac.hac_assign(x, np.arange(50) < 10, 1.0, eps)
