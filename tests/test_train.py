"""Tests for al_jax.optim and al_jax.train (step, fit, predict, checkpoints).

Models are tiny (logreg, a one-layer MLP, a width-4 ResNet-18 on 8x8 images)
so the whole file runs in well under a minute on CPU.
"""

import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from al_jax import checkpoints
from al_jax import optim
from al_jax import sharding
from al_jax import train
from al_jax.input import pairs as pairs_lib
from al_jax.input.preprocess import Augment
from al_jax.models import get_model

NO_AUG = Augment()


def _cfg(**kw) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(kw)


@pytest.fixture(scope='module')
def mesh():
  return sharding.make_mesh()


def _np(tree):
  return jax.tree.map(np.asarray, tree)


def _trees_equal(a, b) -> bool:
  return all(np.array_equal(x, y) for x, y in
             zip(jax.tree.leaves(_np(a)), jax.tree.leaves(_np(b))))


# --------------------------------------------------------------------------
# optim


LR = 0.1
WD = 0.05
OPTIMIZERS = {
    'sgd': (dict(optimizer='sgd'), optax.sgd),
    'momentum': (dict(optimizer='momentum', momentum=0.8),
                 lambda s: optax.sgd(s, momentum=0.8)),
    'nesterov': (dict(optimizer='momentum', momentum=0.8, nesterov=True),
                 lambda s: optax.sgd(s, momentum=0.8, nesterov=True)),
    'adam': (dict(optimizer='adam'), optax.adam),
    'adamw': (dict(optimizer='adamw', weight_decay=WD),
              lambda s: optax.adamw(s, weight_decay=WD)),
    'sgd_wd': (dict(optimizer='sgd', weight_decay=WD),
               lambda s: optax.chain(optax.add_decayed_weights(WD),
                                     optax.sgd(s))),
}
SCHEDULES = {
    'constant': dict(schedule='constant'),
    'cosine': dict(schedule='cosine'),
    'step': dict(schedule='step', decay_boundaries=(0.4, 0.8),
                 decay_factor=0.3),
    'exponential': dict(schedule='exponential', decay_every_steps=2,
                        decay_factor=0.5),
    'warmup': dict(schedule='cosine', warmup_steps=2),
}


@pytest.mark.parametrize('sched_name', sorted(SCHEDULES))
@pytest.mark.parametrize('opt_name', sorted(OPTIMIZERS))
def test_unit_lr_optimizer_matches_optax_scheduled(opt_name, sched_name):
  steps = 5
  opt_kw, reference = OPTIMIZERS[opt_name]
  cfg = _cfg(learning_rate=LR, **opt_kw, **SCHEDULES[sched_name])
  schedule = optim.make_schedule(cfg, steps)
  tx, ref_tx = optim.make_optimizer(cfg), reference(schedule)
  rng = np.random.default_rng(0)
  params = {'w': jnp.asarray(rng.normal(size=(3, 2)), jnp.float32),
            'b': jnp.asarray(rng.normal(size=(2,)), jnp.float32)}
  ours, ref = params, params
  s, ref_s = tx.init(params), ref_tx.init(params)
  for step in range(steps):
    grads = jax.tree.map(
        lambda p: jnp.asarray(rng.normal(size=p.shape), jnp.float32), params)
    # As train.train_step applies it: unit-rate update times the host rate.
    upd, s = tx.update(grads, s, ours)
    upd = jax.tree.map(lambda u: u * jnp.float32(schedule(step)), upd)
    ours = optax.apply_updates(ours, upd)
    ref_upd, ref_s = ref_tx.update(grads, ref_s, ref)
    ref = optax.apply_updates(ref, ref_upd)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(ref)):
      np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  # The run moved the parameters (so the comparison is not vacuous).
  assert not np.allclose(ours['w'], params['w'])


def _values(cfg, total, n):
  schedule = optim.make_schedule(_cfg(learning_rate=1.0, **cfg), total)
  return np.array([float(schedule(i)) for i in range(n)])


def test_schedule_values():
  np.testing.assert_allclose(_values({}, 10, 10), np.ones(10))
  cos = _values({'schedule': 'cosine'}, 10, 11)
  np.testing.assert_allclose(
      cos, 0.5 * (1 + np.cos(np.pi * np.arange(11) / 10)), atol=1e-6)
  step = _values({'schedule': 'step'}, 100, 100)  # Defaults: 0.5, 0.75 x0.1.
  np.testing.assert_allclose(step[:50], 1.0)
  np.testing.assert_allclose(step[50:75], 0.1, rtol=1e-6)
  np.testing.assert_allclose(step[75:], 0.01, rtol=1e-6)
  exp = _values({'schedule': 'exponential', 'decay_every_steps': 3,
                 'decay_factor': 0.5}, 100, 9)
  np.testing.assert_allclose(exp, [1, 1, 1, .5, .5, .5, .25, .25, .25])
  warm = _values({'warmup_steps': 4}, 10, 7)
  np.testing.assert_allclose(warm, [0, .25, .5, .75, 1, 1, 1])
  # Cosine after warmup runs over the remaining steps.
  wcos = _values({'schedule': 'cosine', 'warmup_steps': 2}, 6, 7)
  np.testing.assert_allclose(
      wcos, [0, .5] + list(0.5 * (1 + np.cos(np.pi * np.arange(5) / 4))),
      atol=1e-6)


def test_step_schedule_short_run_applies_every_decay():
  # With 2 steps both default boundaries (0.5, 0.75) land on step 1: the rate
  # there must be decayed twice, not once.
  np.testing.assert_allclose(_values({'schedule': 'step'}, 2, 2), [1, .01],
                             rtol=1e-6)


def test_unknown_optimizer_and_schedule_raise():
  with pytest.raises(ValueError, match='adamw') as e:
    optim.make_optimizer(_cfg(optimizer='lion'))
  assert 'lion' in str(e.value) and 'momentum' in str(e.value)
  with pytest.raises(ValueError, match='exponential') as e:
    optim.make_schedule(_cfg(schedule='linear'), 10)
  assert 'linear' in str(e.value) and 'cosine' in str(e.value)


# --------------------------------------------------------------------------
# index_stream and num_steps


@pytest.mark.parametrize('n,b,steps', [(10, 4, 7), (3, 8, 2), (5, 5, 3)])
def test_index_stream_epochs_are_permutations(n, b, steps):
  s = train.index_stream(n, b, steps, np.random.default_rng(0))
  assert s.shape == (steps, b)
  flat = s.ravel()
  for start in range(0, len(flat) - n + 1, n):
    assert sorted(flat[start:start + n]) == list(range(n))
  tail = flat[(len(flat) // n) * n:]  # Partial last epoch: no repeats.
  assert len(set(tail)) == len(tail) and all(0 <= t < n for t in tail)


def test_index_stream_is_shuffled_and_seeded():
  a = train.index_stream(50, 10, 10, np.random.default_rng(0))
  b = train.index_stream(50, 10, 10, np.random.default_rng(0))
  c = train.index_stream(50, 10, 10, np.random.default_rng(1))
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)
  assert not np.array_equal(a.ravel()[:50], np.arange(50))
  assert not np.array_equal(a.ravel()[:50], a.ravel()[50:])  # Reshuffled.


def test_num_steps():
  assert train.num_steps(_cfg(steps=7, epochs=3, batch_size=10), 25) == 7
  assert train.num_steps(_cfg(epochs=3, batch_size=10), 25) == 9
  assert train.num_steps(_cfg(epochs=2, batch_size=10), 30) == 6
  assert train.num_steps(_cfg(), 100) == 10 * math.ceil(100 / 64)
  assert train.num_steps(_cfg(steps=0, epochs=1, batch_size=8), 9) == 2


# --------------------------------------------------------------------------
# train_step


def _features(n, f=5, seed=0):
  return np.random.default_rng(seed).normal(size=(n, f)).astype(np.float32)


def _mlp_state(hidden=(8,), dropout_rate=0.0, seed=0, f=5, num_classes=3,
               cfg=None):
  model = get_model('mlp', num_classes, hidden_sizes=hidden,
                    dropout_rate=dropout_rate)
  tx = optim.make_optimizer(cfg or _cfg())
  return model, train.create_state(model, (f,), tx, jax.random.key(seed))


def _step(state, x, y, w, lr=0.5, seed=0, aug=NO_AUG):
  return train.train_step(state, jnp.asarray(x), jnp.asarray(y),
                          jnp.asarray(w, jnp.float32), jnp.float32(lr),
                          jax.random.key(seed), aug)


def test_train_step_is_sgd_on_weighted_mean_loss():
  model = get_model('logreg', 3)
  state = train.create_state(model, (5,), optim.make_optimizer(_cfg()),
                             jax.random.key(0))
  x, y = _features(6), np.array([0, 1, 2, 0, 1, 2])
  w = np.array([1., 2., .5, 1., 0., 3.], np.float32)
  p0 = _np(state.params)

  def loss(p):
    logits, _ = model.apply({'params': p}, x)
    ce = -jax.nn.log_softmax(logits)[np.arange(6), y]
    return jnp.sum(w * ce) / jnp.sum(w)

  want_loss, g = jax.value_and_grad(loss)(p0)
  new, got_loss = _step(state, x, y, w, lr=0.3)
  np.testing.assert_allclose(got_loss, want_loss, rtol=1e-5)
  for a, b, d in zip(jax.tree.leaves(_np(new.params)), jax.tree.leaves(p0),
                     jax.tree.leaves(g)):
    np.testing.assert_allclose(a, b - 0.3 * d, rtol=1e-5, atol=1e-6)
  assert int(new.step) == 1


def test_zero_weight_example_has_no_influence():
  x = _features(6)
  y_a = np.array([0, 1, 2, 0, 1, 2])
  y_b = y_a.copy()
  y_b[5] = 0  # Only the weight-0 row's label differs.
  w = np.array([1, 1, 1, 1, 1, 0], np.float32)
  a, loss_a = _step(_mlp_state()[1], x, y_a, w)
  b, loss_b = _step(_mlp_state()[1], x, y_b, w)
  assert float(loss_a) == float(loss_b)
  assert _trees_equal(a.params, b.params)
  # Sanity: with weight 1 the same label change does matter.
  c, _ = _step(_mlp_state()[1], x, y_a, np.ones(6))
  d, _ = _step(_mlp_state()[1], x, y_b, np.ones(6))
  assert not _trees_equal(c.params, d.params)


def test_weight_two_equals_duplicated_example():
  x, y = _features(3), np.array([0, 1, 2])
  a, loss_a = _step(_mlp_state()[1], x, y, np.array([2., 1., 1.]))
  b, loss_b = _step(_mlp_state()[1], x[[0, 0, 1, 2]], y[[0, 0, 1, 2]],
                    np.ones(4))
  np.testing.assert_allclose(loss_a, loss_b, rtol=1e-6)
  for u, v in zip(jax.tree.leaves(_np(a.params)),
                  jax.tree.leaves(_np(b.params))):
    np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-7)


@pytest.fixture(scope='module')
def resnet():
  model = get_model('resnet18', 3, width=4, small_inputs=True)
  tx = optim.make_optimizer(_cfg(optimizer='momentum'))
  state = train.create_state(model, (8, 8, 3), tx, jax.random.key(0))
  return model, state


def test_train_step_updates_batch_stats(resnet):
  _, state = resnet
  state = jax.tree.map(jnp.copy, state)  # train_step donates its input.
  before_stats, before_params = _np(state.batch_stats), _np(state.params)
  assert jax.tree.leaves(before_stats)  # The model does have BN statistics.
  rng = np.random.default_rng(0)
  x = rng.integers(0, 256, size=(4, 8, 8, 3), dtype=np.uint8)
  new, loss = _step(state, x, np.array([0, 1, 2, 0]), np.ones(4), lr=0.1,
                    aug=Augment(crop_padding=1, flip=True))
  assert np.isfinite(float(loss))
  assert jax.tree.structure(new.batch_stats) == jax.tree.structure(
      before_stats)
  for path, old in jax.tree_util.tree_leaves_with_path(before_stats):
    got = np.asarray(_get(new.batch_stats, path))
    assert not np.allclose(got, old), jax.tree_util.keystr(path)
  assert not _trees_equal(new.params, before_params)
  # bn_init's running mean moved 10% (momentum 0.9) towards a batch mean of
  # post-conv activations: finite and nonzero.
  mean = np.asarray(new.batch_stats['bn_init']['mean'])
  assert np.all(np.isfinite(mean)) and np.any(mean != 0)


def _get(tree, path):
  for k in path:
    tree = tree[k.key]
  return tree


def test_multilabel_loss_ignores_unannotated_entries():
  rng = np.random.default_rng(0)
  y = np.array([[1, 0, -1, -1], [-1, -1, -1, -1], [0, 1, 1, -1]], np.int32)
  logits = rng.normal(size=y.shape).astype(np.float32)
  base = np.asarray(train.per_example_loss(jnp.asarray(logits), jnp.asarray(y)))
  z = logits
  want = np.sum(np.where(y == 1, np.log1p(np.exp(-z)),
                         np.where(y == 0, np.log1p(np.exp(z)), 0)), axis=1)
  np.testing.assert_allclose(base, want, rtol=1e-5)
  for i, j in zip(*np.nonzero(y == -1)):
    moved = logits.copy()
    moved[i, j] += 5.0
    np.testing.assert_array_equal(
        train.per_example_loss(jnp.asarray(moved), jnp.asarray(y)), base)
  for i, j in zip(*np.nonzero(y >= 0)):
    moved = logits.copy()
    moved[i, j] += 5.0
    assert not np.allclose(
        train.per_example_loss(jnp.asarray(moved), jnp.asarray(y))[i], base[i])


def test_multilabel_train_step_loss_and_ignored_class():
  model = get_model('logreg', 4)
  state = train.create_state(model, (3,), optim.make_optimizer(_cfg()),
                             jax.random.key(1))
  x = _features(3, f=3)
  y = np.array([[1, 0, -1, -1], [-1, -1, -1, -1], [0, 1, 1, -1]], np.int32)
  w = np.array([2., 1., 1.], np.float32)
  p0 = _np(state.params)
  z = x @ p0['dense']['kernel'] + p0['dense']['bias']
  bce = np.where(y == 1, np.log1p(np.exp(-z)),
                 np.where(y == 0, np.log1p(np.exp(z)), 0)).sum(1)
  # Mean over annotated (example, class) pairs, weighted.
  want = np.sum(w * bce) / np.sum(w * (y >= 0).sum(1))
  new, loss = _step(state, x, y, w, lr=1.0)
  np.testing.assert_allclose(float(loss), want, rtol=1e-5)
  p1 = _np(new.params)['dense']
  # Class 3 is never annotated: its weights get no gradient.
  np.testing.assert_array_equal(p1['kernel'][:, 3], p0['dense']['kernel'][:, 3])
  assert p1['bias'][3] == p0['dense']['bias'][3]
  assert not np.allclose(p1['kernel'][:, :3], p0['dense']['kernel'][:, :3])


# --------------------------------------------------------------------------
# fit


def _blobs(n_per=30, f=4, seed=0):
  rng = np.random.default_rng(seed)
  centers = np.eye(3, f) * 4.0
  x = np.concatenate([c + 0.5 * rng.normal(size=(n_per, f)) for c in centers])
  y = np.repeat(np.arange(3), n_per)
  perm = rng.permutation(len(y))
  return x[perm].astype(np.float32), y[perm].astype(np.int32)


def test_fit_learns_separable_blobs(mesh):
  x, y = _blobs()
  idx = np.arange(0, len(y), 2)  # Train on half; the rest is unlabeled.
  known = np.full_like(y, -1)
  known[idx] = y[idx]
  cfg = _cfg(optimizer='sgd', learning_rate=0.5, batch_size=16, epochs=15,
             schedule='cosine')
  seen = []
  model = get_model('logreg', 3)
  state = train.fit(cfg, model, x, known, idx, jax.random.key(0), mesh,
                    progress=lambda s, l: seen.append((s, l)))
  assert int(state.step) == train.num_steps(cfg, len(idx))
  logits, emb = train.predict(state, x, mesh, batch_size=16)
  assert logits.shape == (len(y), 3) and emb.shape == (len(y), 4)
  assert np.mean(logits[idx].argmax(1) == y[idx]) > 0.95
  assert np.mean(logits.argmax(1) == y) > 0.95  # Generalizes to the rest.
  steps = [s for s, _ in seen]
  assert steps[0] == 0 and steps[-1] == int(state.step) - 1
  assert seen[-1][1] < seen[0][1]  # Loss went down.


def test_fit_same_key_same_params_different_key_differs(mesh):
  x, y = _features(20), np.arange(20) % 3
  model = get_model('mlp', 3, hidden_sizes=(8,), dropout_rate=0.3)
  cfg = _cfg(batch_size=8, steps=4, learning_rate=0.2, optimizer='adam')
  run = lambda k: train.fit(cfg, model, x, y, np.arange(20),
                            jax.random.key(k), mesh)
  a, b, c = run(0), run(0), run(1)
  assert _trees_equal(a.params, b.params)
  assert not _trees_equal(a.params, c.params)


def test_fit_finetunes_from_given_state(mesh):
  x, y = _features(12), np.arange(12) % 3
  model, given = _mlp_state(seed=3)
  given = given.replace(
      params=jax.tree.map(lambda p: jnp.full_like(p, 0.125), given.params))
  # Zero learning rate: the result must be exactly the given parameters, not
  # a fresh initialization.
  out = train.fit(_cfg(batch_size=4, steps=3, learning_rate=0.0), model, x, y,
                  np.arange(12), jax.random.key(0), mesh, state=given)
  for leaf in jax.tree.leaves(_np(out.params)):
    np.testing.assert_array_equal(leaf, 0.125)
  assert int(out.step) == 3  # Step counter restarts for the new run.
  # A real fine-tuning run moves away from the given parameters...
  tuned = train.fit(_cfg(batch_size=4, steps=3, learning_rate=0.1), model, x,
                    y, np.arange(12), jax.random.key(0), mesh, state=given)
  assert not _trees_equal(tuned.params, given.params)
  # ...and leaves the caller's state intact (train_step donates its input).
  for leaf in jax.tree.leaves(given.params):
    assert not leaf.is_deleted()
    np.testing.assert_array_equal(np.asarray(leaf), 0.125)


def test_fit_sample_weights(mesh):
  x, y = _features(30), np.arange(30) % 3
  idx = np.arange(1, 30, 2)  # 15 rows; weights are per position in idx.
  model = get_model('mlp', 3, hidden_sizes=(8,))
  cfg = _cfg(batch_size=5, steps=4, learning_rate=0.3)
  run = lambda w, c=cfg: train.fit(c, model, x, y, idx, jax.random.key(0),
                                   mesh, weights=w)
  plain = run(None)
  assert _trees_equal(run(np.ones(15)), plain)
  # Weighted mean: a uniform rescaling of the weights changes nothing.
  for a, b in zip(jax.tree.leaves(_np(run(np.full(15, 3.0)).params)),
                  jax.tree.leaves(_np(plain.params))):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  # All-zero weights: no gradient, so SGD leaves the initialization alone.
  init = run(None, _cfg(batch_size=5, steps=4, learning_rate=0.0))
  assert _trees_equal(run(np.zeros(15)).params, init.params)
  assert not _trees_equal(plain.params, init.params)


def test_fit_zero_weight_rows_labels_do_not_matter(mesh):
  # Batches depend only on the key and len(idx), so changing the labels of
  # weight-0 examples must not change the result at all.
  x, y = _features(30), np.arange(30) % 3
  idx = np.arange(1, 30, 2)
  w = np.ones(15, np.float32)
  w[[3, 7, 8, 12]] = 0.0
  garbage = y.copy()
  garbage[idx[[3, 7, 8, 12]]] = (y[idx[[3, 7, 8, 12]]] + 1) % 3
  model = get_model('mlp', 3, hidden_sizes=(8,))
  cfg = _cfg(batch_size=5, steps=6, learning_rate=0.3)
  run = lambda labels, w: train.fit(cfg, model, x, labels, idx,
                                    jax.random.key(4), mesh, weights=w)
  assert _trees_equal(run(y, w).params, run(garbage, w).params)
  assert not _trees_equal(run(y, None).params, run(garbage, None).params)


def test_fit_follows_schedule_per_step(mesh):
  # The rate drops to 0 after half the steps, so 4 steps equal the first 2
  # (the index stream and per-step keys of a longer run extend a shorter one).
  x, y = _features(12), np.arange(12) % 3
  model = get_model('mlp', 3, hidden_sizes=(8,))
  run = lambda **kw: train.fit(_cfg(batch_size=4, learning_rate=0.3, **kw),
                               model, x, y, np.arange(12), jax.random.key(0),
                               mesh)
  two = run(steps=2)
  four = run(steps=4, schedule='step', decay_boundaries=(0.5,),
             decay_factor=0.0)
  assert _trees_equal(two.params, four.params)
  assert not _trees_equal(two.params, run(steps=4).params)


def test_fit_rejects_empty_idx_and_bad_batch(mesh):
  model = get_model('logreg', 3)
  x, y = _features(4), np.zeros(4, np.int32)
  with pytest.raises(ValueError, match='No labeled'):
    train.fit(_cfg(batch_size=2), model, x, y, np.array([], np.int64),
              jax.random.key(0), mesh)
  with pytest.raises(ValueError, match='batch_size'):
    train.fit(_cfg(batch_size=0), model, x, y, np.arange(4),
              jax.random.key(0), mesh)


# --------------------------------------------------------------------------
# predict


def test_predict_matches_apply_for_ragged_n(mesh):
  x = _features(37)
  model, state = _mlp_state(dropout_rate=0.5)
  logits, emb = train.predict(state, x, mesh, batch_size=16)
  want_logits, want_emb = model.apply({'params': state.params}, x,
                                      train=False)
  assert logits.shape == (37, 3) and emb.shape == (37, 8)
  assert logits.dtype == np.float32 and isinstance(logits, np.ndarray)
  np.testing.assert_allclose(logits, want_logits, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(emb, want_emb, rtol=1e-5, atol=1e-6)


def test_predict_normalizes_uint8_images(mesh):
  model = get_model('logreg', 2)
  state = train.create_state(model, (4, 4, 1), optim.make_optimizer(_cfg()),
                             jax.random.key(0))
  x = np.random.default_rng(0).integers(0, 256, (10, 4, 4, 1), np.uint8)
  logits, emb = train.predict(state, x, mesh, batch_size=4)
  want, _ = model.apply({'params': state.params}, x.astype(np.float32) / 255)
  np.testing.assert_allclose(logits, want, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(emb, x.reshape(10, -1) / 255, rtol=1e-6)


def test_predict_mc_dropout(mesh):
  x = _features(37)
  _, state = _mlp_state(dropout_rate=0.5)
  det, _ = train.predict(state, x, mesh, batch_size=16)
  a, emb_a = train.predict(state, x, mesh, 16, dropout_key=jax.random.key(1))
  b, _ = train.predict(state, x, mesh, 16, dropout_key=jax.random.key(1))
  c, _ = train.predict(state, x, mesh, 16, dropout_key=jax.random.key(2))
  np.testing.assert_array_equal(a, b)
  assert not np.allclose(a, det)
  assert not np.allclose(a, c)
  # Dropout at rate 0.5 zeroes about half of the embedding units.
  assert 0.3 < np.mean(emb_a == 0) < 0.8
  # Every batch (including the last, padded one) gets its own mask.
  assert not np.allclose(a[:16] - det[:16], a[16:32] - det[16:32])


def test_predict_gathers_pair_logits_on_the_devices(mesh):
  x = _features(37)
  _, state = _mlp_state()
  y = np.full((37, 3), -1, np.int8)
  y[[0, 0, 5, 20, 21, 36], [0, 2, 1, 1, 0, 2]] = 1  # Rows 16-19: no pair.
  pairs = pairs_lib.PairPool.from_labels(y)
  logits, emb = train.predict(state, x, mesh, batch_size=16)
  got, got_emb = train.predict(state, x, mesh, batch_size=16, pairs=pairs)
  assert got.shape == (6,)
  np.testing.assert_array_equal(got, logits[pairs.image, pairs.cls])
  np.testing.assert_array_equal(got_emb, emb)


def test_predict_reduces_logits_on_the_devices(mesh):
  x = _features(37)
  _, state = _mlp_state()
  logits, emb = train.predict(state, x, mesh, batch_size=16)
  none, emb_only = train.predict(state, x, mesh, batch_size=16, reduce=None)
  assert none is None
  np.testing.assert_array_equal(emb_only, emb)
  top, _ = train.predict(state, x, mesh, batch_size=16,
                         reduce=lambda l: jnp.max(l, axis=1))
  np.testing.assert_allclose(top, logits.max(1), rtol=1e-6)


def test_predict_empty_pool_raises(mesh):
  _, state = _mlp_state()
  with pytest.raises(ValueError, match='empty'):
    train.predict(state, np.zeros((0, 5), np.float32), mesh, batch_size=16)


# --------------------------------------------------------------------------
# checkpoints


def test_save_restore_round_trip_with_batch_stats(resnet, tmp_path):
  _, state = resnet
  path = str(tmp_path.absolute() / 'ckpt')
  checkpoints.save_variables(path, state)
  blank = state.replace(
      params=jax.tree.map(jnp.zeros_like, state.params),
      batch_stats=jax.tree.map(jnp.zeros_like, state.batch_stats))
  got = checkpoints.restore_variables(path, blank)
  assert _trees_equal(got.params, state.params)
  assert _trees_equal(got.batch_stats, state.batch_stats)
  assert jax.tree.leaves(got.batch_stats)


def test_save_restore_without_batch_stats_and_init_checkpoint(mesh, tmp_path):
  model, state = _mlp_state()
  state = state.replace(
      params=jax.tree.map(lambda p: jnp.full_like(p, -0.25), state.params))
  path = str(tmp_path.absolute() / 'mlp')
  checkpoints.save_variables(path, state)
  checkpoints.save_variables(path, state)  # Overwriting is allowed.
  _, fresh = _mlp_state(seed=9)
  got = checkpoints.restore_variables(path, fresh)
  assert _trees_equal(got.params, state.params) and got.batch_stats == {}
  # fit() starts from train.init_checkpoint when no state is given.
  x, y = _features(8), np.arange(8) % 3
  out = train.fit(_cfg(batch_size=4, steps=2, learning_rate=0.0,
                       init_checkpoint=path), model, x, y, np.arange(8),
                  jax.random.key(0), mesh)
  assert _trees_equal(out.params, state.params)


@pytest.mark.parametrize('hidden', [(9,), (8, 8)])
def test_restore_into_other_shape_raises(tmp_path, hidden):
  _, state = _mlp_state(hidden=(8,))
  path = str(tmp_path.absolute() / 'ckpt')
  checkpoints.save_variables(path, state)
  _, other = _mlp_state(hidden=hidden)
  with pytest.raises(ValueError, match='[Cc]heckpoint'):
    checkpoints.restore_variables(path, other)


def test_round_models_keep_the_latest_round_and_its_seconds(tmp_path):
  _, state = _mlp_state()
  rounds = checkpoints.RoundModels(str(tmp_path.absolute() / 'model'))
  assert not rounds.rounds()
  rounds.save(0, state, 1.5)
  later = state.replace(step=7, params=jax.tree.map(lambda p: p + 1,
                                                    state.params))
  rounds.save(1, later, 2.25)
  assert rounds.rounds() == [1]  # A resume needs only the latest.
  _, blank = _mlp_state(seed=3)
  got, seconds = rounds.restore(1, blank)
  assert _trees_equal(got.params, later.params) and int(got.step) == 7
  assert seconds == 2.25
  with pytest.raises(FileNotFoundError, match='round 0'):
    rounds.restore(0, blank)
  _, other = _mlp_state(hidden=(9,))
  with pytest.raises(ValueError, match='does not match'):
    rounds.restore(1, other)


def test_round_models_read_an_older_work_dir(tmp_path):
  _, state = _mlp_state()
  folder = tmp_path.absolute() / 'model'
  checkpoints.save_variables(str(folder / 'round_1'), state)
  (folder / 'round_1.train_seconds').write_text('3.5')
  rounds = checkpoints.RoundModels(str(folder))
  assert rounds.rounds() == [1]
  _, blank = _mlp_state(seed=3)
  got, seconds = rounds.restore(1, blank)
  assert _trees_equal(got.params, state.params) and seconds == 3.5
  rounds.save(2, got, 1.0)  # The older layout's rounds are then removed.
  assert rounds.rounds() == [2] and not (folder / 'round_1').exists()


def test_restore_missing_path_raises(tmp_path):
  _, state = _mlp_state()
  with pytest.raises(FileNotFoundError):
    checkpoints.restore_variables(str(tmp_path.absolute() / 'nothing'), state)


def _recorded_rates(monkeypatch):
  """Records every step at which fit() evaluates its schedule."""
  seen = []
  real = optim.make_schedule

  def make(cfg, total):
    schedule = real(cfg, total)
    return lambda step: seen.append(int(step)) or schedule(step)
  monkeypatch.setattr(optim, 'make_schedule', make)
  return seen


def test_global_schedules_continue_across_fits_and_checkpoints(
    mesh, tmp_path, monkeypatch):
  """Paper 000's decay every 5e8 examples spans the whole run: fine-tuning
  (and an init checkpoint) continue the step count; cosine restarts."""
  seen = _recorded_rates(monkeypatch)
  model = get_model('mlp', 3, hidden_sizes=(4,))
  x, y = _features(8), np.arange(8) % 3
  cfg = _cfg(batch_size=4, steps=3, learning_rate=0.1,
             schedule='exponential', decay_every_steps=4, decay_factor=0.5)
  state = train.fit(cfg, model, x, y, np.arange(8), jax.random.key(0), mesh)
  state = train.fit(cfg, model, x, y, np.arange(8), jax.random.key(1), mesh,
                    state=state)
  assert seen == [0, 1, 2, 3, 4, 5] and int(state.step) == 6
  path = str(tmp_path.absolute() / 'pretrained')
  checkpoints.save_variables(path, state)
  seen.clear()
  cfg.init_checkpoint = path
  train.fit(cfg, model, x, y, np.arange(8), jax.random.key(2), mesh)
  assert seen == [6, 7, 8]
  seen.clear()
  cfg.schedule, cfg.decay_every_steps, cfg.decay_factor = 'cosine', None, None
  train.fit(cfg, model, x, y, np.arange(8), jax.random.key(2), mesh,
            state=state)
  assert seen == [0, 1, 2]


@pytest.mark.parametrize('cfg,match', [
    (dict(optimizer='sgd', momentum=0.9), r'momentum.*optimizer=.sgd'),
    (dict(optimizer='adam', nesterov=True), 'nesterov'),
    (dict(schedule='cosine', decay_factor=0.1), r'decay_factor.*cosine'),
    (dict(schedule='step', decay_every_steps=10), 'decay_every_steps'),
    (dict(schedule='exponential', decay_boundaries=(0.5,)),
     'decay_boundaries'),
    (dict(optimizer='lamb'), 'Unknown train.optimizer'),
])
def test_ignored_or_unknown_options_are_config_errors(cfg, match):
  with pytest.raises(ValueError, match=match):
    train.check_config(_cfg(**cfg))


def test_options_the_choice_reads_pass():
  train.check_config(_cfg(optimizer='momentum', momentum=0.9, nesterov=True,
                          schedule='step', decay_boundaries=(0.5,),
                          decay_factor=0.1))
  train.check_config(_cfg(optimizer='sgd', schedule='exponential',
                          decay_every_steps=5, decay_factor=0.5))
