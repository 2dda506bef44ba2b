"""Leverage scores, weighted least squares and paper 001's regression sampler."""

import math

import jax
import numpy as np
import pytest
import scipy.linalg

from al_jax import regression
from al_jax.kernels import kmedoids
from al_jax.kernels import leverage


def _design(n=60, d=3, seed=0):
  # n, d and K = 5 as in test_kmedoids: the k-medoids program compiles once.
  rng = np.random.default_rng(seed)
  a = rng.normal(size=(n, d)) * rng.uniform(0.5, 3, size=(n, 1))
  b = a @ rng.normal(size=d) + rng.normal(size=n)
  return a, b


def _brute_leverage(a):
  return np.diag(a @ np.linalg.pinv(a))


@pytest.mark.parametrize('rank_deficient', [False, True])
def test_leverage_sums_to_rank(rank_deficient):
  a, _ = _design(n=40, d=6)
  if rank_deficient:  # Rank 3: two dependent columns and a zero column.
    a = np.concatenate([a[:, :3], a[:, :2] @ [[1, 2], [3, -1]],
                        np.zeros((40, 1))], axis=1)
  scores = leverage.leverage_scores(a)
  rank = np.linalg.matrix_rank(a)
  assert rank == (3 if rank_deficient else 6)
  np.testing.assert_allclose(scores.sum(), rank, rtol=1e-12)
  np.testing.assert_allclose(scores, _brute_leverage(a), atol=1e-12)
  assert np.all(scores >= 0) and np.all(scores <= 1 + 1e-12)


def test_weighted_least_squares_is_lstsq_on_scaled_rows():
  a, b = _design()
  w = np.random.default_rng(1).uniform(0, 3, len(b))
  w[:5] = 0
  got = leverage.weighted_least_squares(a, b, w)
  want = np.linalg.lstsq(a * np.sqrt(w)[:, None], b * np.sqrt(w), rcond=None)[0]
  np.testing.assert_allclose(got, want, rtol=1e-12)
  # Normal equations as a second opinion (well conditioned here).
  np.testing.assert_allclose(
      got, np.linalg.solve(a.T @ (w[:, None] * a), a.T @ (w * b)), rtol=1e-9)


def test_every_row_once_with_uniform_weights_gives_the_full_solution():
  """A design on which all three samplers are uniform: Hadamard columns give
  every row leverage d/n; with K = N every row is its own medoid, x0 is the
  full fit and v_i its residual², made constant by a residual ±c along a
  Hadamard column outside A. Drawing every row once then weighs each by 1."""
  n, d = 16, 4
  h = scipy.linalg.hadamard(n).astype(np.float64)
  a = h[:, 1:d + 1]
  b = a @ np.array([1.0, -2.0, 0.5, 3.0]) + 0.7 * h[:, d + 3]
  full = np.linalg.lstsq(a, b, rcond=None)[0]
  own = kmedoids.KMedoidsResult(np.arange(n), np.arange(n), 0.0, 0, 0)
  ours = regression.sensitivity_probs(a, own, zeta=1.0, b_at_medoids=b)
  np.testing.assert_allclose(ours.x0, full, rtol=1e-12)
  every_row = np.arange(n)
  for p in [regression.uniform_probs(n), regression.leverage_probs(a),
            ours.probs]:
    np.testing.assert_allclose(p, 1 / n, rtol=1e-12)
    w = regression.importance_weights(p, every_row)
    np.testing.assert_allclose(w, 1, rtol=1e-12)
    x = regression.fit_sample(a, b, regression.Sample(every_row, w))
    np.testing.assert_allclose(x, full, rtol=1e-10)
    np.testing.assert_allclose(regression.one_minus_r2(a, b, x),
                               np.sum((a @ full - b)**2) / np.var(b) / n)


def test_algorithm2_probabilities_and_sample_weights():
  a, b = _design()
  clustering = kmedoids.kmedoids(a, 5, jax.random.key(0))
  ours = regression.sensitivity_probs(a, clustering)  # ζ = inf.
  assert ours.x0 is None
  np.testing.assert_allclose(ours.probs.sum(), 1, rtol=1e-12)
  assert np.all(ours.probs[clustering.medoids] == 0)  # Pitfall 1.7 item 8.
  np.testing.assert_allclose(ours.distance.sum(), clustering.cost, rtol=1e-9)
  # Intercept column: same distances, so the same probabilities.
  same = regression.sensitivity_probs(regression.with_intercept(a), clustering)
  np.testing.assert_allclose(same.probs, ours.probs, rtol=1e-12)
  # Finite ζ: x0 is the size-weighted medoid fit, v constant per cluster.
  b_med = b[clustering.medoids]
  zeta = 2.0
  fin = regression.sensitivity_probs(a, clustering, zeta=zeta,
                                     b_at_medoids=b_med)
  sizes = np.bincount(clustering.labels)
  hat = a[clustering.medoids[clustering.labels]]
  np.testing.assert_allclose(
      fin.x0, np.linalg.lstsq(np.repeat(a[clustering.medoids], sizes, 0),
                              np.repeat(b_med, sizes), rcond=None)[0],
      rtol=1e-9)
  terms = zeta * np.linalg.norm(a - hat, axis=1) + (
      hat @ fin.x0 - b[clustering.medoids[clustering.labels]])**2
  np.testing.assert_allclose(fin.probs, terms / terms.sum(), rtol=1e-12)
  for p in [ours.probs, fin.probs, regression.leverage_probs(a),
            regression.uniform_probs(len(b))]:
    np.testing.assert_allclose(p.sum(), 1, rtol=1e-12)
    drawn = regression.sample(p, 37, jax.random.key(1))
    assert drawn.indices.shape == (37,) and np.all(p[drawn.indices] > 0)
    np.testing.assert_allclose(37 * p[drawn.indices] * drawn.weights, 1,
                               rtol=1e-12)
  # The sampler with int K clusters with k-medoids itself, same key → same p.
  np.testing.assert_array_equal(
      regression.sensitivity_probs(a, 5, key=jax.random.key(0)).probs,
      ours.probs)


def test_sampled_loss_is_unbiased_where_p_is_positive():
  a, b = _design()
  x = np.linalg.lstsq(a, b, rcond=None)[0] + 0.3
  loss = (a @ x - b)**2
  p = regression.leverage_probs(a)
  # 2,000 independent samples of s = 20 draws each, from one call.
  s = 20
  drawn = regression.sample(p, 2000 * s, jax.random.key(4)).indices
  groups = drawn.reshape(2000, s)
  est = np.sum(loss[groups] / (s * p[groups]), axis=1)
  assert abs(est.mean() - loss.sum()) < 4 * est.std() / math.sqrt(len(est))
  # Empirical frequencies follow p (float64 inverse CDF).
  drawn = regression.sample(p, 200_000, jax.random.key(5)).indices
  freq = np.bincount(drawn, minlength=len(p)) / drawn.size
  assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / drawn.size))


def test_bad_inputs_raise():
  a, b = _design()
  with pytest.raises(ValueError, match='sum to 1'):
    regression.sample(np.full(4, 0.3), 3, jax.random.key(0))
  with pytest.raises(ValueError, match='positive integer'):
    regression.sample(regression.uniform_probs(4), 0, jax.random.key(0))
  with pytest.raises(ValueError, match='positive integer'):
    regression.uniform_probs(0)
  with pytest.raises(ValueError, match='p = 0'):
    regression.importance_weights(np.array([0.0, 1.0]), [0, 1])
  own = kmedoids.KMedoidsResult(np.arange(60), np.arange(60), 0.0, 0, 0)
  with pytest.raises(ValueError, match='Every sensitivity is 0'):
    regression.sensitivity_probs(a, own)
  with pytest.raises(ValueError, match='b_at_medoids'):
    regression.sensitivity_probs(a, own, zeta=1.0)
  with pytest.raises(ValueError, match='zeta'):
    regression.sensitivity_probs(a, own, zeta=-1.0)
  with pytest.raises(ValueError, match='labels'):
    regression.sensitivity_probs(a[:10], own)
  with pytest.raises(ValueError, match='PRNG'):
    regression.sensitivity_probs(a, 5)
  with pytest.raises(ValueError, match='NaN'):
    leverage.leverage_scores(np.where(a > 2, np.inf, a))
  with pytest.raises(ValueError, match='>= 0'):
    leverage.weighted_least_squares(a, b, -np.ones(len(b)))
  with pytest.raises(ValueError, match='constant'):
    regression.one_minus_r2(a, np.ones(len(b)), np.zeros(3))
