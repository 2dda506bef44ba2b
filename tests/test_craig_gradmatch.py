"""CRAIG and GradMatch (paper 002 baselines): last-layer gradients == jax.grad,
CRAIG == facility location on brute-force distances per class, OMP ==
sklearn's (λ -> 0) and == a direct re-solve per step, budgets, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize
from sklearn.linear_model import OrthogonalMatchingPursuit

import al_jax
from al_jax.kernels import facility_location as fl
from al_jax.scores import gradients
from al_jax.strategies import combinators
from al_jax.strategies import gradmatch
from conftest import dense_cross_entropy


def _select(method, logits, z, y, budget, **options):
  return al_jax.select(method, budget, key=jax.random.key(0), logits=logits,
                       embeddings=z, labels=y, **options)


def _model_outputs(n=240, c=3, d=4, seed=0):
  """(logits [n, c], features [n, d], labels [n]) of a random Dense layer."""
  rng = np.random.default_rng(seed)
  z = rng.normal(size=(n, d)).astype(np.float32)
  w = rng.normal(size=(d, c)).astype(np.float32)
  y = rng.integers(0, c, n)
  return z @ w + 0.1, z, y


def test_last_layer_gradients_equal_jax_grad_of_a_dense_layer():
  n, d, c = 7, 5, 4
  apply, params, z, y, loss = dense_cross_entropy(n, d, c)
  grads = jax.vmap(jax.grad(loss), (None, 0, 0))(params, jnp.asarray(z), y)
  logits = apply(params, z)
  got = gradients.last_layer_gradients(logits, z, y)
  assert got.shape == (n, c * (d + 1)) and got.dtype == np.float32
  np.testing.assert_allclose(got[:, :c], grads['bias'], atol=1e-6)
  # Kernel [D, C] (in, out); the layout is (out, in) flattened.
  np.testing.assert_allclose(got[:, c:].reshape(n, c, d),
                             np.swapaxes(grads['kernel'], 1, 2), atol=1e-6)


def test_craig_is_facility_location_on_brute_force_gradient_distances():
  logits, z, y = _model_outputs()
  budget = 31
  got = _select('craig', logits, z, y, budget)
  classes, budgets, _ = combinators.class_budgets(y, budget)
  assert got.notes == () and len(got.indices) == budget == budgets.sum()
  start = 0
  for c, k in zip(classes, budgets):
    rows = np.flatnonzero(y == c)
    g = np.float64(gradients.last_layer_gradients(logits[rows], z[rows],
                                                  y[rows]))
    dist = np.sqrt(((g[:, None] - g[None]) ** 2).sum(-1))
    want = fl.facility_location_precomputed(dist.max() + 1e-3 - dist,
                                           int(k))
    part = slice(start, start + k)
    np.testing.assert_array_equal(got.indices[part], rows[want.indices])
    owner = np.argmin(dist[want.indices], axis=0)
    np.testing.assert_array_equal(got.weights[part],
                                  np.bincount(owner, minlength=k))
    assert got.weights[part].sum() == len(rows)
    start += k


def test_omp_without_sign_or_ridge_equals_sklearn():
  rng = np.random.default_rng(1)
  a = rng.normal(size=(40, 60))  # 40 candidates in 60 dimensions.
  b = a[[3, 17, 29, 33]].T @ rng.normal(size=4) + 0.3 * rng.normal(size=60)
  idx, w = gradmatch.omp(a, b, 8, lam=1e-10, positive=False)
  ref = OrthogonalMatchingPursuit(n_nonzero_coefs=8, fit_intercept=False)
  coef = ref.fit(a.T, b).coef_
  np.testing.assert_array_equal(np.sort(idx), np.flatnonzero(coef))
  np.testing.assert_allclose(w, coef[idx], rtol=1e-7, atol=1e-9)


def _omp_reference(a, b, k, lam):
  """DeepCore's OMP with λ at every step, solved directly at every step."""
  picks, r = [], b
  for _ in range(k):
    p = a @ r
    p[picks] = -np.inf
    picks.append(int(np.argmax(p)))
    s = a[picks]
    x = np.linalg.solve(s @ s.T + lam * np.eye(len(picks)), s @ b)
    r = b - s.T @ x
  s = a[picks]
  return np.array(picks), optimize.nnls(s @ s.T + lam * np.eye(k), s @ b)[0]


@pytest.mark.parametrize('lam', [1.0, 0.01])
def test_positive_omp_equals_a_direct_solve_per_step(lam):
  rng = np.random.default_rng(2)
  a = rng.normal(size=(80, 50)) * 0.3
  b = a.mean(0) + 0.05 * rng.normal(size=50)
  idx, w = gradmatch.omp(a, b, 30, lam=lam)
  want_idx, want_w = _omp_reference(a, b, 30, lam)
  np.testing.assert_array_equal(idx, want_idx)
  np.testing.assert_allclose(w, want_w, rtol=1e-6, atol=1e-9)
  assert (w >= 0).all() and (w > 0).any() and idx.dtype == np.int64


def test_omp_fills_the_budget_when_the_residual_vanishes():
  rng = np.random.default_rng(3)
  a = rng.normal(size=(10, 3))
  b = rng.normal(size=3)
  idx, w = gradmatch.omp(a, b, 6, lam=0., positive=False)
  assert len(np.unique(idx)) == 6 and (w[3:] == 0).all() and (w[:3] != 0).all()
  # Three picks span R³; the rest: largest |a_i·b| among the unpicked.
  rest = [i for i in np.argsort(-np.abs(a @ b)) if i not in idx[:3]][:3]
  np.testing.assert_array_equal(idx[3:], rest)
  idx, w = gradmatch.omp(a, np.zeros(3), 4)  # b = 0: nothing to fit.
  np.testing.assert_array_equal(idx, [0, 1, 2, 3])
  assert (w == 0).all()


def test_gradmatch_select_spends_the_budget_per_class():
  logits, z, y = _model_outputs(seed=4)
  sel = _select('gradmatch', logits, z, y, 50)
  idx, w, notes = sel.indices, sel.weights, sel.notes
  classes, budgets, _ = combinators.class_budgets(y, 50)
  assert idx.dtype == np.int64 and w.dtype == np.float32 and notes == ()
  assert len(np.unique(idx)) == 50
  np.testing.assert_array_equal(np.bincount(y[idx], minlength=3), budgets)
  assert (w >= 0).all()
  start = 0
  for c, k in zip(classes, budgets):  # == OMP on the gradients themselves.
    rows = np.flatnonzero(y == c)
    g = gradients.last_layer_gradients(logits[rows], z[rows], y[rows])
    want_idx, want_w = gradmatch.omp(g, g.mean(0, dtype=np.float64), k)
    np.testing.assert_array_equal(idx[start:start + k], rows[want_idx])
    np.testing.assert_allclose(w[start:start + k], want_w * len(rows),
                               rtol=1e-4, atol=1e-6)
    start += k
  # λ = 0 and class 0 all one example: one pick fits its mean exactly (the
  # others' gradients have rank (C - 1)·(D + 1) = 10 > their budgets).
  logits[y == 0], z[y == 0] = logits[y == 0][0], z[y == 0][0]
  sel = _select('gradmatch', logits, z, y, 20, lam=0.)
  idx, w, notes = sel.indices, sel.weights, sel.notes
  k0 = combinators.class_budgets(y, 20)[1][0]
  assert len(np.unique(idx)) == 20 and len(notes) == 1
  assert notes[0].startswith(f'class 0: OMP stopped after 1 of {k0} picks')
  n0 = np.sum(y == 0)  # Weight 1 on the mean: n0 on the class's sum.
  np.testing.assert_allclose(w[:k0], [n0] + [0.] * (k0 - 1), rtol=1e-6)


@pytest.mark.parametrize('method', ['craig', 'gradmatch'])
def test_bad_input_is_named(method):
  def select(*args):
    return _select(method, *args)
  logits, z, y = _model_outputs(n=60)
  logits[5, 1] = np.nan
  with pytest.raises(ValueError, match=r'non-finite logits.*\[5\]'):
    select(logits, z, y, 10)
  logits[5, 1] = 0.
  with pytest.raises(ValueError, match='labels'):
    select(logits, z, y + 1, 10)
  with pytest.raises(ValueError, match='budget'):
    select(logits, z, y, 61)
