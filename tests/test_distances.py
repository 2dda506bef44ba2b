"""Distances, blocked minimum distances and exact k-NN vs brute force."""

import jax
import numpy as np
import pytest

from al_jax.kernels import distances


def _brute_sq(x, y):
  x, y = np.float64(x), np.float64(y)
  return ((x[:, None, :] - y[None, :, :])**2).sum(-1)


def _points(n, d, seed=0):
  return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def test_sq_distances_match_brute_force():
  x, y = _points(37, 6, 0), _points(23, 6, 1)
  got = np.asarray(jax.jit(distances.sq_distances)(x, y))
  np.testing.assert_allclose(got, _brute_sq(x, y), rtol=1e-5, atol=1e-5)
  assert got.shape == (37, 23) and (got >= 0).all()
  # Self distances are clamped at 0, never negative.
  assert (np.diag(np.asarray(distances.sq_distances(x, x))) >= 0).all()


def test_distance_to_point_matches_brute_force():
  x = _points(50, 7)
  got = distances.sq_distance_to_point(x, distances.sq_norms(x), x[3])
  np.testing.assert_allclose(got, _brute_sq(x, x[3:4])[:, 0], rtol=1e-5,
                             atol=1e-5)


def test_outer_distances_equal_materialized_kron():
  rng = np.random.default_rng(2)
  a, b = rng.standard_normal((19, 4)), rng.standard_normal((11, 4))
  z, w = rng.standard_normal((19, 5)), rng.standard_normal((11, 5))
  a, b, z, w = (v.astype(np.float32) for v in (a, b, z, w))
  gx = np.stack([np.kron(a[i], z[i]) for i in range(len(a))])
  gy = np.stack([np.kron(b[i], w[i]) for i in range(len(b))])
  want = _brute_sq(gx, gy)
  got = distances.outer_sq_distances(a, z, b, w)
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
  one = distances.outer_sq_distance_to_point(
      a, z, distances.sq_norms(a) * distances.sq_norms(z), b[2], w[2])
  np.testing.assert_allclose(one, want[:, 2], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('n,k,block', [(37, 23, 8), (37, 5, 64), (9, 40, 7)])
def test_min_sq_distance_blocked(n, k, block):
  x, c = _points(n, 4, 3), _points(k, 4, 4)
  mask = np.arange(k) % 3 != 1
  f = jax.jit(distances.min_sq_distance_to, static_argnums=2)
  np.testing.assert_allclose(
      f(x, c, block, mask), _brute_sq(x, c[mask]).min(1), rtol=1e-5,
      atol=1e-5)
  np.testing.assert_allclose(f(x, c, block), _brute_sq(x, c).min(1),
                             rtol=1e-5, atol=1e-5)


def test_min_sq_distance_without_centers_is_inf():
  got = distances.min_sq_distance_to(_points(5, 3), np.zeros((0, 3),
                                                             np.float32))
  assert np.isinf(np.asarray(got)).all()


