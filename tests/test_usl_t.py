"""USL-T (paper 003): the selection rule, the trainer, and the label-free job
running USL-T with FixMatch downstream."""

import json
import os

import jax
import numpy as np
import pytest

from al_jax.features import simclr
from al_jax.features import usl_t as usl_t_model
from al_jax.input import sources
from al_jax.loops import label_free
from al_jax.strategies import usl_t
from conftest import load_config


def test_most_confident_member_of_each_head0_cluster():
  # 2 heads, 5 points, 3 clusters. Head 0 puts points 0, 1 in cluster 0,
  # points 2, 3 in cluster 2 and point 4 in cluster 1.
  h0 = np.array([[.6, .2, .2], [.9, .05, .05], [.1, .1, .8], [.2, .1, .7],
                 [.3, .4, .3]])
  h1 = np.array([[.99, 0, .01], [.5, .5, 0], [.4, .3, .3], [0, 0, 1.],
                 [.2, .6, .2]])
  probs = np.stack([h0, h1])
  # Mean over heads: point 0 (.795) beats point 1 (.7); point 3 (.85)
  # beats point 2 (.6); cluster 1 has only point 4.
  picks, filled = usl_t.most_confident_per_cluster(probs, 3)
  assert picks.tolist() == [0, 4, 3] and filled == 0
  # Head 0 alone: point 1 (.9) and point 2 (.8) win.
  picks, _ = usl_t.most_confident_per_cluster(probs, 3, use_mean_prob=False)
  assert picks.tolist() == [1, 4, 2]


def test_an_empty_cluster_gets_the_point_the_head_most_puts_there():
  # Nobody's argmax is cluster 2; point 1 has its highest probability.
  h0 = np.array([[.7, .2, .1], [.5, .1, .4], [.1, .8, .1], [.2, .7, .1]])
  picks, filled = usl_t.most_confident_per_cluster(h0[None], 3)
  assert picks.tolist() == [0, 2, 1] and filled == 1
  # Point 1 already picked (cluster 0's best) -> the next best for cluster 2.
  h0[0, 0] = .3
  h0[1, 0] = .55
  picks, _ = usl_t.most_confident_per_cluster(h0[None], 3)
  assert picks[:2].tolist() == [1, 2] and picks[2] == 0


def test_neighbours_start_with_the_point_itself():
  x = np.array([[0.], [1.], [3.], [10.]], np.float32)
  nb = usl_t.neighbours(x, 2)
  assert nb.tolist() == [[0, 1, 2], [1, 0, 2], [2, 1, 0], [3, 2, 1]]


@pytest.fixture(scope='module')
def encoder():
  ds = sources.load(load_config('digits_usl').input)
  x = ds.x_train[:200]
  opts = dict(epochs=1, batch_size=64, widths=(8, 16), strides=(2, 2))
  variables, _ = simclr.train(x, jax.random.key(0), **opts)
  return simclr.apply_function(opts), variables['params'], x


@pytest.mark.parametrize('options', [
    dict(train_backbone=True, views='simclr'),
    dict(train_backbone=False, views='none')])
def test_trainer_shapes_priors_and_determinism(encoder, options):
  apply_fn, backbone, x = encoder
  feats = usl_t_model.embed(apply_fn, backbone, x)
  nb = usl_t.neighbours(feats, 5)
  run = lambda: usl_t_model.train(apply_fn, backbone, x, nb, 7,
                                  jax.random.key(1), epochs=2, batch_size=64,
                                  **options)
  params, hist = run()
  assert params['heads']['kernel'].shape == (3, feats.shape[1], 7)
  np.testing.assert_allclose(hist['priors'].sum(1), 1, rtol=1e-5)
  assert len(hist['loss']) == 2 and np.isfinite(hist['loss']).all()
  moved = jax.tree.map(lambda a, b: float(np.abs(a - b).max()),
                       params['backbone'], backbone)
  assert (max(jax.tree.leaves(moved)) > 0) == options['train_backbone']
  probs = usl_t_model.probabilities(apply_fn, params, x)
  assert probs.shape == (3, len(x), 7)
  np.testing.assert_allclose(probs.sum(-1), 1, rtol=1e-5)
  again = usl_t_model.probabilities(apply_fn, run()[0], x)
  np.testing.assert_array_equal(probs, again)


def test_unknown_views_and_option_are_named(encoder):
  apply_fn, backbone, x = encoder
  nb = np.zeros((len(x), 1), np.int32)
  with pytest.raises(ValueError, match='views'):
    usl_t_model.train(apply_fn, backbone, x, nb, 3, jax.random.key(0),
                      views='rand')
  with pytest.raises(ValueError, match='epoch'):
    usl_t_model.train(apply_fn, backbone, x, nb, 3, jax.random.key(0),
                      epoch=1)


def test_label_free_job_runs_usl_t_then_fixmatch(tmp_path):
  config = load_config('digits_usl', 'simclr')
  config.seeds = (0,)
  config.features.simclr = dict(epochs=1, widths=(8, 16), strides=(2, 2))
  config.label_free.methods = ('usl_t',)
  config.label_free.budgets = (10,)
  config.label_free.usl_t = dict(epochs=2, batch_size=128)
  config.label_free.downstream = 'fixmatch'
  config.label_free.fixmatch = dict(steps=4, batch_size=8, mu=2)
  config.model = dict(name='cnn')
  summary = label_free.run(config, str(tmp_path))
  assert set(summary) == {'usl_t'}
  row = json.loads(open(os.path.join(
      tmp_path, 'usl_t', 'seed_0', 'metrics.jsonl')).readline())
  assert row['labels'] == 10 and 0 <= row['test_accuracy'] <= 1


def test_usl_t_without_an_encoder_is_named(tmp_path):
  config = load_config('digits_usl')  # PCA features: no encoder to tune.
  config.label_free.methods = ('usl_t',)
  with pytest.raises(ValueError, match="features.source='simclr'"):
    label_free.run(config, str(tmp_path))


def test_select_runs_usl_t_on_arrays(encoder):
  import al_jax  # pylint: disable=g-import-not-at-top
  apply_fn, backbone, x = encoder
  feats = usl_t_model.embed(apply_fn, backbone, x)
  sel = al_jax.select('usl_t', 6, key=jax.random.key(0), embeddings=feats,
                      apply_fn=apply_fn, params={'params': backbone},
                      inputs=x, epochs=3)
  assert len(np.unique(sel.indices)) == 6
  with pytest.raises(ValueError, match='apply_fn'):
    al_jax.select('usl_t', 6, key=jax.random.key(0), embeddings=feats)
