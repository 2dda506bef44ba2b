"""FixMatch (semisup/fixmatch.py): the mask and the unlabelled loss on a
hand-made batch, the schedule, weight decay on weights only, and a short
run that learns from the unlabelled pool."""

import jax
import jax.numpy as jnp
import numpy as np

from al_jax.input import preprocess
from al_jax.input import sources
from al_jax.models import mlp
from al_jax.semisup import fixmatch


def test_mask_and_unlabeled_loss_on_a_hand_made_batch():
  weak = jnp.array([[10., 0., 0.], [1., 1., 0.], [0., 0., 3.5]])
  strong = jnp.array([[0., 1., 0.], [2., 0., 0.], [0., 1., 2.]])
  loss, mask = fixmatch.unlabeled_loss(weak, strong, 0.95)
  p = np.exp(np.float64(weak))
  p /= p.sum(1, keepdims=True)
  want_mask = p.max(1) >= 0.95  # Rows 0 and 2 (0.9999, 0.9429 < .95: no).
  np.testing.assert_array_equal(mask, want_mask)
  log_q = np.float64(strong) - np.log(np.exp(np.float64(strong)).sum(
      1, keepdims=True))
  ce = -log_q[np.arange(3), p.argmax(1)]
  np.testing.assert_allclose(loss, np.where(want_mask, ce, 0).mean(),
                             rtol=1e-6)
  # No gradient reaches the weak logits.
  g = jax.grad(lambda w: fixmatch.unlabeled_loss(w, strong, 0.5)[0])(weak)
  assert not np.any(g)


def test_schedule_and_decay_mask():
  lr = fixmatch.learning_rate(0.03, 100)
  assert float(lr(0)) == np.float32(0.03)
  np.testing.assert_allclose(lr(50), 0.03 * np.cos(7 * np.pi / 32), rtol=1e-6)
  mask = fixmatch._decay_mask({'w': jnp.ones((3, 2)), 'b': jnp.ones(2)})  # pylint: disable=protected-access
  assert mask == {'w': True, 'b': False}


def test_short_run_learns_and_is_deterministic():
  ds = sources.load({'source': 'digits', 'seed': 0})
  keep = np.isin(ds.y_train, (0, 1, 7))
  x, y = ds.x_train[keep], np.searchsorted((0, 1, 7), ds.y_train[keep])
  model = mlp.MLP(3, hidden_sizes=(32,))
  labeled = np.array([np.flatnonzero(y == c)[i] for c in range(3)
                      for i in range(2)])
  run = lambda: fixmatch.train(
      model, x[labeled], y[labeled], x, jax.random.key(0), steps=40,
      batch_size=6, mu=4, learning_rate=0.05, ema_decay=0.8)
  variables, hist = run()
  assert len(hist['loss']) == 40 and np.isfinite(hist['loss']).all()
  assert max(hist['mask_rate']) > 0  # Confident pseudo-labels appear.
  logits, _ = model.apply(variables, preprocess.normalize(jnp.asarray(x)))
  assert float(np.mean(np.argmax(logits, 1) == y)) > 0.8
  jax.tree.map(np.testing.assert_array_equal, variables, run()[0])
