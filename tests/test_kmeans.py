"""Lloyd k-means, the (k, z) cost, snapping and nearest points, against
float64 numpy references and scikit-learn; 8 devices give what 1 gives."""

import jax
import numpy as np
import pytest
from conftest import same_on_eight_devices
from sklearn import cluster

from al_jax.kernels import kmeans, knn


def _blobs(n=600, d=5, centres=4, seed=0):
  rng = np.random.default_rng(seed)
  return (rng.normal(size=(n, d)) +
          3 * rng.integers(0, centres, (n, 1))).astype(np.float32)


def _lloyd64(x, centres, iterations):
  """Textbook Lloyd in float64; empty clusters keep their centre."""
  x, c = np.float64(x), np.float64(centres)
  for _ in range(iterations):
    labels = ((x[:, None] - c[None])**2).sum(-1).argmin(1)
    c = np.array([x[labels == j].mean(0) if (labels == j).any() else c[j]
                  for j in range(len(c))])
  d = ((x[:, None] - c[None])**2).sum(-1)
  return c, d.argmin(1), d


def test_lloyd_matches_float64_reference_and_sklearn():
  x = _blobs()
  init = x[[0, 5, 9, 200, 400, 599, 33]]
  got = kmeans.lloyd(x, init, iterations=25, tol=0)
  c, labels, d = _lloyd64(x, init, 25)
  top2 = np.sort(d, 1)[:, :2]
  near_tie = (top2[:, 1] - top2[:, 0]) < 1e-6 * top2[:, 1]
  assert np.all((got.labels == labels) | near_tie)
  np.testing.assert_allclose(got.centres, c, atol=1e-4)
  np.testing.assert_allclose(got.inertia, d.min(1).sum(), rtol=1e-5)
  assert got.iterations <= 25  # Stops early only at a fixed point.
  peer = cluster.KMeans(7, init=init, n_init=1, max_iter=25, tol=0,
                        algorithm='lloyd').fit(x)
  np.testing.assert_allclose(got.inertia, peer.inertia_, rtol=1e-5)


def test_kmeans_inits_and_tolerance():
  x = _blobs()
  for init in ('kmeans++', 'random'):
    got = kmeans.kmeans(x, 4, jax.random.key(0), init=init)
    assert got.iterations < 300  # Converged under scikit-learn's tol.
    assert got.labels.shape == (600,) and set(got.labels) <= set(range(4))
    assert got.inertia == pytest.approx(kmeans.cost(x, got.centres), rel=1e-5)
  rows = kmeans.initial_indices(x, 50, jax.random.key(1), 'random')
  assert len(set(rows.tolist())) == 50
  same = kmeans.kmeans(x, 4, jax.random.key(0))
  np.testing.assert_array_equal(same.labels, kmeans.kmeans(
      x, 4, jax.random.key(0)).labels)


def test_empty_cluster_keeps_its_centre():
  x = _blobs(n=50)
  init = np.concatenate([x[:2], np.full((1, 5), 1e3, np.float32)])
  got = kmeans.lloyd(x, init, iterations=5, tol=0)
  np.testing.assert_array_equal(got.centres[2], init[2])
  assert not (got.labels == 2).any()


@pytest.mark.parametrize('z', [1., 2.])
def test_cost_is_phi_z(z):
  x = _blobs(n=300)
  c = x[:6] + 0.5
  d = np.sqrt(((np.float64(x)[:, None] - c[None])**2).sum(-1)).min(1)
  assert kmeans.cost(x, c, z) == pytest.approx(np.sum(d**z), rel=1e-5)


def test_nearest_points_brute_force():
  x = _blobs(n=700, d=3)
  q = _blobs(n=9, d=3, seed=1)
  dist, idx = knn.nearest_points(q, x, 4)
  d = np.sqrt(((np.float64(q)[:, None] - x[None])**2).sum(-1))
  np.testing.assert_array_equal(idx, np.argsort(d, 1, kind='stable')[:, :4])
  # Norm expansion in float32: absolute error ~ sqrt(eps * |x|^2).
  np.testing.assert_allclose(dist, np.sort(d, 1)[:, :4], atol=1e-3)


def test_snap_takes_the_nearest_unused_point():
  x = np.array([[0, 0], [0, 0], [0, 0], [5, 5], [9, 9]], np.float32)
  centres = np.array([[.1, 0], [0, .1], [0, 0], [0, 0], [5, 4]], np.float32)
  # Four centres on the three copies of (0, 0): the fourth takes the next
  # nearest point, (5, 5), so the last centre takes (9, 9).
  np.testing.assert_array_equal(kmeans.snap(x, centres, neighbours=2),
                                [0, 1, 2, 3, 4])
  mask = np.array([False, True, True, True, True])
  np.testing.assert_array_equal(kmeans.snap(x, centres[:2], mask), [1, 2])
  with pytest.raises(ValueError, match='distinct points'):
    kmeans.snap(x, np.zeros((6, 2)))


def test_bad_input():
  x = _blobs(n=20)
  with pytest.raises(ValueError, match='k=21'):
    kmeans.kmeans(x, 21, jax.random.key(0))
  with pytest.raises(ValueError, match='Unknown k-means init'):
    kmeans.kmeans(x, 2, jax.random.key(0), init='kmeans||')
  with pytest.raises(ValueError, match='init has shape'):
    kmeans.kmeans(x, 2, jax.random.key(0), init=x[:3])
  x[3, 1] = np.nan
  with pytest.raises(ValueError, match='NaN'):
    kmeans.kmeans(x, 2, jax.random.key(0))


_PICKS = '''
import numpy as np
import jax
from al_jax.kernels import kmeans

def picks(mesh):
  rng = np.random.default_rng(0)
  x = (rng.normal(size=(1003, 5)) +
       2 * rng.integers(0, 4, (1003, 1))).astype(np.float32)
  got = kmeans.kmeans(x, 7, jax.random.key(1), iterations=50, mesh=mesh)
  return [got.labels.tolist(), got.centres.tolist(), got.inertia,
          got.iterations]
'''


def test_same_on_eight_devices():
  many, one = same_on_eight_devices(_PICKS)
  assert many == one  # Bit-identical centres, labels and inertia.
