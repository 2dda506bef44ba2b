"""Class-imbalanced pools (paper 002 appendix D.2.2)."""

import numpy as np
import pytest

from al_jax.input import imbalance
from al_jax.input import sources


def test_exponential_counts_follow_the_paper_formula():
  counts = np.full(100, 500)
  keep = imbalance.keep_counts(counts, 'exponential', rate=0.01)
  np.testing.assert_array_equal(keep, np.round(500 * np.exp(-0.01 *
                                                            np.arange(100))))
  assert keep[0] / keep[-1] == pytest.approx(np.exp(0.99), rel=0.01)


def test_step_prunes_80_percent_of_the_last_20_percent_of_classes():
  keep = imbalance.keep_counts(np.full(10, 400), 'step')
  np.testing.assert_array_equal(keep, [400] * 8 + [80] * 2)


def test_indices_are_a_seeded_per_class_draw():
  y = np.random.default_rng(0).integers(0, 10, 3000)
  a = imbalance.imbalanced_indices(y, 10, 'step', seed=1)
  b = imbalance.imbalanced_indices(y, 10, 'step', seed=1)
  c = imbalance.imbalanced_indices(y, 10, 'step', seed=2)
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)
  np.testing.assert_array_equal(
      np.bincount(y[a], minlength=10),
      imbalance.keep_counts(np.bincount(y, minlength=10), 'step'))
  assert np.all(np.diff(a) > 0)


def test_source_option_imbalances_the_pool_only():
  cfg = dict(source='digits', seed=0, test_fraction=0.2,
             imbalance='exponential', imbalance_rate=0.11)
  ds, full = sources.load(cfg), sources.load(dict(cfg, imbalance=None))
  got = np.bincount(ds.y_train, minlength=10)
  np.testing.assert_array_equal(got, imbalance.keep_counts(
      np.bincount(full.y_train, minlength=10), 'exponential', rate=0.11))
  np.testing.assert_array_equal(ds.y_test, full.y_test)


@pytest.mark.parametrize('kw,match', [
    (dict(kind='zipf'), 'Unknown input.imbalance'),
    (dict(kind='step', prune=1.0), 'imbalance_prune'),
    (dict(kind='exponential', rate=-1.0), 'imbalance_rate')])
def test_bad_options(kw, match):
  with pytest.raises(ValueError, match=match):
    imbalance.keep_counts(np.full(4, 10), **kw)
