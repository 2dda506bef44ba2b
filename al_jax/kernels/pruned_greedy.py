"""Greedy k-center (farthest-first) steps that skip what cannot change.

Each step adds one center c, the candidate with the largest m (its squared
distance to the nearest center; the lowest pool index on ties), and lowers
every candidate's m with its distance to c. Two ways keep a step below one
pass over the pool (N·D·4 bytes):

Pruning. Over the `ball_blocks` layout a step first bounds, for each block
segment, the distance from any of its rows to c (||μ - c|| - r) and reads
only the blocks where that bound does not exceed sqrt(max m) of the
segment's candidates: the others cannot change. Float32 rounding is covered
by margins (γ·(||x||² + ||c||²) on the expanded distance, γ·||μ - c|| on the
bound), so a skipped row's computed distance would not have lowered its m
either: skipping is exact, and the picks equal those of dense passes
(tested).

Lookahead. A step that must read more than `_DENSE_ABOVE` of the blocks
(early steps, unclustered data) computes in one pass the distances to c and
to G - 1 likely next picks, the farthest row of each of the blocks with the
largest maxima (a [G, N] product, at about the bytes of one matrix-vector
product). A later pick among them lowers m with its stored column, an [N]
minimum, and reads no block. A pick lowers m near itself only, so on
unclustered data most of the G candidates are picked in turn. The picks do
not depend on which candidates were stored, only the number of passes does.

Per-block maxima of m are all-gathered each step (a few numbers per block),
so 1 and 8 devices pick the same. A step therefore makes few passes over the
[B, S] numbers beyond the distance pass: the carried m is -1 on
non-candidates (no mask is read), and the farthest row is looked up in the
chosen block only (a full pass only when blocks tie).

Dimensions: as in `ball_blocks`; K budget, G lookahead columns.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import PartitionSpec as P

from al_jax import sharding
from al_jax.kernels import ball_blocks
from al_jax.kernels import factor_rows

# Fraction of blocks above which a step runs one dense pass: on CPU the block
# loop streams ~5x slower (one thread per device) than the dense product.
_DENSE_ABOVE = 0.2
# G, columns of the lookahead: at 1M x 128 on bench_center_selection a pass
# serves ~29 picks on Gaussian data (34 passes) and ~17-18 on the 1,000-blob
# mixture (57).
_LOOKAHEAD = 32


def _segment_top(score, second, balls):
  """[..., S] score (m, -1 for non-candidates) -> [..., 2] max m over each
  segment's candidates.

  Without `balls` (an unordered layout: nothing is ever skipped) the block's
  max stands for both segments.
  """
  if balls:
    return jnp.stack([jnp.max(jnp.where(second, -1.0, score), axis=-1),
                      jnp.max(jnp.where(second, score, -1.0), axis=-1)],
                     axis=-1)
  top = jnp.max(score, axis=-1)
  return jnp.stack([top, top], axis=-1)


def _gather(v):
  """All-gathered [B] global array from a [B_local] one."""
  return lax.all_gather(v, sharding.DATA_AXIS, tiled=True)


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
  """Distance columns to G likely next centres (the lookahead)."""
  ids: jax.Array  # [G] int32 pool index of each column's centre, -1: none
  columns: jax.Array  # [G, B_local, S] squared distances to it


def _top_rows(score, segment_top, offset, size):
  """[size] (block, row): the farthest row of each of the `size` blocks with
  the largest maxima, the likely next picks. Beyond the B blocks, block B
  (no row; `_fill` stores no column for it), so `size` never depends on B
  nor therefore on the device count."""
  top = _gather(jnp.max(segment_top, axis=1))
  n_blocks = top.shape[0]
  top = jnp.pad(top, (0, max(0, size - n_blocks)), constant_values=-2.0)
  blocks = jnp.minimum(lax.top_k(top, size)[1], n_blocks).astype(jnp.int32)
  j = jnp.clip(blocks - offset, 0, score.shape[0] - 1)
  own = (blocks >= offset) & (blocks < offset + score.shape[0])
  rows = lax.psum(jnp.where(own, jnp.argmax(score[j], axis=1), 0),
                  sharding.DATA_AXIS)
  return blocks, rows.astype(jnp.int32)


def _fill(blocks, block_ids, rows, kind, offset):
  """One pass: the distances from every row to the rows (block_ids, rows)."""
  at = lambda v: ball_blocks.at(v, block_ids, rows, offset)
  real = block_ids < blocks.index.shape[0] * lax.psum(1, sharding.DATA_AXIS)
  columns = factor_rows.distances_to(blocks.features, blocks.norms,
                                     tuple(map(at, blocks.features)), kind)
  return _Cache(jnp.where(real, at(blocks.index), -1), columns)


def _program_impl(blocks, available, min_d, first, *, k, kind, mesh,
                  balls=True, dense_above=_DENSE_ABOVE, lookahead=0):
  """All K steps in one compiled loop; see `select` for the arguments."""
  lookahead = lookahead if lookahead > 1 else 0  # One column is none.
  dot_width = factor_rows.dot_width(blocks.features, kind)
  embed_width = blocks.centre.shape[-1]
  gamma_dot = 2 * dot_width * ball_blocks.EPS + 4 * ball_blocks.EPS
  gamma_lb = 2 * embed_width * ball_blocks.EPS

  def local(blocks, available, min_d, first):
    n_local = available.shape[0]
    offset = lax.axis_index(sharding.DATA_AXIS) * n_local
    block_id = offset + jnp.arange(n_local, dtype=jnp.int32)
    n_total = n_local * lax.psum(1, sharding.DATA_AXIS)
    segment_top = lambda score, second: _segment_top(score, second, balls)

    def step(i, carry):
      score, top, picks, reads, cache = carry
      b, row = _farthest(_gather(jnp.max(top, axis=1)), score, blocks.index,
                         offset)
      b = jnp.where((i == 0) & (first[0] >= 0), first[0], b)
      row = jnp.where((i == 0) & (first[0] >= 0), first[1], row)
      center, pick = jax.tree.map(
          lambda v: ball_blocks.at(v, b, row, offset),
          (blocks.features, blocks.index))
      # A pick leaves the candidates: -1 stays below every update.
      score = ball_blocks.put(score, b, row, offset, -1.0)
      cc = factor_rows.row_norms(tuple(c[None] for c in center), kind)[0]
      c_flat = factor_rows.embed(tuple(c[None] for c in center), kind)[0]
      lower = (jnp.sqrt(jnp.sum(jnp.square(blocks.centre - c_flat), axis=2))
               * (1 - gamma_lb) - blocks.radius)
      margin = gamma_dot * (blocks.max_norm + cc)
      reach = (lower <= 0) | (jnp.square(lower) <= top + margin[:, None])
      active = jnp.any(reach, axis=1) | (block_id == b)
      n_active = lax.psum(jnp.sum(active), sharding.DATA_AXIS)

      def dense(score, top):
        # Every block is updated: a block the bound skips would keep its m
        # (see the module docstring), so this equals updating the active
        # ones only, without the masks.
        flat = tuple(f.reshape((-1,) + f.shape[2:]) for f in blocks.features)
        d = factor_rows.distance_to(flat, blocks.norms.reshape(-1), center,
                                    kind)
        new = jnp.minimum(score, d.reshape(score.shape))
        return new, segment_top(new, blocks.second)

      def sparse(score, top):
        # Results go to buffers indexed by the loop counter and are
        # scattered back once: updating the carried [B, S] array in place
        # inside the loop makes XLA copy all of it every iteration.
        ids = jnp.nonzero(active, size=n_local, fill_value=n_local)[0]

        def one(t, out):
          rows_out, top_out = out
          blk = jnp.minimum(ids[t], n_local - 1)
          feats = tuple(f[blk] for f in blocks.features)
          d = factor_rows.distance_to(feats, blocks.norms[blk], center, kind)
          new = jnp.minimum(score[blk], d)
          put = lambda buf, v: lax.dynamic_update_index_in_dim(buf, v, t, 0)
          return (put(rows_out, new),
                  put(top_out, segment_top(new, blocks.second[blk])))

        rows_out, top_out = lax.fori_loop(
            0, jnp.sum(active), one, (jnp.zeros_like(score), top))
        put = lambda v, u: v.at[ids].set(u, mode='drop')
        return put(score, rows_out), put(top, top_out)

      if lookahead:
        # A dense step refills the cache; the cached column of the pick
        # then updates every row. The refill is a loop run 0 or 1 times,
        # which updates the carried cache in place (a conditional would copy
        # the [G, B, S] columns every step).
        hit = jnp.any(cache.ids == pick)
        refill = ~hit & (n_active > dense_above * n_total)

        def fill(_):
          more = _top_rows(score, top, offset, lookahead - 1)
          return _fill(blocks, jnp.concatenate([b[None], more[0]]),
                       jnp.concatenate([row[None], more[1]]), kind, offset)

        cache = lax.while_loop(lambda c: c[0], lambda c: (False, fill(c)),
                               (refill, cache))[1]

        def cached(score, top):
          del top
          new = jnp.minimum(score, cache.columns[jnp.argmax(cache.ids == pick)])
          return new, segment_top(new, blocks.second)

        score, top = lax.cond(hit | refill, cached, sparse, score, top)
        n_active = jnp.where(hit, 0, n_active)
      else:
        score, top = lax.cond(n_active > dense_above * n_total, dense, sparse,
                              score, top)
      return (score, top, picks.at[i].set(pick), reads.at[i].set(n_active),
              cache)

    # The carried score is m on candidates and -1 elsewhere, so no mask is
    # read per step.
    score = jnp.where(available, min_d, -1.0)
    cache = _Cache(jnp.full((lookahead,), -1, jnp.int32),
                   jnp.zeros((lookahead,) + score.shape, score.dtype))
    init = (score, segment_top(score, blocks.second),
            jnp.zeros((k,), jnp.int32), jnp.zeros((k,), jnp.int32), cache)
    return lax.fori_loop(0, k, step, init)[2:4]

  data = P(sharding.DATA_AXIS)
  return jax.shard_map(
      local, mesh=mesh, in_specs=(data, data, data, P()),
      out_specs=(P(), P()), check_vma=False)(blocks, available, min_d, first)


_program = jax.jit(_program_impl,
                   static_argnames=('k', 'kind', 'mesh', 'balls',
                                    'dense_above', 'lookahead'))


def select(blocks: ball_blocks.Blocks, slot: np.ndarray, available: np.ndarray,
           min_d, k: int, kind: str, mesh: jax.sharding.Mesh, first: int = -1,
           with_reads: bool = False):
  """K farthest-first picks over the blocks.

  Args:
    blocks, slot: from `build`.
    available: [N] bool host mask of rows that may be picked.
    min_d: [B, S] float32 device array, the initial m (+inf: no center yet).
    k: budget K, at most available.sum().
    kind: 'plain' or 'outer'.
    mesh: the mesh of `blocks`.
    first: pool index of the first pick (-1: the farthest).
    with_reads: also return the blocks each step read.

  Returns:
    [K] int64 pool indices in pick order; with `with_reads`, also [K] int
    the number of blocks each step read (of B; 0 when the pick's column was
    stored by the lookahead).
  """
  rows = blocks.index.shape[1]
  start = ((-1, -1) if first < 0 else divmod(int(slot[first]), rows))
  # An unordered layout (`build(ordered=False)`: infinite radii) never
  # skips, and its summaries are cheaper.
  balls = bool(jnp.isfinite(blocks.radius).any())
  picks, reads = _program(
      blocks, ball_blocks.layout(available, slot, blocks, False, mesh), min_d,
      jnp.asarray(start, jnp.int32), k=k, kind=kind, mesh=mesh, balls=balls,
      dense_above=_DENSE_ABOVE, lookahead=_LOOKAHEAD)
  picks = np.asarray(picks).astype(np.int64)
  return (picks, np.asarray(reads)) if with_reads else picks
