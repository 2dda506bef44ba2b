"""Facility location (kernels/facility_location.py): lazy greedy == naive
greedy == apricot, F monotone submodular, sparse == dense at k = N - 1,
class budgets, 8 devices == 1, bad input."""

import functools
import itertools

import numpy as np
import pytest
from conftest import same_on_eight_devices

from al_jax.kernels import facility_location as fl
from third_party import apricot_select


def similarity(x, metric='cosine'):
  """[N, N] float64 Sim as the module defines it."""
  x = np.float64(x)
  if metric == 'cosine':
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    return 0.5 + 0.5 * xn @ xn.T
  xc = x - x.mean(0)
  offset = 2 * np.sqrt((xc**2).sum(1).max())
  return offset - np.sqrt(((xc[:, None] - xc[None]) ** 2).sum(-1))


def naive_greedy(sim, k, importance=None):
  """Brute-force float64 greedy on M[j, i] = Sim(i, j)·I_j, lowest index on
  ties; returns (picks, cluster sizes, F after each pick)."""
  n = len(sim)
  m = sim * (np.ones(n) if importance is None else importance)[:, None]
  cur, picks, values = np.zeros(n), [], []
  for _ in range(k):
    gains = np.maximum(m - cur[None], 0).sum(1)
    gains[picks] = -np.inf
    picks.append(int(np.argmax(gains)))
    cur = np.maximum(cur, m[picks[-1]])
    values.append(cur.sum())
  owner = np.argmax(m[picks], axis=0)  # First (earliest) pick on ties.
  return np.array(picks), np.bincount(owner, minlength=k), np.array(values)


def _data(n=120, d=6, seed=0):
  rng = np.random.default_rng(seed)
  return (rng.standard_normal((n, d)).astype(np.float32),
          rng.uniform(0.05, 1.0, n).astype(np.float32))


@pytest.mark.parametrize('metric', fl.METRICS)
@pytest.mark.parametrize('weighted', [False, True])
@pytest.mark.parametrize('tiles', [False, True])
def test_lazy_equals_naive_reference(metric, weighted, tiles):
  x, imp = _data(seed=3)
  imp = imp if weighted else None
  kw = dict(importance=imp, metric=metric,
            matrix_bytes=0 if tiles else fl.MATRIX_BYTES)
  got = fl.facility_location(x, 30, **kw)
  naive = fl.facility_location(x, 30, lazy=False, **kw)
  picks, sizes, values = naive_greedy(similarity(x, metric), 30, imp)
  np.testing.assert_array_equal(got.indices, picks)
  np.testing.assert_array_equal(naive.indices, picks)
  np.testing.assert_array_equal(got.weights, sizes)
  assert got.weights.sum() == len(x) and got.indices.dtype == np.int64
  np.testing.assert_allclose(np.cumsum(got.gains, dtype=float), values,
                             rtol=1e-4)


def test_ties_go_to_the_lowest_index():
  x = np.array([[1., 0.], [0., 1.], [1., 0.], [0., 1.], [-1., 0.]],
               np.float32)
  # Gains 3, 3.5, 3, 3.5, 2: pick 1; then 0 and 2 tie at 1, 3 has 0; then
  # 4 (0.5); then 2 and 3 tie at 0.
  np.testing.assert_array_equal(fl.facility_location(x, 5).indices,
                                [1, 0, 4, 2, 3])


def _objective(x, weights, metric, s):
  return fl.objective(x, list(s), importance=weights, metric=metric)


def test_objective_monotone_submodular():
  x, imp = _data(n=14, d=3, seed=1)
  rng = np.random.default_rng(2)
  for metric, weights in itertools.product(fl.METRICS, [None, imp]):
    f = functools.partial(_objective, x, weights, metric)
    ref = similarity(x, metric) * (1 if weights is None else weights[:, None])
    for _ in range(6):
      big = set(rng.choice(14, 6, replace=False).tolist())
      small = set(list(big)[:3])
      e = int(rng.choice(sorted(set(range(14)) - big)))
      assert f(small) <= f(big) + 1e-5  # Monotone.
      gain_small = f(small | {e}) - f(small)
      gain_big = f(big | {e}) - f(big)
      assert gain_small >= gain_big - 1e-5 >= -2e-5  # Submodular, >= 0.
      np.testing.assert_allclose(f(big), ref[sorted(big)].max(0).sum(),
                                 rtol=1e-5)
  assert fl.objective(x, []) == 0.


@pytest.mark.parametrize('weighted', [False, True])
def test_same_picks_as_apricot_on_a_precomputed_matrix(weighted):
  """I = 1: apricot's lazy greedy. With I, rows scaled by I_j make the
  matrix asymmetric (apricot asks for a symmetric one) and apricot's lazy
  optimizer then departs from its own naive one, which is used instead."""
  x, imp = _data(n=300, d=8, seed=4)
  sim = np.float32(similarity(x))
  imp = imp if weighted else None
  # apricot reads row j as candidate j's similarities: fold I_j into rows.
  rows = sim * (1 if imp is None else imp[:, None])
  ranking, gains = apricot_select.facility_location(rows, 40,
                                                    lazy=not weighted)
  ours = fl.facility_location_precomputed(sim, 40, importance=imp)
  np.testing.assert_array_equal(ours.indices, ranking)
  np.testing.assert_allclose(ours.gains, gains, rtol=1e-4)


@pytest.mark.parametrize('metric', fl.METRICS)
def test_sparse_with_all_neighbours_equals_dense(metric):
  x, imp = _data(n=60, seed=5)
  dense = fl.facility_location(x, 20, importance=imp, metric=metric)
  sparse = fl.facility_location(x, 20, importance=imp, metric=metric,
                                num_neighbors=59)
  np.testing.assert_array_equal(sparse.indices, dense.indices)
  np.testing.assert_array_equal(sparse.weights, dense.weights)
  few = fl.facility_location(x, 20, importance=imp, metric=metric,
                             num_neighbors=5)
  assert len(set(few.indices.tolist())) == 20
  assert few.weights.sum() <= len(x)  # Points nobody covers count nowhere.


def test_budget_buckets_reuse_the_compiled_program():
  x, _ = _data(n=100, seed=7)
  program = fl._dense_program  # pylint: disable=protected-access
  fl.facility_location(x, 9)
  traces = program._cache_size()  # pylint: disable=protected-access
  fl.facility_location(x[:97], 12)  # Same N bucket, same budget bucket.
  assert program._cache_size() == traces  # pylint: disable=protected-access


def test_bad_input_raises():
  x, imp = _data(n=20)
  with pytest.raises(ValueError, match='budget=21'):
    fl.facility_location(x, 21)
  with pytest.raises(ValueError, match='budget'):
    fl.facility_location_precomputed(np.ones((5, 5)), 6)
  nan = x.copy()
  nan[3, 1] = np.nan
  with pytest.raises(ValueError, match='NaN or inf in rows'):
    fl.facility_location(nan, 5)
  with pytest.raises(ValueError, match='importance'):
    fl.facility_location(x, 5, importance=-imp)
  with pytest.raises(ValueError, match='metric'):
    fl.facility_location(x, 5, metric='manhattan')
  sim = np.float32(similarity(x))
  for value in (np.nan, np.inf, -0.5):
    bad = sim.copy()
    bad[4, 7] = value
    with pytest.raises(ValueError, match='NaN, inf or negative'):
      fl.facility_location_precomputed(bad, 5)
  with pytest.raises(ValueError, match=r'\[N, N\]'):
    fl.facility_location_precomputed(sim[:, :10], 5)
  assert len(fl.facility_location(x, 0).indices) == 0


_PICKS = """
import numpy as np
from al_jax.kernels import facility_location as fl


def picks(mesh):
  rng = np.random.default_rng(0)
  x = rng.standard_normal((203, 6)).astype(np.float32)  # 203 = 8 * 25 + 3.
  imp = rng.uniform(0.1, 1.0, 203).astype(np.float32)
  xn = x / np.linalg.norm(x, axis=1, keepdims=True)
  sim = 0.5 + 0.5 * xn @ xn.T
  runs = {
      'matrix': fl.facility_location(x, 40, importance=imp, mesh=mesh),
      'tiles': fl.facility_location(x, 40, importance=imp, mesh=mesh,
                                    metric='euclidean', matrix_bytes=0),
      'sparse': fl.facility_location(x, 40, mesh=mesh, num_neighbors=10),
      'given': fl.facility_location_precomputed(sim, 40, importance=imp,
                                                mesh=mesh),
  }
  return {k: [r.indices.tolist(), r.weights.tolist(), r.gains.tolist()]
          for k, r in runs.items()}
"""


def test_eight_devices_pick_what_one_picks():
  many, one = same_on_eight_devices(_PICKS)
  assert many == one  # Picks, weights and (bitwise) gains.
