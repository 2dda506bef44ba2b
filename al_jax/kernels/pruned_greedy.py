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

Per-block summaries (the max m of each segment; for 'd2' also the sum of m)
are all-gathered each step (a few numbers per block), so 1 and 8 devices
pick the same; a uniform draw counts the candidates per block then. A dense step therefore makes few
passes over the [B, S] numbers beyond the distance pass: the carried m is -1
on non-candidates (no mask is read), and the farthest row is looked up in
the chosen block only (a full pass only when blocks tie).

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
# Columns of the 'farthest' lookahead: a dense step computes the distances
# to the pick and to G - 1 likely next picks in one pass (a [G, N] product
# at the bytes of one matrix-vector product), and a later pick among them
# costs an [N] minimum instead of a pass over the pool.
_LOOKAHEAD = 32


class _Stats(NamedTuple):
  """Per-block summaries of the candidates' m, [B_local] each."""
  segment_top: jax.Array  # [B_local, 2] max m over each segment's candidates
  total: jax.Array | None  # sum of m over candidates ('d2'; else None)


def _stats(score, second, rule, balls):
  """[..., S] score (m, -1 for non-candidates), second segment -> _Stats.

  In a dense step these reductions are the cost beyond the distance pass, so
  only what `rule` reads is computed; the row of the farthest candidate is
  found after the block is chosen (`_farthest`). Without `balls` (an
  unordered layout: nothing is ever skipped) the block's max stands for
  both segments.
  """
  if balls:
    segment_top = jnp.stack(
        [jnp.max(jnp.where(second, -1.0, score), axis=-1),
         jnp.max(jnp.where(second, score, -1.0), axis=-1)], axis=-1)
  else:
    top = jnp.max(score, axis=-1)
    segment_top = jnp.stack([top, top], axis=-1)
  if rule == 'farthest':
    return _Stats(segment_top, None)
  return _Stats(segment_top, jnp.sum(jnp.maximum(score, 0), axis=-1))


def _gather(tree):
  """All-gathered [B] global arrays from [B_local] ones."""
  return jax.tree.map(
      lambda v: lax.all_gather(v, sharding.DATA_AXIS, tiled=True), tree)


def _farthest(top, score, index, offset):
  """(block, row) of the largest m, the lowest pool index on ties.

  top: [B] global block maxima; score, index: [B_local, S]. Rows are sorted
  by pool index within a block, so when one block holds the maximum its
  first row there is the pick; ties across blocks (rare) take one more pass
  for the lowest index.
  """
  best = jnp.max(top)
  rows = score.shape[1]

  def one_block():
    b = jnp.argmax(top == best).astype(jnp.int32)
    j = jnp.clip(b - offset, 0, score.shape[0] - 1)
    own = (b >= offset) & (b < offset + score.shape[0])
    row = jnp.argmax(score[j] == best).astype(jnp.int32)
    return b, lax.psum(jnp.where(own, row, 0), sharding.DATA_AXIS)

  def many_blocks():
    big = jnp.iinfo(jnp.int32).max
    lowest = lax.pmin(jnp.min(jnp.where(score == best, index, big)),
                      sharding.DATA_AXIS)
    hit = (index == lowest).reshape(-1)
    at = jnp.argmax(hit).astype(jnp.int32)
    own = jnp.any(hit)
    pick = lambda v: lax.psum(jnp.where(own, v, 0), sharding.DATA_AXIS)
    return pick(offset + at // rows), pick(at % rows)

  return lax.cond(jnp.sum(top == best) == 1, one_block, many_blocks)


class _Cache(NamedTuple):
  """Distance columns to G likely next centres ('farthest' lookahead)."""
  ids: jax.Array  # [G] int32 pool index of each column's centre, -1: none
  columns: jax.Array  # [G, B_local, S] squared distances to it


def _fill(blocks, score, stats, b, row, kind, offset, size):
  """One pass: distances to the pick (block b, row) and to size - 1 likely
  next picks, the farthest row of each block with the largest maxima.

  The pick's score is already -1, so its own block offers its runner-up.
  """
  top = _gather(jnp.max(stats.segment_top, axis=1))
  n_local = score.shape[0]
  others = lax.top_k(top, size - 1)[1].astype(jnp.int32)
  j = jnp.clip(others - offset, 0, n_local - 1)
  own = (others >= offset) & (others < offset + n_local)
  rows = lax.psum(jnp.where(own, jnp.argmax(score[j], axis=1), 0),
                  sharding.DATA_AXIS).astype(jnp.int32)
  block_ids = jnp.concatenate([b[None], others])
  rows = jnp.concatenate([row[None], rows])
  j = jnp.clip(block_ids - offset, 0, n_local - 1)
  own = (block_ids >= offset) & (block_ids < offset + n_local)

  def at(v):  # [G, ...] v at (block_ids, rows), from whichever device.
    mask = own.reshape((-1,) + (1,) * (v.ndim - 2))
    return lax.psum(jnp.where(mask, v[j, rows], 0), sharding.DATA_AXIS)

  centres = tuple(at(f) for f in blocks.features)
  return _Cache(at(blocks.index),
                ball_blocks.distances_to(blocks.features, blocks.norms,
                                         centres, kind))


def _inverse_cdf(weights, target):
  """First entry whose running sum exceeds target, among weights > 0.

  Rounding can leave no such entry: then the last positive one.
  """
  cum = jnp.cumsum(weights)
  hit = (cum > target) & (weights > 0)
  last = weights.shape[0] - 1 - jnp.argmax((weights > 0)[::-1])
  return jnp.where(jnp.any(hit), jnp.argmax(hit), last).astype(jnp.int32)


def _program_impl(blocks, available, min_d, key, first, *, k, kind, rule,
                  mesh, balls=True, dense_above=_DENSE_ABOVE, lookahead=0):
  """All K steps in one compiled loop; see `select` for the arguments."""
  # G - 1 candidates come from distinct blocks.
  lookahead = min(lookahead, blocks.index.shape[0] + 1)
  dot_width = ball_blocks.dot_width(blocks.features, kind)
  embed_width = blocks.centre.shape[-1]
  gamma_dot = 2 * dot_width * ball_blocks.EPS + 4 * ball_blocks.EPS
  gamma_lb = 2 * embed_width * ball_blocks.EPS

  def local(blocks, available, min_d, key, first):
    n_local, rows = available.shape
    offset = lax.axis_index(sharding.DATA_AXIS) * n_local
    block_id = offset + jnp.arange(n_local, dtype=jnp.int32)
    n_total = n_local * lax.psum(1, sharding.DATA_AXIS)

    def choose(i, stats, score):
      # Only what the rule reads is gathered.
      if rule == 'farthest':
        b, row = _farthest(_gather(jnp.max(stats.segment_top, axis=1)),
                           score, blocks.index, offset)
        b = jnp.where((i == 0) & (first[0] >= 0), first[0], b)
        row = jnp.where((i == 0) & (first[0] >= 0), first[1], row)
        return b, row
      total = _gather(stats.total)
      uniform = (i == 0) | (jnp.sum(total) <= 0)
      weights = lax.cond(
          uniform, lambda: _gather(
              jnp.sum(score >= 0, axis=-1).astype(jnp.float32)),
          lambda: total)
      # Two uniforms, one for the block and one within it: a single float32
      # uniform over the whole pool would resolve only ~1e-7 of the total
      # weight, coarser than one row's share in a large pool.
      u = jax.random.uniform(jax.random.fold_in(key, i), (2,))
      b = _inverse_cdf(weights, u[0] * jnp.sum(weights))
      j = jnp.clip(b - offset, 0, n_local - 1)
      w = jnp.where(score[j] >= 0, jnp.where(uniform, 1.0, score[j]), 0)
      row = _inverse_cdf(w, u[1] * jnp.sum(w))
      own = (b >= offset) & (b < offset + n_local)
      return b, lax.psum(jnp.where(own, row, 0), sharding.DATA_AXIS)

    def step(i, carry):
      score, stats, picks, reads, cache = carry
      b, row = choose(i, stats, score)
      j = jnp.clip(b - offset, 0, n_local - 1)
      own = (b >= offset) & (b < offset + n_local)
      center, pick = jax.tree.map(
          lambda v: lax.psum(jnp.where(own, v[j, row], 0),
                             sharding.DATA_AXIS),
          (blocks.features, blocks.index))
      # A pick leaves the candidates: -1 stays below every update.
      score = score.at[j, row].set(jnp.where(own, -1.0, score[j, row]))
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

      def dense(score, stats):
        # Every block is updated: a block the bound skips would keep its m
        # (see the module docstring), so this equals updating the active
        # ones only, without the masks.
        flat = tuple(f.reshape((-1,) + f.shape[2:]) for f in blocks.features)
        d = ball_blocks.distance_to(flat, blocks.norms.reshape(-1), center,
                                    kind)
        new = jnp.minimum(score, d.reshape(score.shape))
        return new, _stats(new, blocks.second, rule, balls)

      def sparse(score, stats):
        # Results go to buffers indexed by the loop counter and are
        # scattered back once: updating the carried [B, S] array in place
        # inside the loop makes XLA copy all of it every iteration.
        ids = jnp.nonzero(active, size=n_local, fill_value=n_local)[0]

        def one(t, out):
          rows_out, stats_out = out
          blk = jnp.minimum(ids[t], n_local - 1)
          feats = tuple(f[blk] for f in blocks.features)
          d = ball_blocks.distance_to(feats, blocks.norms[blk], center, kind)
          new = jnp.minimum(score[blk], d)
          fresh = _stats(new, blocks.second[blk], rule, balls)
          put = lambda buf, v: lax.dynamic_update_index_in_dim(buf, v, t, 0)
          return put(rows_out, new), jax.tree.map(put, stats_out, fresh)

        rows_out, stats_out = lax.fori_loop(
            0, jnp.sum(active), one, (jnp.zeros_like(score), stats))
        put = lambda v, u: v.at[ids].set(u, mode='drop')
        return put(score, rows_out), jax.tree.map(put, stats, stats_out)

      if lookahead:
        # A dense step refills the cache; the cached column of the pick
        # then updates every row. The refill is a loop run 0 or 1 times,
        # which updates the carried cache in place (a conditional would copy
        # the [G, B, S] columns every step).
        hit = jnp.any(cache.ids == pick)
        refill = ~hit & (n_active > dense_above * n_total)
        cache = lax.while_loop(
            lambda c: c[0],
            lambda c: (False, _fill(blocks, score, stats, b, row, kind,
                                    offset, lookahead)),
            (refill, cache))[1]

        def cached(score, stats):
          g = jnp.argmax(cache.ids == pick)
          new = jnp.minimum(score, cache.columns[g])
          return new, _stats(new, blocks.second, rule, balls)

        score, stats = lax.cond(hit | refill, cached, sparse, score, stats)
        n_active = jnp.where(hit, 0, n_active)
      else:
        score, stats = lax.cond(n_active > dense_above * n_total, dense,
                                sparse, score, stats)
      return (score, stats, picks.at[i].set(pick), reads.at[i].set(n_active),
              cache)

    # The carried score is m on candidates and -1 elsewhere, so no mask is
    # read per step.
    score = jnp.where(available, min_d, -1.0)
    cache = _Cache(jnp.full((lookahead,), -1, jnp.int32),
                   jnp.zeros((lookahead,) + score.shape, score.dtype))
    init = (score, _stats(score, blocks.second, rule, balls),
            jnp.zeros((k,), jnp.int32), jnp.zeros((k,), jnp.int32), cache)
    return lax.fori_loop(0, k, step, init)[2:4]

  data = P(sharding.DATA_AXIS)
  return jax.shard_map(
      local, mesh=mesh, in_specs=(data, data, data, P(), P()),
      out_specs=(P(), P()), check_vma=False)(blocks, available, min_d, key,
                                             first)


_program = jax.jit(_program_impl,
                   static_argnames=('k', 'kind', 'rule', 'mesh', 'balls',
                                    'dense_above', 'lookahead'))


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
  # An unordered layout (`build(ordered=False)`: infinite radii) never
  # skips, and its summaries are cheaper.
  balls = bool(jnp.isfinite(blocks.radius).any())
  picks, reads = _program(
      blocks, ball_blocks.layout(available, slot, blocks, False, mesh), min_d,
      key, jnp.asarray(start, jnp.int32), k=k, kind=kind, rule=rule,
      mesh=mesh, balls=balls, dense_above=_DENSE_ABOVE,
      lookahead=_LOOKAHEAD if rule == 'farthest' else 0)
  picks = np.asarray(picks).astype(np.int64)
  return (picks, np.asarray(reads)) if with_reads else picks
