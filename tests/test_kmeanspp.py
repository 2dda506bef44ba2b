"""k-means++ seeding: D² law, factorized == materialized, sharding."""

import functools
import itertools

import jax
import numpy as np
import pytest
from conftest import same_on_eight_devices
from scipy import stats

from al_jax import sharding
from al_jax.kernels import ball_blocks, kmeanspp, partition
from al_jax.scores import gradients



def _badge_pool(n=203, c=4, d=6, seed=0):
  rng = np.random.default_rng(seed)
  a = np.asarray(gradients.badge_factors(
      rng.standard_normal((n, c)).astype(np.float32) * 2))
  z = rng.standard_normal((n, d)).astype(np.float32)
  return a, z


def test_badge_factors():
  logits = np.random.default_rng(0).standard_normal((9, 5)).astype(np.float32)
  p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
  want = p - np.eye(5)[p.argmax(1)]
  np.testing.assert_allclose(gradients.badge_factors(logits), want, atol=1e-6)


def _draws(x, n_keys, k=2, size=None):
  """[n_keys, k] seedings of x for keys split from key(0), vmapped."""
  mesh = sharding.one_device_mesh()
  blocks, slot = ball_blocks.build((x,), 'plain', mesh, ordered=False)
  available = ball_blocks.layout(np.ones(len(x), bool), slot, blocks, False,
                                 mesh)
  program = functools.partial(kmeanspp._program, k=k, kind='plain',
                              mesh=mesh, size=size or k)
  draw = jax.jit(jax.vmap(lambda key: program(blocks, available, key)[0]))
  return np.asarray(draw(jax.random.split(jax.random.key(0), n_keys)))


def test_d2_sampling_frequencies():
  pos = np.array([0, 1, 2, 4, 7, 11], np.float32)
  x = np.stack([pos, np.zeros_like(pos)], 1)
  draws = _draws(x, 24_000)
  # First center uniform.
  assert stats.chisquare(np.bincount(draws[:, 0], minlength=6)).pvalue > 1e-3
  # Second center, for each fixed first center: P(j) ∝ min squared distance.
  for first in range(6):
    second = draws[draws[:, 0] == first, 1]
    w = (np.float64(pos) - pos[first])**2
    observed = np.bincount(second, minlength=6)
    assert observed[first] == 0
    keep = w > 0
    expected = w[keep] / w.sum() * len(second)
    assert stats.chisquare(observed[keep], expected).pvalue > 1e-3


def test_d2_law_of_accepted_proposals():
  """The third pick is the second proposal of a pass drawn before the second
  pick lowered m: accepted with probability m / m_snapshot, it must follow
  m after both picks (one chi-square over all (first, second) pairs)."""
  pos = np.array([0, 1, 2, 4, 7, 11], np.float32)
  x = np.stack([pos, np.zeros_like(pos)], 1)
  draws = _draws(x, 40_000, k=3, size=3)
  d2 = (np.float64(pos)[:, None] - pos[None])**2
  chi2, dof = 0.0, 0
  for first, second in itertools.permutations(range(6), 2):
    third = draws[(draws[:, 0] == first) & (draws[:, 1] == second), 2]
    observed = np.bincount(third, minlength=6)
    w = np.minimum(d2[first], d2[second])
    assert observed[w == 0].sum() == 0
    expected = w[w > 0] / w.sum() * len(third)
    chi2 += ((observed[w > 0] - expected)**2 / expected).sum()
    dof += (w > 0).sum() - 1
  assert stats.chi2.sf(chi2, dof) > 1e-3


def test_candidates_only_distinct_and_all():
  a, z = _badge_pool()
  candidates = np.arange(203) % 4 != 0
  for k in (20, int(candidates.sum())):
    picks = kmeanspp.kmeanspp_seed_outer(a, z, k, jax.random.key(k),
                                         candidate_mask=candidates)
    assert candidates[picks].all() and len(set(picks.tolist())) == k
  np.testing.assert_array_equal(np.sort(picks), np.flatnonzero(candidates))
  with pytest.raises(ValueError, match='candidates'):
    kmeanspp.kmeanspp_seed(z, 153, jax.random.key(0), candidates)


def test_zero_weights_fall_back_to_uniform():
  x = np.repeat(np.eye(3, dtype=np.float32), 4, axis=0)  # 3 points, 4 copies.
  picks = kmeanspp.kmeanspp_seed(x, 12, jax.random.key(0))
  assert sorted(set(picks[:3] // 4)) == [0, 1, 2]  # D² covers all 3 first.
  np.testing.assert_array_equal(np.sort(picks), np.arange(12))


def test_factorized_equals_materialized():
  a, z = _badge_pool()
  g = np.stack([np.kron(a[i], z[i]) for i in range(len(a))])
  candidates = np.arange(203) % 5 != 2
  for seed in range(5):
    key = jax.random.key(seed)
    outer = kmeanspp.kmeanspp_seed_outer(a, z, 40, key, candidates)
    np.testing.assert_array_equal(
        outer, kmeanspp.kmeanspp_seed(g, 40, key, candidates))
  assert not np.array_equal(
      outer, kmeanspp.kmeanspp_seed_outer(a, z, 40, jax.random.key(99),
                                          candidates))


def test_same_key_same_picks_one_compilation():
  a, z = _badge_pool()
  first = kmeanspp.kmeanspp_seed_outer(a, z, 10, jax.random.key(1))
  size = kmeanspp._program._cache_size()
  np.testing.assert_array_equal(
      first, kmeanspp.kmeanspp_seed_outer(a, z, 10, jax.random.key(1)))
  kmeanspp.kmeanspp_seed_outer(a, z, 10, jax.random.key(2))
  assert kmeanspp._program._cache_size() == size


def test_partitioned_badge():
  a, z = _badge_pool(n=120)

  def select(idx, k_j, key_j):
    return kmeanspp.kmeanspp_seed_outer(a[idx], z[idx], k_j, key_j)

  picks = partition.partitioned(select, 120, 4, 14, jax.random.key(0))
  parts = partition.split(120, 4, jax.random.split(jax.random.key(0))[0])
  assert [np.isin(picks, p).sum() for p in parts] == [4, 4, 3, 3]
  assert len(set(picks.tolist())) == 14


_PICKS = """
import numpy as np
import jax
from al_jax.kernels import ball_blocks, kmeanspp
from al_jax.scores import gradients


def picks(mesh):
  rng = np.random.default_rng(0)
  x = rng.standard_normal((203, 6)).astype(np.float32)  # 203 = 8 * 25 + 3.
  a = np.asarray(gradients.badge_factors(rng.standard_normal((203, 4))))
  candidates = np.arange(203) % 3 != 0
  key = jax.random.key(5)
  rows, ball_blocks.block_rows = ball_blocks.block_rows, lambda _: 16
  try:  # 13 blocks of 16 rows, padded to 16 over 8 devices.
    return picks_of(x, a, candidates, key, mesh)
  finally:
    ball_blocks.block_rows = rows


def picks_of(x, a, candidates, key, mesh):
  return {
      'plain': kmeanspp.kmeanspp_seed(x, 30, key, mesh=mesh).tolist(),
      'outer': kmeanspp.kmeanspp_seed_outer(a, x, 30, key, candidates,
                                            mesh=mesh).tolist(),
  }
"""


def test_eight_devices_pick_what_one_picks():
  many, one = same_on_eight_devices(_PICKS)
  assert many == one
