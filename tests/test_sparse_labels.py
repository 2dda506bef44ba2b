"""SparseLabels against the dense [N, C] arrays it stands in for."""

import numpy as np
import pytest

from al_jax.input import pairs as pairs_lib
from al_jax.input import sparse_labels


def _dense(seed: int, n: int = 40, c: int = 9) -> np.ndarray:
  rng = np.random.default_rng(seed)
  y = rng.choice(np.array([-1, -1, -1, 0, 1, -2], np.int8), size=(n, c))
  y[rng.integers(n)] = -1  # A row without any pair.
  return y


@pytest.mark.parametrize('seed', range(5))
def test_rows_views_and_lookups_match_the_dense_array(seed):
  y = _dense(seed)
  s = sparse_labels.SparseLabels.from_dense(y)
  assert s.shape == y.shape and len(s) == len(y)
  np.testing.assert_array_equal(s.dense(), y)
  rng = np.random.default_rng(seed + 100)
  rows = rng.integers(0, len(y), 25)  # Repeats and any order.
  np.testing.assert_array_equal(s[rows], y[rows])
  np.testing.assert_array_equal(s[5:17], y[5:17])
  np.testing.assert_array_equal(s[3], y[3])
  np.testing.assert_array_equal(s.lazy_rows(rows).dense(), y[rows])
  image, cls = rng.integers(0, y.shape[0], 60), rng.integers(0, y.shape[1], 60)
  np.testing.assert_array_equal(s.at(image, cls), y[image, cls])
  parts = [s.lazy_rows(np.arange(0, 11)), s.lazy_rows(np.arange(11, 40))]
  np.testing.assert_array_equal(sparse_labels.concatenate(parts).dense(), y)


def test_pair_pool_is_the_same_from_either_form():
  y = _dense(7)
  dense_pp = pairs_lib.PairPool.from_labels(y)
  sparse = sparse_labels.SparseLabels.from_dense(y)
  sparse_pp = pairs_lib.PairPool.from_labels(sparse)
  for a, b in zip(dense_pp, sparse_pp):
    np.testing.assert_array_equal(a, b)
  np.testing.assert_array_equal(dense_pp.labels(y), sparse_pp.labels(sparse))
  np.testing.assert_array_equal(sparse.value, dense_pp.labels(y))


def test_from_pairs_sorts_and_refuses_bad_pairs():
  s = sparse_labels.SparseLabels.from_pairs([2, 0, 2], [1, 3, 0], [1, 0, 1],
                                            num_rows=3, num_classes=4)
  np.testing.assert_array_equal(
      s.dense(), [[-1, -1, -1, 0], [-1, -1, -1, -1], [1, 1, -1, -1]])
  with pytest.raises(ValueError, match='listed twice'):
    sparse_labels.SparseLabels.from_pairs([1, 1], [2, 2], [0, 1], 3, 4)
  with pytest.raises(ValueError, match='outside'):
    sparse_labels.SparseLabels.from_pairs([3], [0], [1], 3, 4)


def test_one_array_of_everything_is_refused_by_name():
  s = sparse_labels.SparseLabels.from_dense(_dense(0))
  with pytest.raises(TypeError, match='dense()'):
    np.asarray(s)
