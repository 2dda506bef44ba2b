"""Adacore and LCMat (paper 002 baselines): the last-layer Hessian diagonal ==
jax.hessian, each method's picks (and Adacore's weights) == a direct numpy
transcription of its reference selection step (SJShin-AI/LCMat,
deepcore/methods/submodular.py, kernels 'adacore' and 'worst', with
FacilityLocation and NaiveGreedy), bad input, determinism."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import al_jax
from al_jax.scores import curvature
from al_jax.scores import gradients
from al_jax.strategies import combinators
from conftest import dense_cross_entropy

B = 128  # The reference scripts' selection batch: its g and h are / B.


def _select(method, logits, z, y, budget, key=0, **options):
  return al_jax.select(method, budget, key=jax.random.key(key), logits=logits,
                       embeddings=z, labels=y, **options)


def _model_outputs(n=60, c=3, d=4, seed=0, scale=1.):
  """(logits [n, c], features [n, d], labels [n]) of a random Dense layer;
  features >= 1.5 (post-ReLU, away from 0, where 1/z stays small)."""
  rng = np.random.default_rng(seed)
  z = (1.5 + np.abs(rng.normal(size=(n, d)))).astype(np.float32)
  w = rng.normal(size=(d, c)).astype(np.float32) * scale
  return z @ w, z, rng.integers(0, c, n)


def _reference_inputs(logits, z, y):
  """Per-example last-layer gradient and Hessian diagonal of the batch-mean
  loss (BackPACK's BatchGrad, BatchDiagHessian), float64, [bias, W (out,
  in)] as the reference concatenates them."""
  logits, z = np.float64(logits), np.float64(z)
  p = np.exp(logits - logits.max(1, keepdims=True))
  p /= p.sum(1, keepdims=True)
  e = p - np.eye(p.shape[1])[y]
  a = p * (1 - p)
  g = np.concatenate([e, (e[:, :, None] * z[:, None]).reshape(len(z), -1)], 1)
  h = np.concatenate([a, (a[:, :, None] * z[:, None] ** 2).reshape(len(z),
                                                                    -1)], 1)
  return g / B, h / B


def _l2_norm_np(v):
  """The reference's pairwise distance, NaN set to 0."""
  sq = (v * v).sum(1)
  with np.errstate(invalid='ignore'):
    d = np.sqrt(sq[:, None] + sq[None] - 2 * v @ v.T)
  d[np.isnan(d)] = 0
  return d


def _naive_greedy(sim, budget):
  """FacilityLocation gains under NaiveGreedy; picks as the reference
  returns them (a mask: index order)."""
  n = len(sim)
  cur, selected, gain = np.zeros(n), np.zeros(n, bool), np.zeros(n)
  for _ in range(budget):
    gain[~selected] = np.maximum(0., sim[:, ~selected] - cur[:, None]).sum(0)
    j = int(gain.argmax())
    selected[j], gain[j] = True, -np.inf
    cur = np.maximum(cur, sim[:, j])
  return np.flatnonzero(selected)


def _reference_lcmat(g, h, budget, eps, k):
  pick = np.argsort(np.var(h, axis=0))[::-1][:k]  # hessian_pick_var
  hr = h[:, pick]
  sim = 10 - _l2_norm_np(g) - eps * np.abs(hr[:, None] - hr[None]).sum(-1)
  assert sim.min() > 0  # The premise: no Sim is clipped.
  return _naive_greedy(sim, budget)


def _reference_adacore(g, h, budget):
  """Picks, and AdaCore's weights γ_j = points whose nearest pick is j."""
  sim = 10 - _l2_norm_np(g * np.reciprocal(h))
  assert sim.min() > 0, sim.min()  # The premise: no Sim is clipped.
  picks = _naive_greedy(sim, budget)
  return picks, np.bincount(sim[:, picks].argmax(1), minlength=budget)


def _per_class(y, budget):
  classes, budgets, _ = combinators.class_budgets(y, budget)
  start = 0
  for c, k in zip(classes, budgets):
    yield np.flatnonzero(y == c), slice(start, start + k), int(k)
    start += k


def test_hessian_diagonal_equals_jax_hessian_of_a_dense_layer():
  n, d, c = 5, 3, 4
  apply, params, z, y, loss = dense_cross_entropy(n, d, c)
  hess = jax.vmap(jax.hessian(loss), (None, 0, 0))(params, jnp.asarray(z), y)
  got = curvature.hessian_diagonal(apply(params, z), z)
  assert got.shape == (n, c * (d + 1)) and got.dtype == np.float32
  hb = hess['bias']['bias']  # [n, C, C]
  np.testing.assert_allclose(got[:, :c], np.diagonal(hb, axis1=1, axis2=2),
                             atol=1e-6)
  hk = hess['kernel']['kernel'].reshape(n, d * c, d * c)  # (in, out) pairs.
  diag = np.diagonal(hk, axis1=1, axis2=2).reshape(n, d, c)
  np.testing.assert_allclose(got[:, c:].reshape(n, c, d),
                             np.swapaxes(diag, 1, 2), atol=1e-6)


def test_preconditioned_gradients_are_g_over_h():
  logits, z, y = _model_outputs(n=20)
  z[3, 1] = 0.  # A dead ReLU unit: g = h = 0 there.
  g = gradients.last_layer_gradients(logits, z, y).astype(np.float64)
  h = curvature.hessian_diagonal(logits, z).astype(np.float64)
  u = curvature.preconditioned_gradients(logits, z, y)
  live = h > 0
  np.testing.assert_allclose(u[live], (g / np.where(live, h, 1))[live],
                             rtol=1e-4)
  assert (u[~live] == 0).all() and (~live).sum() == 3  # C columns of z_31.
  np.testing.assert_allclose(
      curvature.preconditioned_gradients(logits, z, y, damping=0.5),
      g / (h + 0.5), rtol=1e-4, atol=1e-7)
  # A probability that rounds to 0 or 1 (float64) takes the closed form.
  big = np.array([[0., 800., -800.]], np.float32)
  u = curvature.preconditioned_gradients(big, np.ones((1, 1)), [1])
  np.testing.assert_allclose(u[0, :3], [1., -1., 1.])
  with pytest.raises(ValueError, match='overflows.*damping > 0'):
    curvature.preconditioned_gradients(big, np.ones((1, 1)), [2])


def test_adacore_equals_the_reference_selection_step():
  # Seed 6: every greedy step's best gain, and every point's nearest pick,
  # leads the runner-up by >= 9e-4 (relative, float64), so float32 rounding
  # cannot reorder them. Seed 0 has an exact tie (class 0, 4th pick) that
  # float32 broke one way on one CPU and the other way on another.
  logits, z, y = _model_outputs(scale=0.1, seed=6)
  budget = 13
  got = _select('adacore', logits, z, y, budget)
  assert got.notes == () and got.weights.dtype == np.float32
  for rows, part, k in _per_class(y, budget):
    want, weights = _reference_adacore(*_reference_inputs(
        logits[rows], z[rows], y[rows]), k)
    order = np.argsort(got.indices[part])
    np.testing.assert_array_equal(got.indices[part][order], rows[want])
    np.testing.assert_array_equal(got.weights[part][order], weights)
    assert got.weights[part].sum() == len(rows)
  # The reference trains its picks unweighted: paper 002's pipeline.
  plain = _select('adacore', logits, z, y, budget, weighted=False)
  assert plain.weights is None
  np.testing.assert_array_equal(plain.indices, got.indices)


@pytest.mark.parametrize('eps, dims', [(0.01, 100), (3., 5)])
def test_lcmat_equals_the_reference_selection_step(eps, dims):
  logits, z, y = _model_outputs(seed=3)
  budget = 13
  got = _select('lcmat', logits, z, y, budget, eps=eps, curvature_dims=dims)
  assert got.weights is None and got.notes == ()
  for rows, part, k in _per_class(y, budget):
    g, h = _reference_inputs(logits[rows], z[rows], y[rows])
    want = _reference_lcmat(g, h, k, eps, dims)
    np.testing.assert_array_equal(np.sort(got.indices[part]), rows[want])
  # eps = 0 is CRAIG's facility location; the curvature term changes picks.
  craig = _select('craig', logits, z, y, budget)
  plain = _select('lcmat', logits, z, y, budget, eps=0.)
  np.testing.assert_array_equal(plain.indices, craig.indices)
  if eps > 1:
    assert set(got.indices) != set(craig.indices)


@pytest.mark.parametrize('method', ['adacore', 'lcmat'])
def test_bad_input_is_named(method):
  logits, z, y = _model_outputs(n=40)
  bad = logits.copy()
  bad[5, 1] = np.nan
  with pytest.raises(ValueError, match=r'non-finite logits.*\[5\]'):
    _select(method, bad, z, y, 10)
  bad = z.copy()
  bad[7, 0] = np.inf
  with pytest.raises(ValueError, match=r'non-finite embeddings.*\[7\]'):
    _select(method, logits, bad, y, 10)
  with pytest.raises(ValueError, match='labels'):
    _select(method, logits, z, y + 1, 10)
  with pytest.raises(ValueError, match='budget=41'):
    _select(method, logits, z, y, 41)
  with pytest.raises(ValueError, match='budget=25 must be in'):
    _select(method, logits, z, y, 25, class_balanced=False,
            candidates=np.arange(40) < 20)
  option = {'adacore': {'damping': -1.}, 'lcmat': {'eps': np.nan}}[method]
  with pytest.raises(ValueError, match='must be finite'):
    _select(method, logits, z, y, 10, **option)
  if method == 'lcmat':
    with pytest.raises(ValueError, match='curvature_dims=0'):
      _select(method, logits, z, y, 10, curvature_dims=0)


@pytest.mark.parametrize('method', ['adacore', 'lcmat'])
def test_deterministic_and_key_free(method):
  logits, z, y = _model_outputs(n=50, seed=2, scale=0.1)
  a = _select(method, logits, z, y, 11, key=0)
  b = _select(method, logits, z, y, 11, key=5)
  np.testing.assert_array_equal(a.indices, b.indices)
  if method == 'adacore':
    np.testing.assert_array_equal(a.weights, b.weights)
  assert len(np.unique(a.indices)) == 11
  np.testing.assert_array_equal(
      np.bincount(y[a.indices], minlength=3),
      combinators.class_budgets(y, 11)[1])
  if method == 'lcmat':  # Every class whole: its padding is never picked.
    whole = _select(method, logits, z, y, 50)
    np.testing.assert_array_equal(np.sort(whole.indices), np.arange(50))
