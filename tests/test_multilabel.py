"""Multi-label mode (paper 000 section 3.2): pair pool, per-pair strategies,
pooled AP, the loop end to end."""

import os

import jax
import numpy as np
import pytest
from scipy import special
from sklearn import metrics

from al_jax import sharding
from al_jax import strategies
from al_jax.evaluators import average_precision
from al_jax.input import ledger as ledger_lib
from al_jax.input import synthetic
from al_jax.loops import active
from al_jax.strategies import base
from al_jax.input import pairs as pairs_lib
from al_jax.scores import gradients
from conftest import active_ctx, load_config, same_on_eight_devices

STRATEGIES = ('random', 'margin', 'coreset', 'badge', 'cluster_margin')


@pytest.mark.parametrize('seed', range(5))
def test_average_precision_equals_sklearn(seed):
  rng = np.random.default_rng(seed)
  m = int(rng.integers(5, 400))
  # Rounded scores create ties, which AP must treat as one threshold.
  scores = np.round(rng.normal(size=m), int(rng.integers(0, 3)))
  positive = rng.random(m) < rng.uniform(0.05, 0.6)
  positive[0] = True
  np.testing.assert_allclose(
      average_precision.average_precision(scores, positive),
      metrics.average_precision_score(positive, scores), rtol=1e-12)


def test_pooled_ap_pools_annotated_pairs_only():
  _, y = synthetic.make_multilabel(300, num_classes=12, seed=1)
  logits = np.random.default_rng(0).normal(size=y.shape).astype(np.float32)
  annotated = y >= 0
  want = metrics.average_precision_score(y[annotated] == 1, logits[annotated])
  assert average_precision.pooled_average_precision(logits, y) == (
      pytest.approx(want, rel=1e-12))
  # Changing an unannotated entry's score changes nothing.
  logits[~annotated] = 100.0
  assert average_precision.pooled_average_precision(logits, y) == (
      pytest.approx(want, rel=1e-12))
  with pytest.raises(ValueError, match='positive'):
    average_precision.average_precision(np.ones(3), np.zeros(3, bool))


def make_pair_ctx(n=120, c=8, labeled=40, seed=0):
  rng = np.random.default_rng(seed)
  _, y = synthetic.make_multilabel(n, num_classes=c, annotated_per_example=3,
                                   seed=seed)
  pp = pairs_lib.PairPool.from_labels(y)
  mask = np.zeros(len(pp), bool)
  mask[rng.choice(len(pp), labeled, replace=False)] = True
  labels = np.where(mask, pp.labels(y), -1)
  logits = rng.normal(size=(n, c)).astype(np.float32) * 2
  emb = rng.normal(size=(n, 5)).astype(np.float32)
  ctx = active_ctx(mask, labels, c, lambda: (logits, emb),
                     sharding.make_mesh(), pairs=pp)
  return ctx, y


def test_pair_pool_views():
  y = np.array([[-1, 0, 1], [-1, -1, -1], [1, -1, 0]], np.int8)
  pp = pairs_lib.PairPool.from_labels(y)
  np.testing.assert_array_equal(pp.image, [0, 0, 2, 2])
  np.testing.assert_array_equal(pp.cls, [1, 2, 0, 2])
  np.testing.assert_array_equal(pp.labels(y), [0, 1, 1, 0])
  np.testing.assert_array_equal(
      pp.images_with(np.array([False, False, True, False])),
      [False, False, True])
  np.testing.assert_array_equal(
      pp.image_min(np.array([3., 1., 2., 0.]), np.array([1, 1, 1, 0], bool)),
      [1., np.inf, 2.])


def test_sample_pairs_stays_inside_the_chosen_images():
  ctx, _ = make_pair_ctx()
  pp = ctx.pairs
  images = np.array([3, 10, 11, 50, 77])
  inside = np.flatnonzero(~ctx.chosen & np.isin(pp.image, images))
  k = len(inside) - 2
  got = pairs_lib.sample_pairs(pp, ctx.chosen, images, k,
                               jax.random.key(0))
  assert len(np.unique(got)) == k and set(got) <= set(inside)
  # Fewer pairs inside than k: all of them, the rest from other images.
  got = pairs_lib.sample_pairs(pp, ctx.chosen, images, len(inside) + 7,
                               jax.random.key(1))
  assert set(inside) <= set(got) and len(np.unique(got)) == len(inside) + 7
  assert not ctx.chosen[got].any()


def test_sample_pairs_is_uniform():
  y = np.array([[0, 1, 0, 1], [1, 0, -1, -1]], np.int8)
  pp = pairs_lib.PairPool.from_labels(y)
  counts = np.zeros(len(pp))
  for i in range(600):
    counts[pairs_lib.sample_pairs(pp, np.zeros(len(pp), bool), np.array([0]),
                                  1, jax.random.key(i))] += 1
  assert counts[4:].sum() == 0
  # Chi-square, 3 degrees of freedom: 16.3 is the 0.1% critical value.
  assert ((counts[:4] - 150) ** 2 / 150).sum() < 16.3


def test_pair_badge_factors_are_the_two_block_gradient():
  ctx, _ = make_pair_ctx()
  pp = ctx.pairs
  got = gradients.pair_badge_factors(ctx.pair_logits())
  p = special.expit(ctx.logits()[pp.image, pp.cls].astype(np.float64))
  probs = np.stack([1 - p, p], 1)
  onehot = np.eye(2)[(p > 0.5).astype(int)]
  np.testing.assert_allclose(got, probs - onehot, atol=1e-6)


def test_margin_picks_the_pairs_of_smallest_binary_margin():
  ctx, _ = make_pair_ctx()
  pp = ctx.pairs
  p = special.expit(ctx.logits()[pp.image, pp.cls])
  margins = np.where(ctx.chosen, np.inf, np.abs(2 * p - 1))
  got = strategies.get('margin').select(None, ctx, 15, jax.random.key(0))[0]
  np.testing.assert_array_equal(np.sort(got.indices),
                                np.sort(np.argsort(margins)[:15]))


@pytest.mark.parametrize('name', STRATEGIES)
def test_pair_strategies_return_valid_pairs(name):
  ctx, _ = make_pair_ctx()
  strategy = strategies.get(name)
  state = strategy.init(ctx)
  for budget in (1, 20, int((~ctx.chosen).sum())):
    sel, _ = strategy.select(state, ctx, budget, jax.random.key(3))
    base.check_selection(sel, ctx, budget, name)
    if name in ('coreset', 'cluster_margin') and budget == 20:
      # k images first, then k pairs among them.
      assert len(np.unique(ctx.pairs.image[sel.indices])) <= budget
    again, _ = strategy.select(state, ctx, budget, jax.random.key(3))
    np.testing.assert_array_equal(sel.indices, again.indices)


def test_coreset_images_are_new_and_far():
  """CoreSet's images come from images without a bought pair."""
  ctx, _ = make_pair_ctx()
  touched = ctx.pairs.images_with(ctx.chosen)
  sel, _ = strategies.get('coreset').select(None, ctx, 10, jax.random.key(0))
  assert not touched[ctx.pairs.image[sel.indices]].any()


def synthetic_config(rounds=2):
  config = load_config('openimages_cm', 'synthetic')
  config.seeds = (0,)
  config.input.num_examples = 1500
  config.input.num_classes = 20
  config.train.steps = 60
  config.al.seed_examples = 600
  config.al.budget_examples = 150
  config.al.rounds = rounds
  return config


def test_multilabel_loop_end_to_end(tmp_path):
  summary = active.run(synthetic_config(), str(tmp_path))
  assert set(summary) == set(STRATEGIES)
  ds_y = None
  for name in STRATEGIES:
    np.testing.assert_array_equal(summary[name]['labels'], [600, 750, 900])
    assert 0 < summary[name]['mean'][-1] <= 1
    led = ledger_lib.Ledger.load(
        os.path.join(tmp_path, name, 'seed_0', 'ledger.npz'))
    if ds_y is None:
      from al_jax.input import sources  # pylint: disable=g-import-not-at-top
      ds_y = sources.load(synthetic_config().input).y_train
      pp = pairs_lib.PairPool.from_labels(ds_y)
    # The ledger holds pair indices with their true binary labels.
    assert len(np.unique(led.indices)) == 900
    np.testing.assert_array_equal(led.labels, pp.labels(ds_y)[led.indices])
  with open(os.path.join(tmp_path, 'results.md')) as f:
    assert 'test_pooled_ap' in f.read()


def test_multilabel_eight_devices_select_the_same():
  script = '''
import jax, numpy as np
from al_jax import strategies
from al_jax.strategies import base
from al_jax.input import pairs as pairs_lib
from al_jax.input import synthetic
def picks(mesh):
  from al_jax import sharding
  mesh = mesh or sharding.make_mesh()
  rng = np.random.default_rng(0)
  _, y = synthetic.make_multilabel(300, num_classes=10, seed=0)
  pp = pairs_lib.PairPool.from_labels(y)
  mask = np.zeros(len(pp), bool)
  mask[rng.choice(len(pp), 100, replace=False)] = True
  logits = rng.normal(size=(300, 10)).astype(np.float32)
  emb = rng.normal(size=(300, 6)).astype(np.float32)
  ctx = base.Context(~mask, chosen=mask, labels=np.where(mask, pp.labels(y), -1),
                     num_classes=10, outputs=lambda: (logits, emb), mesh=mesh,
                     pairs=pp)
  out = {}
  for name in ('margin', 'coreset', 'badge', 'cluster_margin'):
    s = strategies.get(name)
    out[name] = s.select(s.init(ctx), ctx, 40, jax.random.key(1))[0].indices.tolist()
  return out
'''
  many, one = same_on_eight_devices(script)
  assert many == one


def test_methods_needing_image_logits_are_refused_on_pair_pools():
  al = load_config('openimages_cm', 'synthetic').al
  strategies.check_pairs(('margin', 'badge', 'cluster_margin', 'random',
                          'coreset'), al, 'config.al.strategies')
  with pytest.raises(ValueError, match=r'strategies: entropy, least_conf'):
    strategies.check_pairs(('margin', 'entropy', 'least_confidence'), al,
                           'config.al.strategies')
