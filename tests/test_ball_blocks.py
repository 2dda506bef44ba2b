"""Ball-bounded blocks: the layout covers the pool, bounds hold, pruning is
exact (same picks as dense passes) and actually skips work."""

import jax
import numpy as np

from al_jax import sharding
from al_jax.kernels import (ball_blocks, factor_rows, kcenter, kmeanspp,
                            pruned_greedy)


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
  flat = factor_rows.embed(tuple(np.asarray(f).reshape(-1, f.shape[-1])
                                 for f in outer.features), 'outer')
  np.testing.assert_allclose(np.asarray(flat)[slot], g, rtol=1e-6)


def test_pruned_steps_pick_what_dense_steps_pick(monkeypatch):
  x = _blobs()
  labeled = np.zeros(len(x), bool)
  labeled[::500] = True
  run = lambda: kcenter.kcenter_greedy(x, labeled, 150, with_reads=True)
  monkeypatch.setattr(ball_blocks, 'block_rows', lambda features: 64)
  monkeypatch.setattr(pruned_greedy, '_DENSE_ABOVE', 2.0)  # Never dense.
  pruned, reads = run()
  monkeypatch.setattr(pruned_greedy, '_DENSE_ABOVE', -1.0)  # Always dense.
  dense, _ = run()
  np.testing.assert_array_equal(pruned, dense)
  # Exact pruning skips most of a clustered pool after a few steps.
  n_blocks = -(-len(x) // 64)
  assert reads.max() <= n_blocks
  assert reads[50:].mean() < 0.3 * n_blocks


def test_d2_draws_follow_rejection_from_snapshots():
  """Same picks as float64 numpy D² sampling by rejection: each pass draws
  G proposals from the snapshot of m (a block by its sum of m, then a row of
  it), each accepted when u * m_snapshot < m, driven by the same uniforms."""
  x = _blobs(n=2000)
  key, k = jax.random.key(7), 60
  picks, reads = kmeanspp.kmeanspp_seed(x, k, key, with_reads=True)
  blocks, _ = ball_blocks.build((x,), 'plain', sharding.one_device_mesh(),
                                ordered=False)
  index = np.asarray(blocks.index)
  rows = np.concatenate([x, np.zeros((1, 12), np.float32)])[index].astype(
      np.float64)  # [B, S, D], padding rows zero.
  size = min(kmeanspp.PROPOSALS, k)
  m = np.full(index.shape, np.inf)
  free = index < len(x)
  want, proposals, passes = [], [], 0
  while len(want) < k:
    if not proposals:
      u = np.asarray(kmeanspp.uniforms(key, passes, size))
      w = np.where(free, m, 0)
      if not want or w.sum() <= 0:
        w = free * 1.0
      block_w = w.sum(1)
      for u_block, u_row, u_accept in u:
        b = int(np.searchsorted(np.cumsum(block_w), u_block * block_w.sum(),
                                side='right'))
        r = int(np.searchsorted(np.cumsum(w[b]), u_row * w[b].sum(),
                                side='right'))
        proposals.append((b, r, m[b, r], u_accept))
      passes += 1
    b, r, snapshot, u_accept = proposals.pop(0)
    now = m[b, r] if free[b, r] else -1
    if now >= 0 and (u_accept * snapshot < now or now == snapshot):
      want.append(index[b, r])
      free[b, r] = False
      m = np.minimum(m, ((rows - rows[b, r])**2).sum(-1))
  np.testing.assert_array_equal(picks, want)
  assert (reads > 0).sum() == passes < k / 4  # Most proposals accepted.
