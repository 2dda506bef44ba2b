"""Random and Margin strategies, the registry and selection checks."""

import functools
import inspect

import al_jax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from scipy import special

from al_jax import sharding
from al_jax import strategies
from al_jax.loops import active
from al_jax.scores import uncertainty
from al_jax.strategies import base
from al_jax.strategies import cluster_margin
from conftest import active_ctx, same_on_eight_devices


def make_ctx(n=200, c=5, labeled=30, seed=0):
  rng = np.random.default_rng(seed)
  logits = rng.normal(size=(n, c)).astype(np.float32) * 3
  mask = np.zeros(n, bool)
  mask[rng.choice(n, labeled, replace=False)] = True
  labels = np.where(mask, rng.integers(0, c, n), -1)
  emb = rng.normal(size=(n, 4)).astype(np.float32)
  hidden = rng.integers(0, c, n)
  return active_ctx(mask, labels, c, lambda: (logits, emb),
                    sharding.make_mesh(), query=lambda idx: hidden[idx])


def test_entropy_and_least_confidence_rank_as_numpy():
  logits = np.random.default_rng(2).normal(size=(60, 4)).astype(np.float32)
  p = special.softmax(logits, axis=1)
  for name, score in (('entropy', (p * np.log(p)).sum(1)),
                      ('least_confidence', p.max(1))):
    sel = al_jax.select(name, 7, key=jax.random.key(0), logits=logits)
    np.testing.assert_array_equal(sel.indices,
                                  np.argsort(score, kind='stable')[:7])


def test_margin_score_matches_numpy():
  logits = np.random.default_rng(1).normal(size=(50, 7)).astype(np.float32)
  p = np.sort(special.softmax(logits, axis=1), axis=1)
  np.testing.assert_allclose(uncertainty.margin(logits), p[:, -1] - p[:, -2],
                             atol=1e-6)
  s = special.expit(logits)
  np.testing.assert_allclose(uncertainty.binary_margin(logits),
                             np.abs(s - (1 - s)), atol=1e-6)
  q = special.softmax(logits, axis=1)
  np.testing.assert_allclose(uncertainty.entropy(logits),
                             -(q * np.log(q)).sum(1), atol=1e-5)


def test_margin_selects_smallest_unlabeled_margins():
  ctx = make_ctx()
  sel, _ = strategies.get('margin', None).select(None, ctx, 25,
                                                 jax.random.key(0))
  p = np.sort(special.softmax(ctx.logits(), axis=1), axis=1)
  margins = np.where(ctx.chosen, np.inf, p[:, -1] - p[:, -2])
  np.testing.assert_array_equal(sel.indices, np.argsort(margins)[:25])
  base.check_selection(sel, ctx, 25, 'margin')


def test_random_is_uniform_over_unlabeled():
  ctx = make_ctx(n=20, labeled=10)
  strat = strategies.get('random', None)
  counts = np.zeros(20)
  for i in range(400):
    sel, _ = strat.select(None, ctx, 5, jax.random.key(i))
    base.check_selection(sel, ctx, 5, 'random')
    counts[sel.indices] += 1
  assert counts[ctx.chosen].sum() == 0
  # Each of the 10 unlabeled items is picked with probability 1/2.
  expected = 400 * 5 / 10
  assert np.all(np.abs(counts[~ctx.chosen] - expected) < 4 * np.sqrt(
      400 * 0.25))
  a, _ = strat.select(None, ctx, 5, jax.random.key(7))
  b, _ = strat.select(None, ctx, 5, jax.random.key(7))
  np.testing.assert_array_equal(a.indices, b.indices)


def test_unknown_strategy_lists_names():
  with pytest.raises(ValueError, match="did you mean 'badge'.*margin"):
    strategies.get('badge_typo', None)


@pytest.mark.parametrize('indices, message', [
    ([0, 1], 'indices for a budget'), ([0, 1, 999], 'outside the pool'),
    ([0, 1, 2, 3], 'indices for a budget')])
def test_check_selection_catches_bad_output(indices, message):
  ctx = make_ctx()
  with pytest.raises(RuntimeError, match=message):
    base.check_selection(base.Selection(np.array(indices)), ctx, 3, 'x')


def test_check_selection_catches_labeled_index():
  ctx = make_ctx()
  bad = np.flatnonzero(ctx.chosen)[:3]
  with pytest.raises(RuntimeError, match='not candidates'):
    base.check_selection(base.Selection(bad), ctx, 3, 'x')


def test_context_computes_outputs_once():
  calls = []
  ctx = active_ctx(np.zeros(3, bool), -np.ones(3), 2,
                     lambda: calls.append(1) or (np.zeros((3, 2)),
                                                 np.zeros((3, 1))),
                     sharding.make_mesh())
  ctx.logits(), ctx.embeddings(), ctx.logits()
  assert len(calls) == 1


# Methods that train or differentiate a model (usl_t) have their own tests
# with a model of their kind (test_usl_t.py).
VARIANTS = [(name, {}) for name in sorted(strategies.REGISTRY)
            if set(strategies.needs(name)) <= set(active.PROVIDES)
            and base.MODEL not in strategies.needs(name)] + [
    ('coreset', {'partitions': 3}), ('badge', {'partitions': 3}),
    ('cluster_margin', {'hac': 'multiround'}),
    ('cluster_margin', {'hac': 'assign', 'target_cluster_size': 2.0}),
    ('cluster_margin', {'margin_factor': 1.25, 'eps': 2.0})]


@pytest.mark.parametrize('name, options', VARIANTS)
def test_every_strategy_returns_a_valid_deterministic_selection(name, options):
  al = ml_collections.ConfigDict({name: options})
  ctx = make_ctx(n=300, labeled=40)
  strat = strategies.get(name, al)
  state = strat.init(ctx)
  a, state = strat.select(state, ctx, 17, jax.random.key(3))
  base.check_selection(a, ctx, 17, name)
  b, _ = strat.select(state, ctx, 17, jax.random.key(3))
  np.testing.assert_array_equal(a.indices, b.indices)


def test_eight_devices_select_the_same():
  script = f'''
import jax, ml_collections, numpy as np
from al_jax import strategies
from al_jax.strategies import base
VARIANTS = {VARIANTS!r}
def picks(mesh):
  from al_jax import sharding
  mesh = mesh or sharding.make_mesh()
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(500, 5)).astype(np.float32)
  emb = rng.normal(size=(500, 6)).astype(np.float32)
  mask = np.arange(500) % 7 == 0
  ctx = base.Context(~mask, chosen=mask, labels=np.where(mask, 0, -1),
                     num_classes=5, outputs=lambda: (logits, emb), mesh=mesh,
                     query=lambda idx: idx % 5)
  out = []
  for name, options in VARIANTS:
    s = strategies.get(name, ml_collections.ConfigDict({{name: options}}))
    out.append(s.select(s.init(ctx), ctx, 23, jax.random.key(2))[0]
               .indices.tolist())
  return out
'''
  many, one = same_on_eight_devices(script)
  assert many == one


def test_nonfinite_model_outputs_are_named():
  logits = np.zeros((6, 2), np.float32)
  logits[4, 1] = np.nan
  ctx = active_ctx(np.zeros(6, bool), -np.ones(6, int), 2,
                     lambda: (logits, np.zeros((6, 3), np.float32)),
                     sharding.make_mesh(), round_=2)
  with pytest.raises(ValueError, match=r'round-2.*logits.*\[4\]'):
    strategies.get('margin').select(None, ctx, 2, jax.random.key(0))


def test_cluster_margin_spreads_over_clusters():
  """Low-margin candidates crowd one blob; Margin takes them all from it,
  Cluster-Margin takes one per cluster first."""
  rng = np.random.default_rng(0)
  centers = rng.normal(size=(6, 4)) * 50
  emb = (np.repeat(centers, 30, axis=0) + rng.normal(size=(180, 4))).astype(
      np.float32)
  logits = np.tile([[5.0, 0.0]], (180, 1)).astype(np.float32)
  logits[:30, 1] = 4.99  # blob 0: the 30 lowest margins
  logits[30:, 1] = np.linspace(0, 4, 150)  # then the others, blob by blob
  ctx = active_ctx(np.zeros(180, bool), -np.ones(180, int), 2,
                     lambda: (logits, emb), sharding.make_mesh())
  al = ml_collections.ConfigDict(
      {'cluster_margin': {'margin_factor': 180 / 6, 'eps': 10.0}})
  strat = strategies.get('cluster_margin', al)
  clusters = strat.init(ctx)
  assert len(np.unique(clusters)) == 6
  sel, _ = strat.select(clusters, ctx, 6, jax.random.key(0))
  assert len(np.unique(clusters[sel.indices])) == 6
  plain, _ = strategies.get('margin').select(None, ctx, 6, jax.random.key(0))
  assert len(np.unique(clusters[plain.indices])) == 1


def test_cluster_margin_rejects_km_below_kt():
  with pytest.raises(ValueError, match='k_t <= k_m'):
    strategies.get('cluster_margin', ml_collections.ConfigDict(
        {'cluster_margin': {'margin_factor': 0.5}}))


def test_cluster_margin_km_is_exact_decimal():
  assert cluster_margin.margin_pool_size(1.1, 100) == 110  # float: 111
  assert cluster_margin.margin_pool_size(1.25, 100) == 125
  assert cluster_margin.margin_pool_size(10.0, 1000) == 10_000
  assert cluster_margin.margin_pool_size(1.3, 7) == 10  # ceil(9.1)


def test_cluster_margin_orders_by_pool_cluster_size():
  """One low-margin candidate per cluster: by pool size the two singleton
  clusters of the pool come first; by candidate count all four tie."""
  rng = np.random.default_rng(1)
  centers = np.array([[0, 0], [100, 0], [0, 100], [100, 100]], np.float32)
  sizes = [1, 1, 40, 40]
  emb = np.concatenate([c + rng.normal(size=(s, 2)) for c, s in
                        zip(centers, sizes)]).astype(np.float32)
  starts = np.cumsum([0] + sizes[:-1])
  logits = np.tile([[5.0, 0.0]], (len(emb), 1)).astype(np.float32)
  logits[starts, 1] = 4.9  # The 4 lowest margins, one per cluster.
  ctx = active_ctx(np.zeros(len(emb), bool), -np.ones(len(emb), int), 2,
                   lambda: (logits, emb), sharding.make_mesh())
  firsts = {}
  for order in cluster_margin.ORDERS:
    strat = strategies.get('cluster_margin', margin_factor=2.0, eps=10.0,
                           order_by=order)
    clusters = strat.init(ctx)
    firsts[order] = {tuple(sorted(strat.select(
        clusters, ctx, 2, jax.random.key(i))[0].indices.tolist()))
                     for i in range(20)}
  assert firsts['pool'] == {(0, 1)}
  assert len(firsts['candidates']) > 1  # A coin toss among the four.


def test_cluster_margin_knn_k_reaches_the_seed_hac_of_assign(monkeypatch):
  from al_jax.kernels.hac import exact, multiround  # pylint: disable=g-import-not-at-top
  seen = []
  for name in ('hac_multiround', 'eps_for_average_size_multiround'):
    real = getattr(multiround, name)
    monkeypatch.setattr(multiround, name, functools.partial(
        lambda real, *a, **kw: seen.append(inspect.signature(real).bind(
            *a, **kw).arguments.get('k')) or real(*a, **kw), real))
  monkeypatch.setattr(exact, 'MAX_EXACT_POINTS', 10)  # The seeds go multi-round.
  emb = np.random.default_rng(0).normal(size=(200, 3)).astype(np.float32)
  labeled = np.zeros(200, bool)
  labeled[:60] = True
  cluster_margin.cluster_pool(emb, labeled, hac='assign', eps=None,
                              target_cluster_size=2.0, eps_c=None, knn_k=5)
  assert seen and set(seen) == {5}


def _toy_pool():
  """Logits [300, 7], embeddings [300, 5], the first 20 items labelled."""
  rng = np.random.default_rng(0)
  labeled = np.arange(300) < 20
  return (rng.normal(size=(300, 7)).astype(np.float32),
          rng.normal(size=(300, 5)).astype(np.float32), labeled)


@pytest.mark.parametrize('name', ['margin', 'entropy', 'least_confidence',
                                  'kcenter', 'cluster_margin'])
def test_pool_pass_reductions_pick_what_full_logits_pick(name):
  """With a loop's pool pass, scores and embeddings come without [N, C]
  logits on the host, and the picks are the same."""
  logits, emb, labeled = _toy_pool()
  passes = []

  def pool_pass(fn):
    passes.append(fn)
    return (None if fn is None else np.asarray(fn(jnp.asarray(logits))), emb)

  def never():
    raise AssertionError('[N, C] logits fetched')

  make = lambda **kw: base.Context(~labeled, chosen=labeled,
                                   labels=np.where(labeled, 0, -1),
                                   num_classes=7,
                                   mesh=sharding.make_mesh(), **kw)
  full = make(outputs=lambda: (logits, emb))
  reduced = make(outputs=never, pool_pass=pool_pass)
  strategy = strategies.get(name)
  key = jax.random.key(1)
  want, _ = strategy.select(strategy.init(full), full, 25, key)
  got, _ = strategy.select(strategy.init(reduced), reduced, 25, key)
  np.testing.assert_array_equal(got.indices, want.indices)
  assert len(passes) == 1  # One pool pass per round, whatever it needs.


@pytest.mark.parametrize('name', ['badge', 'sensitivity'])
def test_methods_reading_every_logit_make_one_pool_pass(name):
  logits, emb, labeled = _toy_pool()
  calls = []
  ctx = base.Context(
      ~labeled, chosen=labeled, labels=np.where(labeled, 0, -1),
      num_classes=7, mesh=sharding.make_mesh(),
      outputs=lambda: calls.append('full') or (logits, emb),
      pool_pass=lambda fn: calls.append(fn) or (None, emb),
      query=lambda idx: np.zeros(len(idx), np.int64))
  strategy = strategies.get(name)
  strategy.select(strategy.init(ctx), ctx, 25, jax.random.key(1))
  assert calls == ['full']
