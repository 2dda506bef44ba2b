"""Tests for al_jax.scores.dynamics and the train.fit on_batch hook.

Scores are checked on hand-written trajectories whose values are worked out
in the comments; the hook on tiny fits with a logistic regression.
"""

import math

import jax
import ml_collections
import numpy as np
import pytest

from al_jax import sharding
from al_jax import train
from al_jax.models import get_model
from al_jax.scores import dynamics
from conftest import same_on_eight_devices

LN3 = math.log(3.0)
# Two classes, every label 0. GOOD predicts class 0 with p = [.75, .25]:
# correct, el2n = ||[-.25, .25]|| = .25·√2, aum = ln 3, aum_prob = .5,
# loss = ln(4/3). BAD = [.25, .75]: wrong, el2n = .75·√2, aum = -ln 3,
# aum_prob = -.5, loss = ln 4.
GOOD, BAD = [LN3, 0.0], [0.0, LN3]
R2 = math.sqrt(2.0)
# Epoch-by-epoch logits [E=4, N=3, C=2]: example 0 flips every epoch,
# example 1 is learned at epoch 1 and kept, example 2 is never learned.
TRAJ = np.array([[GOOD, BAD, BAD],
                 [BAD, GOOD, BAD],
                 [GOOD, GOOD, BAD],
                 [BAD, GOOD, BAD]], np.float32)
# Embeddings z per example; ||[z, 1]|| = 1, 3, 3.
EMB = np.array([[0., 0.], [2., 2.], [2., -2.]], np.float32)


def _record(traj, emb=EMB, extra_epochs=0):
  """Feeds a [E, N, C] trajectory in shuffled batches of 5 (straddling
  epochs), plus `extra_epochs` epochs that the recorder must drop."""
  e, n, _ = traj.shape
  rec = dynamics.DynamicsRecorder(np.zeros(n, np.int32), e)
  ep = np.repeat(np.arange(e + extra_epochs), n)
  rows = np.tile(np.arange(n), e + extra_epochs)
  perm = np.random.default_rng(0).permutation(len(rows))
  ep, rows = ep[perm], rows[perm]
  for s in range(0, len(rows), 5):
    r, t = rows[s:s + 5], ep[s:s + 5]
    rec(s // 5, r, t, (traj[np.minimum(t, e - 1), r], emb[r]))
  return rec


def test_example_stats_by_hand():
  # p = [.25, .25, .5]. Label 2: p - y = [.25, .25, -.5], norm √.375;
  # label 0: p - y = [-.75, .25, .5], norm √.875.
  logits = np.log(np.array([[1., 1., 2.], [1., 1., 2.]], np.float32))
  emb = np.array([[3., 4.], [0., 0.]], np.float32)
  got = np.asarray(dynamics.example_stats(logits, emb, np.array([2, 0])))
  ln2 = math.log(2.0)
  want = [[math.sqrt(.375), 1, ln2, .25, ln2, math.sqrt(.375 * 26)],
          [math.sqrt(.875), 0, -ln2, -.25, 2 * ln2, math.sqrt(.875)]]
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  assert dynamics.STATS[1] == 'correct' and dynamics.STATS[5] == 'grand'


def test_scores_on_hand_written_trajectory():
  rec = _record(TRAJ, extra_epochs=1)
  assert rec.complete_epochs == 4 and rec.count.sum() == 12
  s = dynamics.compute_scores(rec, el2n_epochs=2)
  assert all(v.shape == (3,) and v.dtype == np.float32 for v in s.values())
  # EL2N over epochs 0-1: (.25 + .75)/2·√2, (.75 + .25)/2·√2, .75·√2.
  np.testing.assert_allclose(s['el2n'], [.5 * R2, .5 * R2, .75 * R2],
                             rtol=1e-5)
  # GraNd = EL2N · ||[z, 1]|| per epoch, same window.
  np.testing.assert_allclose(s['grand'], [.5 * R2, 1.5 * R2, 2.25 * R2],
                             rtol=1e-5)
  # Correct 1010 -> 2 events; 0111 -> 0; 0000 never learned -> E = 4.
  np.testing.assert_array_equal(s['forgetting'], [2, 0, 4])
  # AUM over all 4 epochs: 0, (-1 + 3)/4·ln 3, -ln 3; probabilities: 0,
  # (-.5 + 1.5)/4, -.5.
  np.testing.assert_allclose(s['aum'], [0, LN3 / 2, -LN3], atol=1e-6)
  np.testing.assert_allclose(s['aum_prob'], [0, .25, -.5], atol=1e-6)
  l_good, l_bad = math.log(4 / 3), math.log(4)
  np.testing.assert_allclose(
      s['loss'], [(l_good + l_bad) / 2, (l_bad + 3 * l_good) / 4, l_bad],
      rtol=1e-5)
  # Windows: EL2N at epoch 0 only; the other scores over epochs 0-1 (ex. 0
  # forgets once, ex. 1 is learned at the last epoch of the window).
  s1 = dynamics.compute_scores(rec, el2n_epochs=1, grand_epochs=3, epochs=2)
  np.testing.assert_allclose(s1['el2n'], [.25 * R2, .75 * R2, .75 * R2],
                             rtol=1e-5)
  np.testing.assert_allclose(
      s1['grand'], [1.25 / 3 * R2, 3.75 / 3 * R2, 2.25 * R2], rtol=1e-5)
  np.testing.assert_array_equal(s1['forgetting'], [1, 0, 2])
  np.testing.assert_allclose(s1['aum'], [0, 0, -LN3], atol=1e-6)
  inf = dynamics.compute_scores(rec, el2n_epochs=2, never_learned=np.inf)
  np.testing.assert_array_equal(inf['forgetting'], [2, 0, np.inf])


def test_scores_average_over_seeds():
  other = np.array([[GOOD] * 3] * 4, np.float32)  # Always right: no events.
  s = dynamics.compute_scores([_record(TRAJ), _record(other)], el2n_epochs=1)
  np.testing.assert_allclose(s['el2n'], [.25 * R2, .5 * R2, .5 * R2],
                             rtol=1e-5)
  np.testing.assert_array_equal(s['forgetting'], [1, 0, 2])
  np.testing.assert_allclose(s['aum'], [LN3 / 2, 3 * LN3 / 4, 0], atol=1e-6)


def test_window_and_input_errors():
  rec = _record(TRAJ)
  with pytest.raises(ValueError, match='el2n_epochs=10.*4 complete'):
    dynamics.compute_scores(rec)  # BOSS's default T0 = 10 > 4 recorded.
  with pytest.raises(ValueError, match='epochs=0'):
    dynamics.compute_scores(rec, el2n_epochs=2, epochs=0)
  with pytest.raises(ValueError, match='twice'):
    rec(99, np.array([0]), np.array([1]), (TRAJ[0, :1], EMB[:1]))
  with pytest.raises(ValueError, match='multi-class'):
    dynamics.DynamicsRecorder(np.zeros((3, 2), np.int32), 2)
  partial = dynamics.DynamicsRecorder(np.zeros(3, np.int32), 2)
  partial(0, np.array([0, 1, 2, 0]), np.array([0, 0, 0, 1]),
          (TRAJ[0, [0, 1, 2, 0]], EMB[[0, 1, 2, 0]]))
  assert partial.complete_epochs == 1


def test_nan_logits_raise():
  rec = dynamics.DynamicsRecorder(np.zeros(3, np.int32), 1)
  logits = TRAJ[0].copy()
  logits[1, 0] = np.nan
  rec(7, np.arange(3), np.zeros(3, int), (logits, EMB))
  with pytest.raises(ValueError, match=r'Step 7: non-finite.*\[1\]'):
    rec.flush()
  with pytest.raises(ValueError, match='NaN'):
    dynamics.compute_scores(rec, el2n_epochs=1)


def test_save_load_round_trip_with_provenance(tmp_path):
  cfg = ml_collections.ConfigDict(dict(batch_size=4, epochs=4,
                                       decay_boundaries=(0.5, 0.75)))
  rec = dynamics.DynamicsRecorder(np.zeros(3, np.int32), 4, config=cfg,
                                  seed=11)
  src = _record(TRAJ)
  rec.values, rec.count = src.values, src.count
  path = str(tmp_path / 'dynamics.npz')
  with open(path, 'wb') as f:
    dynamics.save(f, rec)
  back = dynamics.load(path)
  assert back.provenance['seed'] == 11
  assert back.provenance['num_epochs'] == 4
  assert back.provenance['complete_epochs'] == 4
  assert back.provenance['config'] == {
      'batch_size': 4, 'epochs': 4, 'decay_boundaries': [0.5, 0.75]}
  np.testing.assert_array_equal(back.values, rec.values)
  np.testing.assert_array_equal(back.labels, rec.labels)
  want = dynamics.compute_scores(rec, el2n_epochs=2)
  got = dynamics.compute_scores(back, el2n_epochs=2)
  for k in want:
    np.testing.assert_array_equal(got[k], want[k])
  with pytest.raises(FileNotFoundError, match='No training-dynamics'):
    dynamics.load(str(tmp_path / 'missing.npz'))


# --------------------------------------------------------------------------
# The fit hook.


def _fit(n, batch_size, epochs, lr=0.5, **kw):
  rng = np.random.default_rng(0)
  x = rng.normal(size=(n, 4)).astype(np.float32)
  y = (np.arange(n) % 3).astype(np.int32)
  cfg = ml_collections.ConfigDict(dict(
      optimizer='sgd', learning_rate=lr, batch_size=batch_size,
      epochs=epochs))
  model = get_model('logreg', 3)
  mesh = sharding.make_mesh()
  run = lambda **k: train.fit(cfg, model, x, y, np.arange(n),
                              jax.random.key(0), mesh, **k)
  return run, x, y, cfg, mesh


@pytest.mark.parametrize('n,batch_size,epochs,seen_epochs', [
    (12, 4, 3, 3),   # steps = epochs·N/B: every row is a real presentation.
    (10, 4, 3, 4),   # 36 rows: 3 epochs + 6 trailing rows of a 4th.
    (3, 4, 3, 4),    # N < B: each batch straddles epochs, rows repeat.
])
def test_fit_hook_records_one_entry_per_example_per_epoch(
    n, batch_size, epochs, seen_epochs):
  run, x, y, cfg, _ = _fit(n, batch_size, epochs)
  calls = []
  rec = dynamics.DynamicsRecorder(y, epochs)

  def hook(step, rows, ep, outputs):
    calls.append((step, rows, ep))
    assert outputs[0].shape == (batch_size, 3)
    assert outputs[1].shape == (batch_size, 4)
    rec(step, rows, ep, outputs)

  state = run(on_batch=hook)
  steps = train.num_steps(cfg, n)
  assert [c[0] for c in calls] == list(range(steps))
  ep = np.concatenate([c[2] for c in calls])
  rows = np.concatenate([c[1] for c in calls])
  np.testing.assert_array_equal(ep, np.arange(steps * batch_size) // n)
  assert ep.max() + 1 == seen_epochs
  for e in range(epochs):  # Each full epoch is a permutation of the pool.
    np.testing.assert_array_equal(np.sort(rows[ep == e]), np.arange(n))
  np.testing.assert_array_equal(rec.count, np.ones((epochs, n)))
  assert rec.complete_epochs == epochs
  # Recording does not change training.
  plain = run()
  for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(plain.params)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_fit_hook_outputs_are_the_train_step_logits():
  # With a zero learning rate and no dropout/augmentation/BatchNorm, the
  # train-mode logits of every step equal predict() on the initial model.
  run, x, y, _, mesh = _fit(12, 4, 2, lr=0.0)
  dynamics.example_stats.clear_cache()
  rec = dynamics.DynamicsRecorder(y, 2)
  state = run(on_batch=rec)
  assert dynamics.example_stats._cache_size() == 1  # Once, not per step.
  logits, emb = train.predict(state, x, mesh, batch_size=4)
  want = np.asarray(dynamics.example_stats(logits, emb, y)).T
  for e in range(2):
    np.testing.assert_allclose(rec.values[:, e], want, rtol=1e-5, atol=1e-6)
  s = dynamics.compute_scores(rec, el2n_epochs=2)
  np.testing.assert_allclose(s['el2n'], want[0], rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(s['forgetting'],
                                np.where(want[1] > 0, 0, 2))


def test_fit_with_nan_inputs_raises():
  run, x, _, _, _ = _fit(12, 4, 2)
  x[5] = np.nan
  rec = dynamics.DynamicsRecorder((np.arange(12) % 3).astype(np.int32), 2)
  with pytest.raises(ValueError, match='non-finite'):
    run(on_batch=rec)
    rec.flush()


def test_eight_devices_record_the_same_dynamics():
  script = '''
import jax
import ml_collections
import numpy as np
from al_jax import sharding, train
from al_jax.models import get_model
from al_jax.scores import dynamics
def picks(mesh):
  mesh = mesh or sharding.make_mesh()
  rng = np.random.default_rng(0)
  x = rng.normal(size=(20, 4)).astype(np.float32)
  y = (np.arange(20) % 3).astype(np.int32)
  cfg = ml_collections.ConfigDict(dict(optimizer='sgd', learning_rate=0.3,
                                       batch_size=8, epochs=3))
  rec = dynamics.DynamicsRecorder(y, 3)
  train.fit(cfg, get_model('logreg', 3), x, y, np.arange(20),
            jax.random.key(0), mesh, on_batch=rec)
  s = dynamics.compute_scores(rec, el2n_epochs=2)
  return {k: v.tolist() for k, v in s.items()}
'''
  many, one = same_on_eight_devices(script)
  assert many.keys() == one.keys()
  for k in one:
    np.testing.assert_allclose(many[k], one[k], rtol=1e-4, atol=1e-5,
                               err_msg=k)


@pytest.mark.parametrize('n,batch_size,t0', [
    (10, 4, 3),   # 30 rows: step 8 ends at row 32, 2 rows into epoch 3.
    (12, 4, 2),   # B divides N: the snapshot ends exactly at epoch 2.
    (3, 4, 2),    # N < B: the 2nd step completes epoch 1 and starts 2.
])
def test_snapshot_is_the_state_after_the_step_completing_epoch_t0(
    n, batch_size, t0):
  """on_step at `steps_to_complete` hands over exactly the state a fit
  stopped there reaches (bit for bit), the first one trained on every
  presentation of epochs [0, T0)."""
  epochs = 5
  run, _, y, cfg, _ = _fit(n, batch_size, epochs)
  snap = dynamics.steps_to_complete(t0, n, batch_size)
  assert snap == math.ceil(t0 * n / batch_size)
  rec = dynamics.DynamicsRecorder(y, epochs)
  complete, held = {}, {}

  def on_step(steps, state):
    complete[steps] = rec.complete_epochs
    if steps == snap:  # A host copy: the next step donates `state`.
      held['params'] = jax.tree.map(np.asarray, state.params)

  full = run(on_batch=rec, on_step=on_step)
  assert sorted(complete) == list(range(1, train.num_steps(cfg, n) + 1))
  assert complete[snap] == t0 and complete.get(snap - 1, 0) < t0
  cfg.steps = snap  # The same index stream, cut after `snap` steps.
  stopped = run(on_batch=lambda *a: None)
  for a, b in zip(jax.tree.leaves(held['params']),
                  jax.tree.leaves(stopped.params)):
    np.testing.assert_array_equal(a, np.asarray(b))
  assert not np.array_equal(jax.tree.leaves(held['params'])[0],
                            np.asarray(jax.tree.leaves(full.params)[0]))
  with pytest.raises(ValueError, match='>= 1'):
    dynamics.steps_to_complete(0, n, batch_size)
