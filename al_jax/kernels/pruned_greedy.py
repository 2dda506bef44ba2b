"""Greedy k-center and k-means++ steps that skip what cannot change.

Each step adds one center c and lowers every candidate's squared distance m
to its nearest center. Over the `ball_blocks` layout a step first bounds,
for each block segment, the distance from any of its rows to c
(||μ - c|| - r) and reads only the blocks where that bound does not exceed
sqrt(max m) of the segment's candidates: the others cannot change. Float32
rounding is covered by margins (γ·(||x||² + ||c||²) on the expanded
distance, γ·||μ - c|| on the bound), so a skipped row's computed distance
would not have lowered its m either: skipping is exact, and the picks equal
those of dense passes (tested). Steps that must read more than
`_DENSE_ABOVE` of the blocks (early steps, unclustered data) run one dense
pass instead of the block loop; both compute the same per-row numbers.

Selection rules:
  'farthest': greedy k-center; the candidate with the largest m, the lowest
    pool index on ties.
  'd2': k-means++; inverse-CDF sampling of a candidate with probability
    m / sum m: a block with probability (its sum of m) / (sum of m), then a
    row of it with probability m / (the block's sum), with two uniforms per
    step (`kmeanspp.uniforms`). The first draw (and any draw
    where every m is 0) is uniform over the candidates. Picks depend on the
    block order (the CDF is taken in that order); the law is exactly D²
    sampling.

Per-block summaries are all-gathered each step (B numbers per device), so 1
and 8 devices pick the same.

Dimensions: as in `ball_blocks`; K budget.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import PartitionSpec as P

from al_jax import sharding
from al_jax.kernels import ball_blocks

# Fraction of blocks above which a step runs one dense pass: on CPU the block
# loop streams ~5x slower (one thread per device) than the dense product.
_DENSE_ABOVE = 0.2


class _Stats(NamedTuple):
  """Per-block summaries of the candidates' m, [B_local] each."""
  top: jax.Array  # max m over candidates, -1 if none
  top_index: jax.Array  # lowest pool index attaining it
  top_slot: jax.Array  # its row within the block
  total: jax.Array  # sum of m over candidates
  count: jax.Array  # number of candidates
  segment_top: jax.Array  # [B_local, 2] max m over each segment's candidates


def _stats(min_d, available, index, second, rule):
  """[..., S] m, candidate mask, pool index, second segment -> _Stats.

  Only the fields `rule` reads are computed (the others are zeros): in a
  dense step these reductions are the cost beyond the distance pass.
  """
  score = jnp.where(available, min_d, -1.0)
  segment_top = jnp.stack([jnp.max(jnp.where(second, -1.0, score), axis=-1),
                           jnp.max(jnp.where(second, score, -1.0), axis=-1)],
                          axis=-1)
  top = jnp.max(segment_top, axis=-1)
  zero = jnp.zeros(top.shape, jnp.int32)
  if rule == 'farthest':
    # Rows are sorted by pool index within a block, so the first row at the
    # top has the lowest index. A masked min: on CPU much faster than XLA's
    # argmin reduction.
    rows = jnp.arange(score.shape[-1], dtype=jnp.int32)
    top_slot = jnp.min(jnp.where(score == top[..., None], rows,
                                 score.shape[-1] - 1), axis=-1)
    top_index = jnp.take_along_axis(index, top_slot[..., None], -1)[..., 0]
    return _Stats(top, top_index, top_slot, zero.astype(jnp.float32),
                  zero.astype(jnp.float32), segment_top)
  total = jnp.sum(jnp.where(available, min_d, 0), axis=-1)
  count = jnp.sum(available, axis=-1).astype(jnp.float32)
  return _Stats(top, zero, zero, total, count, segment_top)


def _gather(tree):
  """All-gathered [B] global arrays from [B_local] ones."""
  return jax.tree.map(
      lambda v: lax.all_gather(v, sharding.DATA_AXIS, tiled=True), tree)


def _farthest(stats):
  """(block, row) of the largest m, lowest pool index on ties."""
  best = jnp.max(stats.top)
  big = jnp.iinfo(jnp.int32).max
  b = jnp.argmin(jnp.where(stats.top == best, stats.top_index, big))
  return b.astype(jnp.int32), stats.top_slot[b]


def _inverse_cdf(weights, target):
  """First entry whose running sum exceeds target, among weights > 0.

  Rounding can leave no such entry: then the last positive one.
  """
  cum = jnp.cumsum(weights)
  hit = (cum > target) & (weights > 0)
  last = weights.shape[0] - 1 - jnp.argmax((weights > 0)[::-1])
  return jnp.where(jnp.any(hit), jnp.argmax(hit), last).astype(jnp.int32)


def _program_impl(blocks, available, min_d, key, first, *, k, kind, rule,
                  mesh, dense_above=_DENSE_ABOVE):
  """All K steps in one compiled loop; see `select` for the arguments."""
  dot_width = ball_blocks.dot_width(blocks.features, kind)
  embed_width = blocks.centre.shape[-1]
  gamma_dot = 2 * dot_width * ball_blocks.EPS + 4 * ball_blocks.EPS
  gamma_lb = 2 * embed_width * ball_blocks.EPS

  def local(blocks, available, min_d, key, first):
    n_local, rows = available.shape
    offset = lax.axis_index(sharding.DATA_AXIS) * n_local
    block_id = offset + jnp.arange(n_local, dtype=jnp.int32)
    n_total = n_local * lax.psum(1, sharding.DATA_AXIS)

    def choose(i, stats, min_d, available):
      g = _gather(stats)
      if rule == 'farthest':
        b, row = _farthest(g)
        b = jnp.where((i == 0) & (first[0] >= 0), first[0], b)
        row = jnp.where((i == 0) & (first[0] >= 0), first[1], row)
        return b, row
      uniform = (i == 0) | (jnp.sum(g.total) <= 0)
      weights = jnp.where(uniform, g.count, g.total)
      # Two uniforms, one for the block and one within it: a single float32
      # uniform over the whole pool would resolve only ~1e-7 of the total
      # weight, coarser than one row's share in a large pool.
      u = jax.random.uniform(jax.random.fold_in(key, i), (2,))
      b = _inverse_cdf(weights, u[0] * jnp.sum(weights))
      j = jnp.clip(b - offset, 0, n_local - 1)
      w = jnp.where(available[j], jnp.where(uniform, 1.0, min_d[j]), 0)
      row = _inverse_cdf(w, u[1] * jnp.sum(w))
      own = (b >= offset) & (b < offset + n_local)
      return b, lax.psum(jnp.where(own, row, 0), sharding.DATA_AXIS)

    def step(i, carry):
      min_d, available, stats, picks, reads = carry
      b, row = choose(i, stats, min_d, available)
      j = jnp.clip(b - offset, 0, n_local - 1)
      own = (b >= offset) & (b < offset + n_local)
      center, pick = jax.tree.map(
          lambda v: lax.psum(jnp.where(own, v[j, row], 0),
                             sharding.DATA_AXIS),
          (blocks.features, blocks.index))
      available = available.at[j, row].set(available[j, row] & ~own)
      cc = ball_blocks.row_norms(tuple(c[None] for c in center), kind)[0]
      c_flat = ball_blocks.embed(tuple(c[None] for c in center), kind)[0]
      lower = (jnp.sqrt(jnp.sum(jnp.square(blocks.centre - c_flat), axis=2))
               * (1 - gamma_lb) - blocks.radius)
      margin = gamma_dot * (blocks.max_norm + cc)
      reach = (lower <= 0) | (jnp.square(lower) <= stats.segment_top +
                                margin[:, None])
      active = (jnp.any(reach, axis=1) |
                (block_id == b))
      n_active = lax.psum(jnp.sum(active), sharding.DATA_AXIS)

      def dense(min_d, stats):
        flat = tuple(f.reshape((-1,) + f.shape[2:]) for f in blocks.features)
        d = ball_blocks.distance_to(flat, blocks.norms.reshape(-1), center, kind)
        new = jnp.where(active[:, None],
                        jnp.minimum(min_d, d.reshape(min_d.shape)), min_d)
        fresh = _stats(new, available, blocks.index, blocks.second, rule)
        return new, jax.tree.map(
            lambda f, s: jnp.where(
                active.reshape(active.shape + (1,) * (f.ndim - 1)), f, s),
            fresh, stats)

      def sparse(min_d, stats):
        # Results go to buffers indexed by the loop counter and are
        # scattered back once: updating the carried [B, S] array in place
        # inside the loop makes XLA copy all of it every iteration.
        ids = jnp.nonzero(active, size=n_local, fill_value=n_local)[0]

        def one(t, out):
          rows_out, stats_out = out
          blk = jnp.minimum(ids[t], n_local - 1)
          feats = tuple(f[blk] for f in blocks.features)
          d = ball_blocks.distance_to(feats, blocks.norms[blk], center, kind)
          new = jnp.minimum(min_d[blk], d)
          fresh = _stats(new, available[blk], blocks.index[blk],
                         blocks.second[blk], rule)
          put = lambda buf, v: lax.dynamic_update_index_in_dim(buf, v, t, 0)
          return put(rows_out, new), jax.tree.map(put, stats_out, fresh)

        rows_out, stats_out = lax.fori_loop(
            0, jnp.sum(active), one, (jnp.zeros_like(min_d), stats))
        put = lambda v, u: v.at[ids].set(u, mode='drop')
        return put(min_d, rows_out), jax.tree.map(put, stats, stats_out)

      min_d, stats = lax.cond(n_active > dense_above * n_total, dense,
                              sparse, min_d, stats)
      return (min_d, available, stats, picks.at[i].set(pick),
              reads.at[i].set(n_active))

    stats = _stats(min_d, available, blocks.index, blocks.second, rule)
    init = (min_d, available, stats, jnp.zeros((k,), jnp.int32),
            jnp.zeros((k,), jnp.int32))
    return lax.fori_loop(0, k, step, init)[3:]

  data = P(sharding.DATA_AXIS)
  return jax.shard_map(
      local, mesh=mesh, in_specs=(data, data, data, P(), P()),
      out_specs=(P(), P()), check_vma=False)(blocks, available, min_d, key,
                                             first)


_program = jax.jit(_program_impl,
                   static_argnames=('k', 'kind', 'rule', 'mesh',
                                    'dense_above'))


def select(blocks: ball_blocks.Blocks, slot: np.ndarray, available: np.ndarray,
           min_d, k: int, key: jax.Array, rule: str, kind: str,
           mesh: jax.sharding.Mesh, first: int = -1,
           with_reads: bool = False):
  """K greedy picks over the blocks.

  Args:
    blocks, slot: from `build`.
    available: [N] bool host mask of rows that may be picked.
    min_d: [B, S] float32 device array, the initial m (+inf: no center yet).
    k: budget K, at most available.sum().
    key: PRNG key (rule 'd2'; unused by 'farthest').
    rule: 'farthest' or 'd2'.
    kind: 'plain' or 'outer'.
    mesh: the mesh of `blocks`.
    first: pool index of the first pick for 'farthest' (-1: by the rule).
    with_reads: also return the blocks each step read.

  Returns:
    [K] int64 pool indices in pick order; with `with_reads`, also [K] int
    the number of blocks each step read (of B).
  """
  rows = blocks.index.shape[1]
  start = ((-1, -1) if first < 0 else divmod(int(slot[first]), rows))
  key = jax.random.key(0) if key is None else key
  picks, reads = _program(blocks, ball_blocks.layout(available, slot, blocks, False, mesh),
                   min_d, key, jnp.asarray(start, jnp.int32), k=k, kind=kind,
                   rule=rule, mesh=mesh, dense_above=_DENSE_ABOVE)
  picks = np.asarray(picks).astype(np.int64)
  return (picks, np.asarray(reads)) if with_reads else picks
