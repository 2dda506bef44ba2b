"""The pool in ball-bounded blocks: the layout behind exact step pruning.

Greedy k-center (`pruned_greedy`) lowers, at every step, each row's
squared distance m(x) to its nearest center with the distance to one new
center c. A row cannot change when ||x - c|| >= sqrt(m(x)); this module
lays the pool out so that whole blocks of rows can be shown unchanged from
a few numbers per block, without reading the rows.

Layout: rows are ordered so that consecutive rows lie close together
(`block_order`: nearest of ~N / (2·S) anchor rows on a random projection,
groups chained nearest-neighbour) and cut into blocks of S rows (~256 KiB).
A block holds the end of one group and the start of the next at most once
in the common case, so it keeps two segments (first group, the rest), each
with its centre μ (mean row) and radius r = max ||x - μ||. By the
triangle inequality every row of a segment has ||x - c|| >= ||μ - c|| - r.

Feature kinds: 'plain' rows x [N, D]; 'outer' rows a_i ⊗ z_i from factors
a [N, C], z [N, D] (BADGE gradient embeddings), formed one block at a time
while building, never for the pool. k-means++ and BADGE seeding
(`kmeanspp`) use the unordered layout (`build(ordered=False)`: pool order,
no balls) to split the pool over devices.

Dimensions: N pool, D width, C classes, S rows per block, B blocks (B·S >= N,
a multiple of the device count), F = D or C·D embedded width, W sketch width.

The block axis is split over the mesh axis ``data``; the order depends on
the data only, never on the device count.
"""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import PartitionSpec as P

from al_jax import sharding
from al_jax.kernels import factor_rows

_BLOCK_BYTES = 256 << 10  # Stored bytes per block (the pruning unit).
_SKETCH_WIDTH = 32
EPS = 2.0**-24


class Blocks(NamedTuple):
  """The pool in ball-bounded blocks (device arrays, block axis sharded).

  features: tuple of [B, S, ...] rows in block order, zero on padding.
  norms: [B, S] squared norms of the embedded rows.
  index: [B, S] int32 pool index of each row, N on padding.
  second: [B, S] bool, rows of the block's second segment. A block holds
    consecutive rows of the order, from one group or a few consecutive
    ones: the first group's rows form segment 0, the rest segment 1.
    Within a block, rows are sorted by pool index.
  centre: [B, 2, F] mean embedded row of each segment.
  radius: [B, 2] max distance of a segment's real rows to its centre,
    rounding included (an empty segment never reaches: it has no
    candidates).
  max_norm: [B] largest squared norm in the block.
  """
  features: tuple
  norms: jax.Array
  index: jax.Array
  second: jax.Array
  centre: jax.Array
  radius: jax.Array
  max_norm: jax.Array


def at(v: jax.Array, block, row, offset) -> jax.Array:
  """v [B_local, S, ...] at global (block, row) ([G] each, or scalars), from
  the device that holds it; inside a shard_map over ``data`` whose local
  blocks start at global block `offset`."""
  n_local = v.shape[0]
  own = (block >= offset) & (block < offset + n_local)
  own = own.reshape(own.shape + (1,) * (v.ndim - 2))
  got = v[jnp.clip(block - offset, 0, n_local - 1), row]
  return lax.psum(jnp.where(own, got, 0), sharding.DATA_AXIS)


def put(v: jax.Array, block, row, offset, value) -> jax.Array:
  """v [B_local, S] with `value` at global (block, row) on the device that
  holds it (scalars; as `at`)."""
  n_local = v.shape[0]
  own = (block >= offset) & (block < offset + n_local)
  j = jnp.clip(block - offset, 0, n_local - 1)
  return v.at[j, row].set(jnp.where(own, value, v[j, row]))


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
  # Chunks whose [chunk, R] gaps stay in cache (~4 MiB at R = 1,000): at
  # 32,768 rows the passes over the gaps went to memory and took twice as
  # long (1M rows, 976 anchors: 0.88 s vs 0.47 s, this machine).
  chunk = max(256, (1 << 20) // max(1, len(anchors)))
  for start in range(0, points.shape[0], chunk):
    gap = points[start:start + chunk] @ scaled
    gap += sq
    out[start:start + len(gap)] = np.argmin(gap, 1)
  return out


def _chain(points: np.ndarray) -> np.ndarray:
  """Greedy nearest-neighbour path through [R, W] points from the first."""
  points = points.astype(np.float64)
  sq = np.sum(points**2, axis=1)
  gap = sq[:, None] + sq[None, :] - 2 * points @ points.T
  path = [0]
  free = np.ones(len(points), bool)
  free[0] = False
  for _ in range(len(points) - 1):
    nxt = int(np.argmin(np.where(free, gap[path[-1]], np.inf)))
    path.append(nxt)
    free[nxt] = False
  return np.asarray(path)


def _grouped(points: np.ndarray, n_anchors: int):
  """Rows of [M, W] points grouped by nearest anchor, groups chained.

  Anchors are evenly spaced rows. Returns (order [M], each ordered row's
  group position along the chain [M]).
  """
  anchors = points[np.linspace(0, len(points) - 1, n_anchors).astype(int)]
  rank = np.empty((n_anchors,), np.int64)
  rank[_chain(anchors)] = np.arange(n_anchors)
  group = rank[_nearest(points, anchors)]
  order = np.argsort(group, kind='stable')
  return order, group[order]


def block_order(features, kind: str, rows: int):
  """Row order that makes consecutive rows close, and its groups.

  Rows are grouped by their nearest of ~N / (2·rows) anchors (evenly spaced
  rows) and groups follow a greedy nearest-neighbour chain through their
  anchors. Nearest-anchor groups keep a cluster's rows together in high
  dimension, where hyperplane splits (k-d or 2-means trees) cut many
  clusters (tried: 30% of blocks mixed two of 100 blobs; two anchor levels
  were cheaper but chained worse). Distances
  are taken on a fixed random projection to `_SKETCH_WIDTH` dimensions
  (Johnson–Lindenstrauss): the order only decides how well blocks prune,
  never which rows a step may skip. It depends on the data only, never on
  devices.

  Returns:
    (order [N] int64 pool rows, group [N] int64 nondecreasing group of
    each ordered row).
  """
  sketch = _sketch(features, kind)
  return _grouped(sketch, max(1, sketch.shape[0] // (2 * rows)))


def build(features, kind: str, mesh: jax.sharding.Mesh,
          rows: int | None = None,
          ordered: bool = True) -> tuple[Blocks, np.ndarray]:
  """The pool in ball-bounded blocks.

  Args:
    features: tuple of host arrays, (x [N, D],) or (a [N, C], z [N, D]).
    kind: 'plain' or 'outer'.
    mesh: mesh with the axis ``data``; the block axis is split over it.
    rows: S, rows per block (default `block_rows`).
    ordered: False keeps pool order and gives every block an infinite
      radius: no ordering work, and every step is one dense pass (for data
      where nothing could be skipped).

  Returns:
    (blocks, slot): slot [N] int64 is each pool row's position in the
    flattened [B·S] block layout.
  """
  features = tuple(np.asarray(f, np.float32) for f in features)
  n = features[0].shape[0]
  rows = rows or block_rows(features)
  order, group = (block_order(features, kind, rows) if ordered else
                  (np.arange(n), np.zeros(n, np.int64)))
  devices = mesh.shape[sharding.DATA_AXIS]
  n_blocks = -(-max(1, -(-n // rows)) // devices) * devices
  index = sharding.pad_rows(order.astype(np.int32), n_blocks * rows,
                            n).reshape(n_blocks, rows)
  group = sharding.pad_rows(group, n_blocks * rows, -1).reshape(n_blocks, rows)
  second = group != group[:, :1]
  # Within a block, rows by pool index: the first of tied rows is the lowest.
  within = np.argsort(index, axis=1, kind='stable')
  index = np.take_along_axis(index, within, 1)
  second = np.take_along_axis(second, within, 1)
  slot = np.empty((n,), np.int64)
  flat = index.reshape(-1)
  slot[flat[flat < n]] = np.flatnonzero(flat < n)
  put = lambda v: jax.device_put(v, sharding.batch_sharding(mesh))
  index, second = put(index), put(second)
  laid_out = _lay_out(jax.device_put(features, sharding.replicated(mesh)),
                      index, mesh=mesh)
  return _block_stats(laid_out, index, second, n=n, kind=kind,
                      balls=ordered, mesh=mesh), slot


@functools.partial(jax.jit, static_argnames='mesh')
def _lay_out(features, index, *, mesh):
  """[N, ...] rows -> [B, S, ...] rows in block order, zero on padding."""

  def local(features, index):
    return tuple(jnp.take(f, index, axis=0, mode='fill', fill_value=0)
                 for f in features)

  data = P(sharding.DATA_AXIS)
  return jax.shard_map(local, mesh=mesh, in_specs=(P(), data),
                       out_specs=data, check_vma=False)(features, index)


@functools.partial(jax.jit, static_argnames=('n', 'kind', 'balls', 'mesh'))
def _block_stats(features, index, second, *, n, kind, balls, mesh):
  """Blocks from laid-out rows: norms, segment balls (a block at a time;
  without `balls`, infinite radii)."""

  def one(block):
    feats, idx, late = block
    real = idx < n
    e = factor_rows.embed(feats, kind)
    norms = jnp.where(real, factor_rows.row_norms(feats, kind), 0)
    max_norm = jnp.max(norms)
    # sqrt(spread) is within a relative γ_F of the true distance, and the
    # 'outer' product rows are themselves rounded (ε·||a ⊗ z||).
    gamma = e.shape[1] * EPS * 2

    def ball(member):
      member = member & real
      count = jnp.maximum(jnp.sum(member), 1).astype(jnp.float32)
      centre = jnp.sum(jnp.where(member[:, None], e, 0), axis=0) / count
      spread = jnp.where(member, jnp.sum(jnp.square(e - centre), axis=1), 0)
      return centre, (jnp.sqrt(jnp.max(spread)) * (1 + gamma) +
                      EPS * 4 * jnp.sqrt(max_norm))

    if not balls:
      return (norms, jnp.zeros((2, e.shape[1]), e.dtype),
              jnp.full((2,), jnp.inf, jnp.float32), max_norm)
    (c0, r0), (c1, r1) = ball(~late), ball(late)
    return norms, jnp.stack([c0, c1]), jnp.stack([r0, r1]), max_norm

  def local(features, index, second):
    norms, centre, radius, max_norm = lax.map(one, (features, index, second))
    return Blocks(features, norms, index, second, centre, radius, max_norm)

  data = P(sharding.DATA_AXIS)
  return jax.shard_map(local, mesh=mesh, in_specs=(data, data, data),
                       out_specs=data,
                       check_vma=False)(features, index, second)


def layout(values: np.ndarray, slot: np.ndarray, blocks: Blocks, fill,
           mesh: jax.sharding.Mesh) -> jax.Array:
  """[N] host values -> [B, S] device array in block order, `fill` on padding.
  """
  shape = blocks.index.shape
  out = np.full((shape[0] * shape[1],), fill, values.dtype)
  out[slot] = values
  return jax.device_put(out.reshape(shape), sharding.batch_sharding(mesh))
