"""Greedy k-center vs a numpy farthest-first reference and the optimum."""

import itertools

import jax
import numpy as np
import pytest
from conftest import same_on_eight_devices

from al_jax.kernels import (ball_blocks, kcenter, partition, pruned_greedy,
                            shapes)



def farthest_first(x, labeled, k, first=None):
  """Plain numpy (float64) greedy k-center, lowest index on ties."""
  x = np.float64(x)
  min_d = np.full(len(x), np.inf)
  centers = list(np.flatnonzero(labeled))
  if not centers:
    centers = [first]
  for c in centers:
    min_d = np.minimum(min_d, ((x - x[c])**2).sum(1))
  taken = labeled.copy()
  picks = [] if labeled.any() else [first]
  taken[picks] = True
  while len(picks) < k:
    j = int(np.argmax(np.where(taken, -np.inf, min_d)))
    picks.append(j)
    taken[j] = True
    min_d = np.minimum(min_d, ((x - x[j])**2).sum(1))
  return np.array(picks)


def assert_greedy(x, labeled, picks):
  """Each pick is a farthest point (float64) from the labeled rows and the
  earlier picks, up to the float32 rounding of the expanded distance
  ||x||² + ||c||² - 2x·c on both sides of the comparison."""
  x = np.float64(x)
  norms = (x**2).sum(1)
  tol = 2 * (2 * x.shape[1] + 4) * 2.0**-24 * 2 * norms.max()
  min_d = np.full(len(x), np.inf)
  for c in np.flatnonzero(labeled):
    min_d = np.minimum(min_d, ((x - x[c])**2).sum(1))
  taken = labeled.copy()
  for j in picks:
    assert not taken[j]
    assert min_d[j] >= np.where(taken, -np.inf, min_d).max() - tol
    taken[j] = True
    min_d = np.minimum(min_d, ((x - x[j])**2).sum(1))


def _pool(n=203, d=5, n_labeled=3, seed=0):
  rng = np.random.default_rng(seed)
  x = rng.standard_normal((n, d)).astype(np.float32)
  labeled = np.zeros(n, bool)
  labeled[rng.choice(n, n_labeled, replace=False)] = True
  return x, labeled


@pytest.mark.parametrize('n_labeled,block', [(3, 16), (40, 16), (1, 1024)])
def test_matches_numpy_reference(n_labeled, block):
  x, labeled = _pool(n_labeled=n_labeled)
  picks = kcenter.kcenter_greedy(x, labeled, 25, block=block)
  np.testing.assert_array_equal(picks, farthest_first(x, labeled, 25))
  assert picks.dtype == np.int64


def test_first_center_from_key_when_nothing_is_labeled():
  x, _ = _pool()
  none = np.zeros(len(x), bool)
  key = jax.random.key(7)
  picks = kcenter.kcenter_greedy(x, none, 12, key=key)
  first = int(jax.random.randint(key, (), 0, len(x)))
  np.testing.assert_array_equal(picks, farthest_first(x, none, 12, first))
  with pytest.raises(ValueError, match='PRNG key'):
    kcenter.kcenter_greedy(x, none, 3)


def test_lowest_index_wins_ties():
  x = np.array([[0.], [1.], [-1.], [2.], [-2.]], np.float32)
  picks = kcenter.kcenter_greedy(x, np.array([1, 0, 0, 0, 0], bool), 4)
  np.testing.assert_array_equal(picks, [3, 4, 1, 2])


def test_within_twice_the_optimal_radius():
  for seed in range(4):
    x = np.random.default_rng(seed).uniform(size=(10, 2)).astype(np.float32)
    d = np.sqrt(((np.float64(x)[:, None] - x[None])**2).sum(-1))
    best = min(d[:, list(s)].min(1).max()
               for s in itertools.combinations(range(10), 3))
    for key in range(3):
      picks = kcenter.kcenter_greedy(x, np.zeros(10, bool), 3,
                                     key=jax.random.key(key))
      assert kcenter.covering_radius(x, picks) <= 2 * best + 1e-6


def test_never_labeled_never_twice_even_on_duplicates():
  x = np.repeat(np.arange(6, dtype=np.float32)[:, None], 5, axis=0)  # 30 rows.
  labeled = np.zeros(30, bool)
  labeled[[0, 7, 29]] = True
  picks = kcenter.kcenter_greedy(x, labeled, 27)
  np.testing.assert_array_equal(np.sort(picks), np.flatnonzero(~labeled))
  with pytest.raises(ValueError, match='unlabeled'):
    kcenter.kcenter_greedy(x, labeled, 28)


def test_labeled_set_growth_reuses_compilation():
  assert [shapes.bucket(n, 16) for n in (0, 1, 3, 5, 16, 17, 40)] == [
      0, 1, 4, 8, 16, 32, 48]
  x, labeled = _pool(n_labeled=20)
  kcenter.kcenter_greedy(x, labeled, 5, block=16)
  programs = (kcenter._initial_distances, pruned_greedy._program)
  sizes = [p._cache_size() for p in programs]
  labeled[np.flatnonzero(~labeled)[:10]] = True  # 30 labeled: same bucket.
  picks = kcenter.kcenter_greedy(x, labeled, 5, block=16)
  assert [p._cache_size() for p in programs] == sizes
  np.testing.assert_array_equal(picks, farthest_first(x, labeled, 5))


def test_partitioned_takes_k_over_m_from_each_part():
  x, labeled = _pool(n=200, n_labeled=20)
  key = jax.random.key(3)

  def select(idx, k_j, key_j):
    return kcenter.kcenter_greedy(x[idx], labeled[idx], k_j, key=key_j)

  picks = partition.partitioned(select, len(x), 3, 10, key)
  parts = partition.split(len(x), 3, jax.random.split(key)[0])
  assert [len(p) for p in parts] == [67, 67, 66]
  assert sorted(np.concatenate(parts).tolist()) == list(range(200))
  assert partition.budgets(10, 3) == [4, 3, 3]
  counts = [np.isin(picks, p).sum() for p in parts]
  assert counts == [4, 3, 3]
  assert len(set(picks.tolist())) == 10 and not labeled[picks].any()
  np.testing.assert_array_equal(
      picks, partition.partitioned(select, len(x), 3, 10, key))
  # Each part is greedy k-center on its own sub-pool.
  np.testing.assert_array_equal(
      picks[:4], parts[0][farthest_first(x[parts[0]], labeled[parts[0]], 4)])


_PICKS = """
import numpy as np
import jax
from al_jax import sharding
from al_jax.kernels import ball_blocks, kcenter, pruned_greedy


def lattice(mesh, k=40):
  # k-center on a shuffled integer lattice full of duplicates, in 8-row
  # blocks: many exact ties, within and across blocks (and devices).
  rng = np.random.default_rng(3)
  x = rng.integers(0, 4, (400, 2)).astype(np.float32)
  labeled = np.zeros(400, bool)
  labeled[[5, 77]] = True
  mesh = mesh or sharding.one_device_mesh()
  blocks, slot = ball_blocks.build((x,), 'plain', mesh, rows=8)
  m = ((x[:, None] - x[labeled][None])**2).sum(-1).min(1)
  picks = pruned_greedy.select(
      blocks, slot, ~labeled, ball_blocks.layout(m, slot, blocks, np.inf, mesh),
      k, 'plain', mesh)
  return x, labeled, picks


def picks(mesh):
  rng = np.random.default_rng(0)
  x = rng.standard_normal((203, 6)).astype(np.float32)  # 203 = 8 * 25 + 3.
  labeled = np.zeros(203, bool)
  labeled[rng.choice(203, 20, replace=False)] = True
  rows, ball_blocks.block_rows = ball_blocks.block_rows, lambda _: 16
  try:  # 13 blocks of 16 rows, padded to 16 over 8 devices.
    return picks_of(x, labeled, mesh)
  finally:
    ball_blocks.block_rows = rows


def picks_of(x, labeled, mesh):
  return {
      'labeled': kcenter.kcenter_greedy(x, labeled, 30, mesh=mesh,
                                        block=16).tolist(),
      'unlabeled': kcenter.kcenter_greedy(x, np.zeros_like(labeled), 30,
                                          key=jax.random.key(1),
                                          mesh=mesh).tolist(),
      'lattice': lattice(mesh)[2].tolist(),
  }
"""


@pytest.mark.parametrize('dense_above', [2.0, -1.0])  # Never / always dense.
@pytest.mark.parametrize('lookahead', [0, 32])
def test_ties_across_blocks_go_to_the_lowest_index(dense_above, lookahead,
                                                   monkeypatch):
  monkeypatch.setattr(pruned_greedy, '_DENSE_ABOVE', dense_above)
  monkeypatch.setattr(pruned_greedy, '_LOOKAHEAD', lookahead)
  scope = {}
  exec(_PICKS, scope)  # pylint: disable=exec-used
  x, labeled, picks = scope['lattice'](None)
  np.testing.assert_array_equal(picks, farthest_first(x, labeled, 40))


def test_eight_devices_pick_what_one_picks():
  many, one = same_on_eight_devices(_PICKS)
  assert many == one
  assert len(set(many['labeled'])) == 30


def test_ordering_only_where_it_can_pay_and_picks_never_depend_on_it(
    monkeypatch):
  rng = np.random.default_rng(0)
  gauss = rng.standard_normal((3000, 32)).astype(np.float32)
  centres = rng.standard_normal((20, 32)) * 10
  blobs = (centres[rng.integers(0, 20, 3000)] +
           rng.standard_normal((3000, 32)) * 0.1).astype(np.float32)
  assert not kcenter.worth_ordering(gauss, 100)
  assert kcenter.worth_ordering(blobs, 100)
  assert not kcenter.worth_ordering(blobs, 5)  # Fewer centres than blobs.
  labeled = np.zeros(3000, bool)
  labeled[:3] = True
  for x in (gauss, blobs):
    picks = {}
    for ordered in (False, True):
      monkeypatch.setattr(kcenter, 'worth_ordering', lambda *_, o=ordered: o)
      picks[ordered], reads = kcenter.kcenter_greedy(x, labeled, 60,
                                                     with_reads=True)
      if not ordered:  # Every step one dense pass or a cached column.
        assert set(reads) <= {0, -(-len(x) // ball_blocks.block_rows((x,)))}
    np.testing.assert_array_equal(picks[False], picks[True])
    # Against float64: each pick is farthest up to float32 near-ties.
    assert_greedy(x, labeled, picks[True])


def test_lookahead_makes_few_passes_and_picks_what_single_steps_pick(
    monkeypatch):
  """A dense pass also computes the distances to 31 likely next picks; on
  unclustered data most later picks are among them and cost no pass."""
  rng = np.random.default_rng(4)
  x = rng.standard_normal((4000, 16)).astype(np.float32)
  labeled = np.zeros(4000, bool)
  labeled[:5] = True
  monkeypatch.setattr(ball_blocks, 'block_rows', lambda features: 64)
  picks = {}
  for lookahead in (0, 32):
    monkeypatch.setattr(pruned_greedy, '_LOOKAHEAD', lookahead)
    picks[lookahead], reads = kcenter.kcenter_greedy(x, labeled, 100,
                                                     with_reads=True)
    if lookahead:
      assert (reads > 0).sum() < 20
    else:
      assert (reads == reads.max()).all()  # Every step one dense pass.
  np.testing.assert_array_equal(picks[0], picks[32])
  assert_greedy(x, labeled, picks[32])
