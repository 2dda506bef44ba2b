"""SimCLR features (features/simclr.py) and the k-NN evaluator
(evaluators/knn_accuracy.py)."""

import jax
import numpy as np
import pytest
from sklearn import datasets

from al_jax.evaluators import knn_accuracy as knn_eval
from al_jax.features import simclr
from al_jax.input import simclr_augment

TINY = dict(epochs=2, batch_size=64, widths=(8, 16), strides=(1, 2),
            hidden_dim=16, projection_dim=8)


@pytest.fixture(scope='module')
def digits():
  """[300, 8, 8, 1] uint8 digits in [0, 255], as sources.py stores them."""
  images = datasets.load_digits().images[:300]
  return np.round(images * (255. / 16.)).astype(np.uint8)[..., None]


@pytest.fixture(scope='module')
def trained(digits):
  return simclr.train(digits, jax.random.key(0), **TINY)


def _nt_xent_reference(z, tau):
  """NT-Xent transcribed from SimCLR's Algorithm 1, one anchor at a time."""
  z = z / np.linalg.norm(z, axis=1, keepdims=True)
  n = len(z)
  total = 0.
  for i in range(n):
    j = (i + n // 2) % n
    sims = [np.exp(z[i] @ z[m] / tau) for m in range(n) if m != i]
    total += -np.log(np.exp(z[i] @ z[j] / tau) / np.sum(sims))
  return total / n


@pytest.mark.parametrize('tau', [0.1, 0.5])
def test_nt_xent_matches_reference(tau):
  z = np.random.default_rng(0).normal(size=(8, 5))  # B = 4 images.
  got = simclr.nt_xent(np.float32(z), tau)
  np.testing.assert_allclose(got, _nt_xent_reference(z, tau), rtol=1e-5)


def test_nt_xent_rewards_aligned_views():
  z = np.eye(4, dtype=np.float32)
  aligned = simclr.nt_xent(np.concatenate([z, z]), 0.1)
  shuffled = simclr.nt_xent(np.concatenate([z, z[::-1]]), 0.1)
  assert aligned < shuffled


def test_augment_keeps_shape_and_is_keyed(digits):
  x = np.concatenate([digits[:5], digits[:1]])  # Rows 0 and 5 are equal.
  aug = simclr_augment.Augment(erase_prob=0.5)
  a = simclr_augment.augment(x, jax.random.key(1), aug)
  assert a.shape == x.shape and a.dtype == np.float32
  assert np.isfinite(a).all()
  np.testing.assert_array_equal(a, simclr_augment.augment(x, jax.random.key(1), aug))
  assert not np.allclose(a, simclr_augment.augment(x, jax.random.key(2), aug))
  # uint8 input is scaled to [0, 1] first.
  np.testing.assert_allclose(
      a, simclr_augment.augment(np.float32(x) / 255., jax.random.key(1), aug),
      atol=1e-5)
  # Each image has its own key: copies of one image get different views.
  assert not np.allclose(a[0], a[5])


def test_train_and_embed(trained, digits):
  variables, losses = trained
  assert len(losses) == 2 and np.isfinite(losses).all()
  back = simclr.embed(variables, digits, TINY, 'backbone', batch_size=128)
  proj = simclr.embed(variables, digits, TINY, 'projection', batch_size=128)
  assert back.shape == (300, 16) and proj.shape == (300, 8)
  np.testing.assert_allclose(np.linalg.norm(proj, axis=1), 1., rtol=1e-5)
  # Padding the last block does not change rows.
  np.testing.assert_allclose(
      simclr.embed(variables, digits[:50], TINY, 'backbone', 128), back[:50],
      rtol=1e-5, atol=1e-6)


def test_save_load_round_trip(trained, digits, tmp_path):
  variables, _ = trained
  path = str(tmp_path / 'enc' / 'simclr.msgpack')
  simclr.save(path, variables, TINY)
  loaded, options = simclr.load(path)
  assert options == simclr.options_with_defaults(TINY)
  jax.tree.map(np.testing.assert_array_equal, variables, loaded)
  np.testing.assert_array_equal(
      simclr.embed(variables, digits[:20], TINY),
      simclr.embed(loaded, digits[:20], options))
  with pytest.raises(FileNotFoundError, match='missing.msgpack'):
    simclr.load(str(tmp_path / 'missing.msgpack'))


def test_unknown_option_is_named(digits):
  with pytest.raises(ValueError, match='simclr.epoch '):
    simclr.train(digits, jax.random.key(0), epoch=1)


def _knn_reference(train, labels, test, k, num_classes):
  """Brute force: cosine similarity, stable order, majority vote with ties
  to the class voted for earliest."""
  unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)
  sims = unit(np.float64(test)) @ unit(np.float64(train)).T
  preds = []
  for row in sims:
    order = np.argsort(-row, kind='stable')[:k]
    votes = np.bincount(labels[order], minlength=num_classes)
    tied = np.flatnonzero(votes == votes.max())
    preds.append(next(l for l in labels[order] if l in tied))
  return np.array(preds)


@pytest.mark.parametrize('k', [1, 4, 20])
def test_knn_matches_brute_force(k):
  rng = np.random.default_rng(k)
  train, test = rng.normal(size=(300, 6)), rng.normal(size=(70, 6))
  labels, test_labels = rng.integers(0, 5, 300), rng.integers(0, 5, 70)
  want = _knn_reference(train, labels, test, k, 5)
  np.testing.assert_array_equal(
      knn_eval.knn_predict(train, labels, test, k, 5), want)
  assert knn_eval.knn_accuracy(train, labels, test, test_labels, k) == (
      pytest.approx(np.mean(want == test_labels)))


def test_knn_ties_go_to_the_nearer_neighbour():
  # Cosine: the query (1, 0) is nearest to row 1 (label 3), then row 0
  # (label 0); with k = 2 the vote ties 1-1 and label 3 wins; with k = 4
  # labels 0 and 3 tie 2-2 again, and label 3 still has the nearest vote.
  train = np.array([[1., 0.3], [1., 0.1], [1., 0.5], [1., 0.7], [0., 1.]])
  labels = np.array([0, 3, 3, 0, 1])
  query = np.array([[1., 0.]])
  for k in (2, 4):
    assert knn_eval.knn_predict(train, labels, query, k)[0] == 3
    assert _knn_reference(train, labels, query, k, 4)[0] == 3
  assert knn_eval.knn_predict(train, labels, query, 3)[0] == 3  # 2 votes.
  assert knn_eval.knn_accuracy(train, labels, query, [0], k=1) == 0.
