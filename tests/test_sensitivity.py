"""Sensitivity sampling (paper 001): the law, the draws, the estimator's
properties (Theorems 4-5), the losses at the centres, and the strategy."""

import jax
import numpy as np
import pytest

import al_jax
from al_jax.kernels import kmeans, kmeanspp, kmedoids
from al_jax.scores import gradients
from al_jax.strategies import base, sensitivity


def test_sample_size():
  assert [sensitivity.sample_size(e) for e in (0.1, 0.05, 0.2)] == [207, 814,
                                                                     54]
  with pytest.raises(ValueError, match='epsilon'):
    sensitivity.sample_size(0)


def _clustered(n=2000, k=20, d=3, seed=0):
  rng = np.random.default_rng(seed)
  means = rng.normal(size=(k, d)) * 20
  return (means[rng.integers(0, k, n)] + rng.normal(size=(n, d))).astype(
      np.float32)


def _law(x, k, lam, seed=0):
  """Centres snapped to points; (p, centre rows, assignment, distance)."""
  fit = kmeans.kmeans(x, k, jax.random.key(seed))
  rows = kmeans.snap(x, fit.centres)
  dist, assign = kmeans.assign(x, x[rows])
  loss = np.random.default_rng(seed).uniform(0, 3, k)
  return sensitivity.probabilities(loss, assign, dist, lam)[0], rows, assign, dist


def test_law_sums_to_one_and_weights_invert_it():
  x = _clustered()
  p, rows, _, dist = _law(x, 20, 1.0)
  assert p.sum() == pytest.approx(1.0, abs=1e-12)
  assert np.all(dist[rows] == 0)  # Centres have v = 0.
  for mode in sensitivity.SAMPLING:
    idx, w, _ = sensitivity.draw(p, 50, jax.random.key(0), mode)
    np.testing.assert_allclose(50 * p[idx] * w, 1.0, rtol=1e-12)
  idx = sensitivity.draw(p, 300, jax.random.key(1), 'without_replacement')[0]
  assert len(set(idx.tolist())) == 300


def test_balanced_lambda_splits_the_mass():
  x = _clustered()
  fit = kmeans.kmeans(x, 20, jax.random.key(0))
  dist, assign = kmeans.assign(x, x[kmeans.snap(x, fit.centres)])
  loss = np.linspace(0.1, 2, 20)
  p, lam = sensitivity.probabilities(loss, assign, dist, 'balanced')
  assert lam * np.sum(np.float64(dist)**2) == pytest.approx(loss[assign].sum())
  assert p.sum() == pytest.approx(1.0)


def test_unbiased_over_many_draws():
  """Σ_S w ℓ averages to Σ_D ℓ (within 4 standard errors over 10⁴ draws)
  when every item of positive loss has positive probability."""
  x = _clustered(n=1500)
  p, _, assign, dist = _law(x, 15, 0.5)
  loss = np.random.default_rng(2).uniform(0, 3, 15)[assign] + dist**2 * 0.3
  s, reps = 40, 10_000
  idx, w, _ = sensitivity.draw(p, s * reps, jax.random.key(5), 'iid')
  est = (w * loss[idx]).reshape(reps, s).sum(1) * reps  # w = 1/(s·reps·p).
  se = est.std() / np.sqrt(reps)
  assert abs(est.mean() - loss.sum()) < 4 * se


def test_theorem5_bound_holds_in_most_draws():
  """ℓ(e) = ℓ(𝒜(e)) + λ u_e ‖e − 𝒜(e)‖², u ∈ [0, 1]: the Hölder condition
  the proof uses. Δ ≤ ε(Σℓ + 2λΦ) in at least 1 − 1/e of the draws."""
  x = _clustered(n=3000, k=30)
  lam, eps = 0.5, 0.2
  fit = kmeans.kmeans(x, 30, jax.random.key(0))
  rows = kmeans.snap(x, fit.centres)
  dist, assign = kmeans.assign(x, x[rows])
  dist = np.float64(dist)
  rng = np.random.default_rng(0)
  centre_loss = rng.uniform(0, 5, 30)
  loss = centre_loss[assign] + lam * rng.uniform(0, 1, len(x)) * dist**2
  p, _ = sensitivity.probabilities(centre_loss, assign, dist, lam)
  s, reps = sensitivity.sample_size(eps), 400
  idx, w, _ = sensitivity.draw(p, s * reps, jax.random.key(1), 'iid')
  est = (w * loss[idx]).reshape(reps, s).sum(1) * reps
  bound = eps * (loss.sum() + 2 * lam * np.sum(dist**2))
  assert np.mean(np.abs(est - loss.sum()) > bound) <= 1 / np.e


def test_theorem4_uniform_fails_where_algorithm1_is_exact():
  """The proof's construction: n/2 copies of -1 and of +1, ℓ(x) = x + 1.
  Uniform sampling with w = n/s is off by more than ε n sup ℓ / 4 in a
  constant fraction of draws (ε = 1/√s); Algorithm 1 with the two points as
  centres has v = 0 and p ∝ ℓ, so every draw is exact."""
  n, s, reps = 1000, 100, 2000
  x = np.repeat([[-1.], [1.]], n // 2, axis=0).astype(np.float32)
  loss = x[:, 0] + 1
  eps = 1 / np.sqrt(s)
  rng = np.random.default_rng(0)
  uniform = n / s * loss[rng.integers(0, n, (reps, s))].sum(1)
  assert np.mean(np.abs(uniform - loss.sum()) > eps * n * 2 / 4) > 0.4
  dist, assign = kmeans.assign(x, x[[0, n - 1]])
  p, _ = sensitivity.probabilities(np.array([0., 2.]), assign, dist, 1.0)
  idx, w, _ = sensitivity.draw(p, s * reps, jax.random.key(0), 'iid')
  est = (w * loss[idx]).reshape(reps, s).sum(1) * reps
  np.testing.assert_allclose(est, loss.sum(), rtol=1e-9)


def test_zero_mass_and_bad_options_are_errors():
  with pytest.raises(ValueError, match='Z = '):
    sensitivity.probabilities([0., 0.], [0, 1, 1], [0., 1., 2.], lam=0.)
  p, _ = sensitivity.probabilities([0., 0.], [0, 1, 1], [0., 1., 2.], lam=1.)
  assert p[0] == 0  # All-zero losses with λ > 0 are valid.
  idx, w, notes = sensitivity.draw(p, 3, jax.random.key(0),
                                   'without_replacement')
  assert sorted(idx) == [0, 1, 2] and w[list(idx).index(0)] == 1 and notes
  for bad, match in [(dict(lam=-1.), 'lam'), (dict(loss='mse'), 'loss'),
                     (dict(sampling='poisson'), 'sampling'),
                     (dict(epsilon=0.), 'epsilon'), (dict(z=3), 'z=3')]:
    with pytest.raises(ValueError, match=match):
      al_jax.strategies.get('sensitivity', None, **bad)


def _pool(n=400, c=3, seed=0):
  rng = np.random.default_rng(seed)
  emb = _clustered(n=n, k=8, d=4, seed=seed)
  logits = rng.normal(size=(n, c)).astype(np.float32)
  hidden = rng.integers(0, c, n)
  return emb, logits, hidden


@pytest.mark.parametrize('sampling', sensitivity.SAMPLING)
def test_strategy_buys_centres_then_samples(sampling):
  emb, logits, hidden = _pool()
  bought = []

  def query(idx):
    bought.extend(np.asarray(idx).tolist())
    return hidden[idx]

  sel = al_jax.select('sensitivity', 40, key=jax.random.key(0),
                      logits=logits, embeddings=emb, query=query,
                      sampling=sampling, weighted=True, lam='balanced')
  assert len(bought) == 10 and set(bought) <= set(sel.indices.tolist())
  assert sel.weights is not None and np.all(sel.weights > 0)
  if sampling == 'without_replacement':
    assert len(sel.indices) == 40
  again = al_jax.select('sensitivity', 40, key=jax.random.key(0),
                        logits=logits, embeddings=emb, query=query,
                        sampling=sampling, weighted=True, lam='balanced')
  np.testing.assert_array_equal(np.sort(sel.indices), np.sort(again.indices))
  assert any(n.startswith('lambda') for n in sel.notes)


def test_z1_clusters_with_kmedoids():
  emb, logits, hidden = _pool()
  bought = []
  sel = al_jax.select('sensitivity', 20, key=jax.random.key(0),
                      logits=logits, embeddings=emb, z=1,
                      query=lambda i: bought.extend(i) or hidden[i])
  medoids = kmedoids.kmedoids(emb, 5, jax.random.fold_in(
      jax.random.key(0), 0), z=1).medoids
  np.testing.assert_array_equal(np.sort(bought), medoids)
  assert len(sel.indices) == 20


def test_epsilon_fixes_the_budget():
  emb, logits, hidden = _pool()
  with pytest.raises(ValueError, match='set the budget to 69'):
    al_jax.select('sensitivity', 60, key=jax.random.key(0), logits=logits,
                  embeddings=emb, query=lambda i: hidden[i], epsilon=0.2,
                  centre_fraction=0.25)
  with pytest.raises(ValueError, match='below the 1 centres'):
    al_jax.select('sensitivity', 0, key=jax.random.key(0), logits=logits,
                  embeddings=emb, query=lambda i: hidden[i])


def test_gradient_losses_match_jax(dense_model):
  apply_fn, variables, x, y = dense_model
  want = []
  for xi, yi in zip(x, y):
    g = jax.grad(lambda p: -jax.nn.log_softmax(apply_fn(
        {'params': p}, xi[None], train=False)[0][0])[yi])(
            variables['params'])
    want.append(sum(float(np.sum(np.square(l))) for l in jax.tree.leaves(g)))
  model = al_jax.strategies.base.Model(apply_fn, variables, lambda i: x[i])
  got = gradients.gradient_sq_norms(model, np.arange(len(x)), y,
                                    batch_size=4)
  np.testing.assert_allclose(got, want, rtol=1e-4)
  full = gradients.per_example_gradients(model, np.arange(len(x)), y,
                                         batch_size=4)
  np.testing.assert_allclose(gradients.sq_norms(full), want, rtol=1e-4)
  logits, emb = apply_fn(variables, x, train=False)
  last = gradients.last_layer_gradients(logits, emb, y)
  np.testing.assert_allclose(
      gradients.last_layer_gradient_sq_norms(logits, emb, y),
      np.sum(np.float64(last)**2, 1), rtol=1e-5)
  assert np.all(got >= gradients.last_layer_gradient_sq_norms(logits, emb, y)
                * (1 - 1e-4))  # The last layer is part of θ.


@pytest.fixture
def dense_model():
  from al_jax.models import mlp  # pylint: disable=g-import-not-at-top
  model = mlp.MLP(num_classes=3, hidden_sizes=(8,))
  x = np.random.default_rng(0).normal(size=(10, 5)).astype(np.float32)
  variables = dict(model.init(jax.random.key(0), x))
  return model.apply, variables, x, np.arange(10) % 3


def test_r_rounds_with_rk_equal_n_are_exact():
  """Algorithm 3: 𝒜 = the first i·k items of the k-means++ order; at
  r·k = n every item is a centre and Σ_S w ℓ = Σ_D ℓ for every draw."""
  x = _clustered(n=120, k=6, d=2)
  loss = np.random.default_rng(0).uniform(0.1, 2, 120)
  order = kmeanspp.kmeanspp_seed(x, 120, jax.random.key(0))
  errors = []
  for i in range(1, 5):  # k = 30, r = 4.
    centres = order[:30 * i]
    dist, assign = kmeans.assign(x, x[centres])
    p, _ = sensitivity.probabilities(loss[centres], assign, dist, 1.0)
    idx, w, _ = sensitivity.draw(p, 20 * 200, jax.random.key(i), 'iid')
    est = (w * loss[idx]).reshape(200, 20).sum(1) * 200
    errors.append(np.abs(est - loss.sum()).mean())
  assert errors[-1] < 1e-9 * loss.sum() < errors[0]


def test_rounds_strategy_grows_the_prefix():
  emb, logits, hidden = _pool()
  labeled = np.zeros(len(emb), bool)
  labeled[:30] = True
  bought = []
  ctx = base.Context(~labeled, chosen=labeled,
                     labels=np.where(labeled, hidden, -1), num_classes=3,
                     outputs=lambda: (logits, emb),
                     query=lambda i: bought.extend(i) or hidden[i], round_=1)
  strat = al_jax.strategies.get('sensitivity_rounds')
  sel, _ = strat.select(strat.init(ctx), ctx, 20, jax.random.key(0))
  base.check_selection(sel, ctx, 20, 'sensitivity_rounds')
  order = kmeanspp.kmeanspp_seed(emb, 10, jax.random.key(0))
  assert set(order[~labeled[order]]) == set(bought[:len(bought)])
  assert '10 centres (k-means++ order)' in sel.notes
