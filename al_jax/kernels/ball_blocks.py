"""Greedy center selection over ball-bounded blocks: exact pruning of steps.

Greedy k-center and k-means++ (D² sampling) keep, for every pool row x, the
squared distance m(x) to its nearest chosen center; each step adds one center
c and lowers m(x) to min(m(x), ||x - c||²). A plain step streams the whole
pool (N·D·4 bytes), so it is bound by memory bandwidth. Most rows cannot
change: ||x - c||² < m(x) is impossible when ||x - c|| >= sqrt(m(x)).

This module groups the pool into blocks of S rows that lie close together
(rows sorted by their nearest of ~N / S anchor rows) and keeps, per block b,
its centre μ_b (mean row) and radius r_b = max ||x - μ_b||. By the triangle
inequality every row of b has ||x - c|| >= ||μ_b - c|| - r_b, so when that
bound exceeds sqrt(max over b's candidates of m(x)) the step leaves the whole
block unchanged and never reads it. Float32 rounding is covered by a margin
(`_GAMMA` below): a skipped row's computed distance would have exceeded its m
as well, so skipping is exact, not an approximation. Steps that touch most
blocks (early k-center steps, unclustered data) run one dense pass instead of
the block loop; both paths compute the same per-row numbers.

Selection rules:
  'farthest': greedy k-center; the candidate with the largest m, the lowest
    pool index on ties.
  'd2': k-means++; inverse-CDF sampling of a candidate with probability
    m / sum m, first over block sums, then within the block, with one
    uniform per step. The first draw (and any draw where every m is 0) is
    uniform over the candidates. Picks depend on the block order (the CDF is
    taken in that order); the law is exactly D² sampling.

Feature kinds: 'plain' rows x [N, D]; 'outer' rows a_i ⊗ z_i from factors
a [N, C], z [N, D] (BADGE gradient embeddings), never materialised beyond one
block while building.

Dimensions: N pool, D width, C classes, S rows per block, B blocks (B·S >= N,
a multiple of the device count), F = D or C·D embedded width, K budget.

Blocks are global: the block axis is split over the mesh axis ``data``,
per-block statistics are all-gathered each step (B numbers), and the order
of rows never depends on the device count, so 1 and 8 devices pick the same.
"""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import PartitionSpec as P

from al_jax import sharding
from al_jax.kernels import distances

_BLOCK_BYTES = 256 << 10  # Stored bytes per block (the pruning unit).
_SKETCH_WIDTH = 32
# Fraction of blocks above which a step runs one dense pass: on CPU the block
# loop streams ~5x slower (one thread per device) than the dense product.
_DENSE_ABOVE = 0.2
_EPS = 2.0**-24


class Blocks(NamedTuple):
  """The pool in ball-bounded blocks (device arrays, block axis sharded).

  features: tuple of [B, S, ...] rows in block order, zero on padding.
  norms: [B, S] squared norms of the embedded rows.
  index: [B, S] int32 pool index of each row, N on padding.
  split: [B] int32 row where the block's second segment starts (S: none).
    Rows of a block come from at most a few consecutive order groups; the
    first group's rows form segment 0, the rest segment 1.
  centre: [B, 2, F] mean embedded row of each segment.
  radius: [B, 2] max distance of a segment's real rows to its centre,
    rounding included (0 for an empty segment).
  max_norm: [B] largest squared norm in the block.
  """
  features: tuple
  norms: jax.Array
  index: jax.Array
  split: jax.Array
  centre: jax.Array
  radius: jax.Array
  max_norm: jax.Array


def embed(features, kind: str) -> jax.Array:
  """[M, ...] factors -> [M, F] embedded rows (a ⊗ z for 'outer')."""
  if kind == 'plain':
    return features[0]
  a, z = features
  return (a[:, :, None] * z[:, None, :]).reshape(a.shape[0], -1)


def row_norms(features, kind: str) -> jax.Array:
  """[M] squared norms of the embedded rows."""
  if kind == 'plain':
    return distances.sq_norms(features[0])
  return distances.sq_norms(features[0]) * distances.sq_norms(features[1])


def _distance_to(features, norms, center, kind):
  if kind == 'plain':
    return distances.sq_distance_to_point(features[0], norms, center[0])
  return distances.outer_sq_distance_to_point(*features, norms, *center)


def _dot_width(features, kind) -> int:
  return sum(f.shape[-1] for f in features) if kind == 'outer' else (
      features[0].shape[-1])


def block_rows(features) -> int:
  """Default S: a power of two near `_BLOCK_BYTES` of stored rows, at most
  the pool size rounded up to a power of two."""
  row_bytes = 4 * sum(f.shape[-1] for f in features)
  rows = min(1 << 16, max(256, 1 << (_BLOCK_BYTES // row_bytes
                                     ).bit_length() - 1))
  return int(min(rows, max(8, 1 << (features[0].shape[0] - 1).bit_length())))


def _sketch(features, kind: str) -> np.ndarray:
  """[N, W] float32 fixed random projection of the embedded rows (host).

  For 'outer' rows, (a ⊗ z)·P = sum_c a_c (z·P_c) with P as [C, D, W], so
  a ⊗ z is never formed.
  """
  widths = tuple(f.shape[-1] for f in features)
  proj = np.random.default_rng(0).standard_normal(
      (int(np.prod(widths)), _SKETCH_WIDTH)).astype(np.float32)
  if kind == 'plain':
    return features[0] @ proj
  a, z = features
  c, d = widths
  zp = proj.reshape(c, d, _SKETCH_WIDTH).transpose(1, 0, 2).reshape(d, -1)
  out = np.empty((a.shape[0], _SKETCH_WIDTH), np.float32)
  for start in range(0, a.shape[0], 1 << 16):
    part = slice(start, start + (1 << 16))
    out[part] = np.einsum('mc,mcw->mw', a[part],
                          (z[part] @ zp).reshape(-1, c, _SKETCH_WIDTH))
  return out


def _nearest(points: np.ndarray, anchors: np.ndarray) -> np.ndarray:
  """[M] index of the nearest of [R, W] anchors, the lowest on ties."""
  sq = np.einsum('ij,ij->i', anchors, anchors)
  scaled = -2 * anchors.T
  out = np.empty((points.shape[0],), np.int64)
  for start in range(0, points.shape[0], 1 << 15):
    gap = points[start:start + (1 << 15)] @ scaled
    gap += sq
    out[start:start + len(gap)] = np.argmin(gap, 1)
  return out


def _chain(points: np.ndarray, start: int) -> np.ndarray:
  """Greedy nearest-neighbour path through [R, W] points from `start`."""
  points = points.astype(np.float64)
  sq = np.sum(points**2, axis=1)
  gap = sq[:, None] + sq[None, :] - 2 * points @ points.T
  path = [start]
  free = np.ones(len(points), bool)
  free[start] = False
  for _ in range(len(points) - 1):
    nxt = int(np.argmin(np.where(free, gap[path[-1]], np.inf)))
    path.append(nxt)
    free[nxt] = False
  return np.asarray(path)


def _grouped(points: np.ndarray, n_anchors: int, after=None):
  """Rows of [M, W] points grouped by nearest anchor, groups chained.

  Anchors are evenly spaced rows; the chain starts at the anchor nearest to
  `after` (a [W] point) when given, else at the first. Returns (order [M],
  each ordered row's group position along the chain [M], anchors in chain
  order [R, W]).
  """
  anchors = points[np.linspace(0, len(points) - 1, n_anchors).astype(int)]
  start = 0 if after is None else int(_nearest(after[None], anchors)[0])
  path = _chain(anchors, start)
  rank = np.empty((n_anchors,), np.int64)
  rank[path] = np.arange(n_anchors)
  group = rank[_nearest(points, anchors)]
  order = np.argsort(group, kind='stable')
  return order, group[order], anchors[path]


def block_order(features, kind: str, rows: int):
  """Row order that makes consecutive rows close, and its groups.

  Two levels of anchors (evenly spaced rows): rows are grouped by their
  nearest of ~sqrt(N / rows) coarse anchors, each group by its nearest of
  ~(group size / 2·rows) fine anchors, and at each level groups follow a
  greedy nearest-neighbour chain through their anchors. Nearest-anchor
  groups keep a cluster's rows together in high dimension, where
  hyperplane splits (k-d or 2-means trees) cut many clusters. Distances
  are taken on a fixed random projection to `_SKETCH_WIDTH` dimensions
  (Johnson–Lindenstrauss): the order only decides how well blocks prune,
  never which rows a step may skip. It depends on the data only, never on
  devices.

  Returns:
    (order [N] int64 pool rows, group [N] int64 nondecreasing fine group of
    each ordered row).
  """
  sketch = _sketch(features, kind)
  order, group, _ = _grouped(sketch, max(1, sketch.shape[0] // (2 * rows)))
  return order, group


def build(features, kind: str, mesh: jax.sharding.Mesh,
          rows: int | None = None) -> tuple[Blocks, np.ndarray]:
  """The pool in ball-bounded blocks.

  Args:
    features: tuple of host arrays, (x [N, D],) or (a [N, C], z [N, D]).
    kind: 'plain' or 'outer'.
    mesh: mesh with the axis ``data``; the block axis is split over it.
    rows: S, rows per block (default `block_rows`).

  Returns:
    (blocks, slot): slot [N] int64 is each pool row's position in the
    flattened [B·S] block layout.
  """
  features = tuple(np.asarray(f, np.float32) for f in features)
  n = features[0].shape[0]
  rows = rows or block_rows(features)
  order, group = block_order(features, kind, rows)
  devices = mesh.shape[sharding.DATA_AXIS]
  n_blocks = -(-max(1, -(-n // rows)) // devices) * devices
  index = sharding.pad_rows(order.astype(np.int32), n_blocks * rows, n)
  slot = np.empty((n,), np.int64)
  slot[order] = np.arange(n)
  group = sharding.pad_rows(group, n_blocks * rows, -1).reshape(n_blocks, rows)
  split = np.argmax(group != group[:, :1], axis=1)
  split = np.where(split == 0, rows, split).astype(np.int32)
  put = lambda v: jax.device_put(v, sharding.batch_sharding(mesh))
  index, split = put(index.reshape(n_blocks, rows)), put(split)
  laid_out = _lay_out(jax.device_put(features, sharding.replicated(mesh)),
                      index, mesh=mesh)
  return _block_stats(laid_out, index, split, n=n, kind=kind,
                      mesh=mesh), slot


@functools.partial(jax.jit, static_argnames='mesh')
def _lay_out(features, index, *, mesh):
  """[N, ...] rows -> [B, S, ...] rows in block order, zero on padding."""

  def local(features, index):
    return tuple(jnp.take(f, index, axis=0, mode='fill', fill_value=0)
                 for f in features)

  data = P(sharding.DATA_AXIS)
  return jax.shard_map(local, mesh=mesh, in_specs=(P(), data),
                       out_specs=data, check_vma=False)(features, index)


@functools.partial(jax.jit, static_argnames=('n', 'kind', 'mesh'))
def _block_stats(features, index, split, *, n, kind, mesh):
  """Blocks from laid-out rows: norms, segment balls (a block at a time)."""

  def one(block):
    feats, idx, cut = block
    real = idx < n
    e = embed(feats, kind)
    norms = jnp.where(real, row_norms(feats, kind), 0)
    max_norm = jnp.max(norms)
    # sqrt(spread) is within a relative γ_F of the true distance, and the
    # 'outer' product rows are themselves rounded (ε·||a ⊗ z||).
    gamma = e.shape[1] * _EPS * 2

    def ball(member):
      member = member & real
      count = jnp.maximum(jnp.sum(member), 1).astype(jnp.float32)
      centre = jnp.sum(jnp.where(member[:, None], e, 0), axis=0) / count
      spread = jnp.where(member, jnp.sum(jnp.square(e - centre), axis=1), 0)
      return centre, (jnp.sqrt(jnp.max(spread)) * (1 + gamma) +
                      _EPS * 4 * jnp.sqrt(max_norm))

    second = _second_segment(cut, idx.shape[0])
    (c0, r0), (c1, r1) = ball(~second), ball(second)
    return norms, jnp.stack([c0, c1]), jnp.stack([r0, r1]), max_norm

  def local(features, index, split):
    norms, centre, radius, max_norm = lax.map(one, (features, index, split))
    return Blocks(features, norms, index, split, centre, radius, max_norm)

  data = P(sharding.DATA_AXIS)
  return jax.shard_map(local, mesh=mesh, in_specs=(data, data, data),
                       out_specs=data, check_vma=False)(features, index, split)


def _second_segment(split, rows):
  """[..., S] bool: rows at or after the block's split."""
  return jnp.arange(rows, dtype=jnp.int32) >= split[..., None]


class _Stats(NamedTuple):
  """Per-block summaries of the candidates' m, [B_local] each."""
  top: jax.Array  # max m over candidates, -1 if none
  top_index: jax.Array  # lowest pool index attaining it
  top_slot: jax.Array  # its row within the block
  total: jax.Array  # sum of m over candidates
  count: jax.Array  # number of candidates
  segment_top: jax.Array  # [B_local, 2] max m over each segment's candidates


def _stats(min_d, available, index, split):
  """[..., S] m, candidate mask, pool index; [...] split -> _Stats."""
  score = jnp.where(available, min_d, -1.0)
  top = jnp.max(score, axis=-1)
  second = _second_segment(split, score.shape[-1])
  segment_top = jnp.stack([jnp.max(jnp.where(second, -1.0, score), axis=-1),
                           jnp.max(jnp.where(second, score, -1.0), axis=-1)],
                          axis=-1)
  big = jnp.iinfo(jnp.int32).max
  at_top = jnp.where(score == top[..., None], index, big)
  top_index = jnp.min(at_top, axis=-1)
  top_slot = jnp.argmin(at_top, axis=-1).astype(jnp.int32)
  total = jnp.sum(jnp.where(available, min_d, 0), axis=-1)
  count = jnp.sum(available, axis=-1).astype(jnp.float32)
  return _Stats(top, top_index, top_slot, total, count, segment_top)


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
  dot_width = _dot_width(blocks.features, kind)
  embed_width = blocks.centre.shape[-1]
  gamma_dot = 2 * dot_width * _EPS + 4 * _EPS
  gamma_lb = 2 * embed_width * _EPS

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
      target = jax.random.uniform(jax.random.fold_in(key, i)) * jnp.sum(
          weights)
      b = _inverse_cdf(weights, target)
      before = jnp.sum(jnp.where(jnp.arange(n_total) < b, weights, 0))
      j = jnp.clip(b - offset, 0, n_local - 1)
      w = jnp.where(available[j], jnp.where(uniform, 1.0, min_d[j]), 0)
      row = _inverse_cdf(w, target - before)
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
      cc = row_norms(tuple(c[None] for c in center), kind)[0]
      c_flat = embed(tuple(c[None] for c in center), kind)[0]
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
        d = _distance_to(flat, blocks.norms.reshape(-1), center, kind)
        new = jnp.where(active[:, None],
                        jnp.minimum(min_d, d.reshape(min_d.shape)), min_d)
        fresh = _stats(new, available, blocks.index, blocks.split)
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
          d = _distance_to(feats, blocks.norms[blk], center, kind)
          new = jnp.minimum(min_d[blk], d)
          fresh = _stats(new, available[blk], blocks.index[blk],
                         blocks.split[blk])
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

    stats = _stats(min_d, available, blocks.index, blocks.split)
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


def layout(values: np.ndarray, slot: np.ndarray, blocks: Blocks, fill,
           mesh: jax.sharding.Mesh) -> jax.Array:
  """[N] host values -> [B, S] device array in block order, `fill` on padding.
  """
  shape = blocks.index.shape
  out = np.full((shape[0] * shape[1],), fill, values.dtype)
  out[slot] = values
  return jax.device_put(out.reshape(shape), sharding.batch_sharding(mesh))


def select(blocks: Blocks, slot: np.ndarray, available: np.ndarray,
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
  picks, reads = _program(blocks, layout(available, slot, blocks, False, mesh),
                   min_d, key, jnp.asarray(start, jnp.int32), k=k, kind=kind,
                   rule=rule, mesh=mesh, dense_above=_DENSE_ABOVE)
  picks = np.asarray(picks).astype(np.int64)
  return (picks, np.asarray(reads)) if with_reads else picks
