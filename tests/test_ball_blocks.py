"""Ball-bounded blocks: the layout covers the pool, bounds hold, pruning is
exact (same picks as dense passes) and actually skips work."""

import jax
import numpy as np
import pytest

from al_jax import sharding
from al_jax.kernels import ball_blocks, kcenter, kmeanspp, pruned_greedy


def _blobs(n=6000, d=12, comps=12, seed=0):
  """Well-separated blobs of intrinsic dimension 3 in d dimensions."""
  rng = np.random.default_rng(seed)
  centre = rng.standard_normal((comps, d)) * 4
  basis = rng.standard_normal((comps, 3, d))
  label = rng.integers(0, comps, n)
  z = rng.standard_normal((n, 3)) * 0.3
  x = centre[label] + np.einsum('nq,nqd->nd', z, basis[label])
  return x.astype(np.float32)


def test_layout_covers_pool_and_balls_hold():
  x = _blobs(n=3001)
  blocks, slot = ball_blocks.build((x,), 'plain',
                                   sharding.one_device_mesh(), rows=64)
  index = np.asarray(blocks.index).reshape(-1)
  assert sorted(index[index < 3001].tolist()) == list(range(3001))
  np.testing.assert_array_equal(index[slot], np.arange(3001))
  rows = np.asarray(blocks.features[0]).reshape(-1, 12)
  np.testing.assert_array_equal(rows[slot], x)
  # Every real row is inside the ball of its segment.
  segment = np.asarray(blocks.second).reshape(-1)
  block = np.repeat(np.arange(len(blocks.second)), 64)
  centre = np.asarray(blocks.centre)[block, segment.astype(int)]
  gap = np.linalg.norm(rows.astype(np.float64) - centre, axis=1)
  radius = np.asarray(blocks.radius)[block, segment.astype(int)]
  real = index < 3001
  assert (gap[real] <= radius[real]).all()
  # Nearby rows share blocks: blocks are much tighter than the pool.
  assert np.median(np.asarray(blocks.radius)[:, 0]) < 0.25 * gap.max()


def test_outer_layout_matches_materialized():
  rng = np.random.default_rng(1)
  a = rng.standard_normal((500, 3)).astype(np.float32)
  z = _blobs(n=500, d=5)
  g = np.einsum('nc,nd->ncd', a, z).reshape(500, -1)
  mesh = sharding.one_device_mesh()
  outer, slot = ball_blocks.build((a, z), 'outer', mesh, rows=32)
  np.testing.assert_allclose(
      np.asarray(outer.norms).reshape(-1)[slot], (g**2).sum(1), rtol=1e-5)
  flat = ball_blocks.embed(tuple(np.asarray(f).reshape(-1, f.shape[-1])
                                 for f in outer.features), 'outer')
  np.testing.assert_allclose(np.asarray(flat)[slot], g, rtol=1e-6)


@pytest.mark.parametrize('method', ['kcenter', 'kmeanspp', 'badge'])
def test_pruned_steps_pick_what_dense_steps_pick(method, monkeypatch):
  x = _blobs()
  a = np.random.default_rng(2).standard_normal((len(x), 4)).astype(
      np.float32)
  labeled = np.zeros(len(x), bool)
  labeled[::500] = True

  def run():
    if method == 'kcenter':
      return kcenter.kcenter_greedy(x, labeled, 150, with_reads=True)
    if method == 'kmeanspp':
      return kmeanspp.kmeanspp_seed(x, 150, jax.random.key(5), ~labeled,
                                    with_reads=True)
    return kmeanspp.kmeanspp_seed_outer(a, x, 150, jax.random.key(5),
                                        with_reads=True)

  monkeypatch.setattr(ball_blocks, 'block_rows', lambda features: 64)
  monkeypatch.setattr(pruned_greedy, '_DENSE_ABOVE', 2.0)  # Never dense.
  pruned, reads = run()
  monkeypatch.setattr(pruned_greedy, '_DENSE_ABOVE', -1.0)  # Always dense.
  dense, _ = run()
  np.testing.assert_array_equal(pruned, dense)
  # Exact pruning skips most of a clustered pool after a few steps.
  if method != 'badge':
    n_blocks = -(-len(x) // 64)
    assert reads.max() <= n_blocks
    if method == 'kmeanspp':
      assert reads[0] == n_blocks  # No centre yet: the first step reads all.
    assert reads[50:].mean() < 0.3 * n_blocks


def test_d2_draws_follow_two_level_inverse_cdf():
  """Same picks as float64 numpy D² sampling over the block layout (a block
  by its sum of m, then a row of it), driven by the same uniforms."""
  x = _blobs(n=2000)
  key = jax.random.key(7)
  picks = kmeanspp.kmeanspp_seed(x, 60, key)
  blocks, _ = ball_blocks.build((x,), 'plain', sharding.one_device_mesh())
  index = np.asarray(blocks.index)
  rows = np.concatenate([x, np.zeros((1, 12), np.float32)])[index].astype(
      np.float64)  # [B, S, D], padding rows zero.
  u = kmeanspp.uniforms(key, 60)
  min_d = np.full(index.shape, np.inf)
  free = index < len(x)
  want = []
  for i in range(60):
    w = free * 1.0 if i == 0 else np.where(free, min_d, 0)
    block_w = w.sum(1)
    b = int(np.searchsorted(np.cumsum(block_w), u[i, 0] * block_w.sum(),
                            side='right'))
    r = int(np.searchsorted(np.cumsum(w[b]), u[i, 1] * w[b].sum(),
                            side='right'))
    want.append(index[b, r])
    free[b, r] = False
    min_d = np.minimum(min_d, ((rows - rows[b, r])**2).sum(-1))
  np.testing.assert_array_equal(picks, want)
