"""Exact nearest neighbours for large pools: k-NN graphs and nearest centroid.

Both walk the queries in fixed-size blocks from the host, each block one
jitted call, so memory stays O(N k) for results plus one distance tile, and
any N reuses the same few compiled shapes. With a mesh, each query block is
split over the ``data`` axis (`sharding.batch_sharding`) and the reference
set is replicated: rows are independent, so every device count returns the
same result.

Dimensions: N queries (and, for k-NN, references), D embedding width,
k neighbours, K centroids, B query block, T reference tile.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from al_jax import sharding
from al_jax.kernels import shapes

_TILE = 4096  # Reference rows per k-NN tile: [256, 4096] f32 fits in cache.
_QUERY_BLOCK = 256


def _devices(mesh) -> int:
  return 1 if mesh is None else mesh.shape[sharding.DATA_AXIS]


def _split(mesh, a: np.ndarray) -> jax.Array:
  """`a` on device, its rows split over the mesh."""
  return jnp.asarray(a) if mesh is None else sharding.put_batch(a, mesh)


def _everywhere(mesh, a: np.ndarray) -> jax.Array:
  """`a` on device, a full copy on every device of the mesh."""
  if mesh is None:
    return jnp.asarray(a)
  return jax.device_put(a, sharding.replicated(mesh))


@functools.partial(jax.jit, static_argnames=('k', 'chunk'))
def _knn_block(q, q_ids, ref_tiles, ref_sq, k, chunk):
  """k nearest references of each query, excluding itself.

  Scans reference tiles so each [B, T] distance tile stays in cache (this is
  ~2x faster on CPU than one [B, M] product followed by a top-k). Within a
  tile, columns are split into T / chunk strided chunks; every top-k element
  lies in a chunk whose minimum is at most the k-th smallest chunk minimum,
  so top-k over those k chunks is exact and much cheaper than over the tile.

  Args:
    q: [B, D] float32 queries; q_ids: [B] int32 their rows in the reference
      set (-1: none), masked out as their own neighbour.
    ref_tiles: [M / T, T, D] float32 references; ref_sq: [M / T, T] squared
      norms, inf on padding rows.
    k: neighbours, <= T / chunk.
    chunk: elements per chunk.

  Returns:
    (d2 [B, k] squared distances ascending, idx [B, k] int32 reference rows).
  """
  b = q.shape[0]
  n_tiles, t = ref_sq.shape
  groups = t // chunk
  q2 = -2.0 * q

  def tile(carry, inp):
    best_d, best_i = carry
    ref, r_sq, start = inp
    cols = start + jnp.arange(t, dtype=jnp.int32)
    d2 = r_sq[None, :] + jnp.dot(q2, ref.T, precision='highest')
    d2 = jnp.where(cols[None, :] == q_ids[:, None], jnp.inf, d2)
    # Column c sits in group c % groups: reducing over the middle axis
    # vectorises on CPU.
    grouped = d2.reshape(b, chunk, groups)
    _, top_groups = jax.lax.top_k(-grouped.min(1), k)
    cand = jnp.take_along_axis(grouped, top_groups[:, None, :], axis=2)
    neg, j = jax.lax.top_k(-cand.reshape(b, chunk * k), k)
    idx = start + (j // k) * groups + jnp.take_along_axis(top_groups, j % k, 1)
    neg, sel = jax.lax.top_k(-jnp.concatenate([best_d, -neg], 1), k)
    merged_i = jnp.concatenate([best_i, idx.astype(jnp.int32)], 1)
    return (-neg, jnp.take_along_axis(merged_i, sel, 1)), None

  init = (jnp.full((b, k), jnp.inf, jnp.float32), jnp.zeros((b, k), jnp.int32))
  starts = jnp.arange(n_tiles, dtype=jnp.int32) * t
  (d2, idx), _ = jax.lax.scan(tile, init, (ref_tiles, ref_sq, starts))
  return jnp.maximum(d2 + jnp.sum(q * q, 1)[:, None], 0.0), idx


def knn(x, k: int, mesh: jax.sharding.Mesh | None = None):
  """Exact k nearest neighbours of every row of x among the other rows.

  Memory: O(N k) results plus one [B, T] tile of distances per device.

  Args:
    x: [N, D] points.
    k: neighbours (clipped to N - 1).
    mesh: optional mesh; query blocks are split over its ``data`` axis.

  Returns:
    (dist [N, k] float32 Euclidean ascending, idx [N, k] int32).
  """
  x = np.asarray(x, np.float32)
  n = x.shape[0]
  d2, idx = _nearest(x, np.arange(n, dtype=np.int32), x,
                     max(1, min(k, n - 1)), mesh)
  return np.sqrt(d2), idx


DENSITY_FLOOR = 1e-12


def knn_density(x, k: int, mesh: jax.sharding.Mesh | None = None,
                floor: float = DENSITY_FLOOR):
  """USL's k-NN density (paper 003, as the official code computes it).

  D̄_i is the mean of the k smallest *squared* distances from x_i to all
  rows, x_i itself included (its zero distance is one of the k), and the
  density is 1 / D̄_i. The poster's k / (n·A_d·D̄^d) is never computed by
  the authors' code; within a cluster it ranks the same, but USL adds the
  density to a regulariser, so the scale matters (wave2.md 2.1).

  Departure: D̄ is floored at `floor`, so duplicate rows (D̄ = 0 when
  k - 1 copies coincide) get a large finite density instead of inf.

  Args:
    x: [N, D] float, finite.
    k: neighbours counted, the point itself included; 1 <= k < N.
    mesh: optional mesh; query blocks are split over its ``data`` axis.

  Returns:
    (density [N] float64, mean_sq [N] float64 D̄ before the floor).
  """
  x = np.asarray(x, np.float32)
  n = len(x)
  if not 1 <= k < n:
    raise ValueError(f'kNN density: k={k} must be in [1, {n - 1}] for a '
                     f'pool of {n} points.')
  if not np.isfinite(x).all():
    bad = np.flatnonzero(~np.isfinite(x).all(1))
    raise ValueError(f'kNN density: {len(bad)} rows are not finite (e.g. '
                     f'rows {bad[:5].tolist()}).')
  if k == 1:  # Only the point itself: D̄ = 0.
    mean_sq = np.zeros(n)
  else:
    d2 = _nearest(x, np.arange(n, dtype=np.int32), x, k - 1, mesh)[0]
    mean_sq = np.sum(d2, 1, dtype=np.float64) / k  # + 0 for the point itself.
  return 1.0 / np.maximum(mean_sq, floor), mean_sq


def nearest_points(queries, refs, k: int,
                   mesh: jax.sharding.Mesh | None = None):
  """Exact k nearest rows of `refs` to every row of `queries`.

  Args:
    queries: [Q, D] points; refs: [N, D] points.
    k: neighbours (clipped to N).
    mesh: optional mesh; query blocks are split over its ``data`` axis.

  Returns:
    (dist [Q, k] float32 Euclidean ascending, idx [Q, k] int32 rows of
    `refs`; ties to the lower index).
  """
  queries = np.asarray(queries, np.float32)
  refs = np.asarray(refs, np.float32)
  ids = np.full(len(queries), -1, np.int32)  # No query is its own neighbour.
  d2, idx = _nearest(queries, ids, refs, max(1, min(k, len(refs))), mesh)
  return np.sqrt(d2), idx


def _nearest(queries, query_ids, x, k, mesh):
  """(squared distances [Q, k] ascending, rows [Q, k]) of the k nearest rows
  of x to each query, skipping row query_ids[i]."""
  n = x.shape[0]
  tile = min(_TILE, -(-n // 128) * 128)
  chunk = 32 if tile // 32 >= k else 1  # chunk 1: plain top-k over the tile.
  m = -(-n // tile) * tile
  ref = _everywhere(mesh, sharding.pad_rows(x, m).reshape(m // tile, tile, -1))
  ref_sq = _everywhere(mesh, sharding.pad_rows(
      np.einsum('ij,ij->i', x, x), m, np.inf).reshape(m // tile, tile))
  block = min(_QUERY_BLOCK, shapes.pow2(len(queries))) * _devices(mesh)
  dists, idxs = [], []
  for start in range(0, len(queries), block):
    stop = min(start + block, len(queries))
    ids = sharding.pad_rows(query_ids[start:stop], block, -1)
    q = sharding.pad_rows(queries[start:stop], block)
    d2, idx = _knn_block(_split(mesh, q), _split(mesh, ids), ref, ref_sq, k,
                         chunk)
    dists.append(np.asarray(d2)[:stop - start])
    idxs.append(np.asarray(idx)[:stop - start])
  return np.concatenate(dists), np.concatenate(idxs)


_CENTROID_TILE = 2048


@jax.jit
def _nearest_centroid_block(q, cent_tiles, cent_sq):
  """Nearest of [K'] centroids for each of [B] queries, one tile at a time.

  Each [B, T] tile of distances is reduced to a running minimum (first
  index on ties; a later tile wins only when strictly nearer), so memory is
  O(B T) and the argmin is a max-free masked min, cheap on CPU.

  Args:
    q: [B, D] float32 queries.
    cent_tiles: [K' / T, T, D] centroids; cent_sq: [K' / T, T] squared norms,
      inf on padding rows.

  Returns:
    (dist [B] float32 Euclidean, idx [B] int32).
  """
  t = cent_sq.shape[1]
  q2 = -2.0 * q

  def tile(carry, inp):
    best_d, best_i = carry
    cent, c_sq, start = inp
    d2 = c_sq[None, :] + jnp.dot(q2, cent.T, precision='highest')
    low = d2.min(1)
    first = jnp.min(jnp.where(d2 == low[:, None],
                              jnp.arange(t, dtype=jnp.int32), t - 1), 1)
    better = low < best_d
    return (jnp.where(better, low, best_d),
            jnp.where(better, start + first, best_i)), None

  b = q.shape[0]
  starts = jnp.arange(cent_sq.shape[0], dtype=jnp.int32) * t
  (d2, idx), _ = jax.lax.scan(
      tile, (jnp.full((b,), jnp.inf, jnp.float32), jnp.zeros((b,), jnp.int32)),
      (cent_tiles, cent_sq, starts))
  return jnp.sqrt(jnp.maximum(d2 + jnp.sum(q * q, 1), 0.0)), idx


def nearest_centroid(x, centroids, mesh: jax.sharding.Mesh | None = None):
  """Distance to and index of the nearest centroid, in memory-bounded blocks.

  Args:
    x: [N, D] points; centroids: [K, D].
    mesh: optional mesh; query blocks are split over its ``data`` axis.

  Returns:
    (dist [N] float32 Euclidean, idx [N] int32; ties to the lower index).
  """
  x = np.asarray(x, np.float32)
  cent = np.asarray(centroids, np.float32)
  tile = min(_CENTROID_TILE, -(-cent.shape[0] // 128) * 128)
  k_pad = -(-cent.shape[0] // tile) * tile
  cent_sq = _everywhere(mesh, sharding.pad_rows(
      np.einsum('ij,ij->i', cent, cent), k_pad, np.inf).reshape(-1, tile))
  cent = _everywhere(mesh, sharding.pad_rows(cent, k_pad).reshape(
      -1, tile, cent.shape[1]))
  block = min(_QUERY_BLOCK, shapes.pow2(x.shape[0])) * _devices(mesh)
  dists, idxs = [], []
  for start in range(0, x.shape[0], block):
    q = sharding.pad_rows(x[start:start + block], block)
    d, j = _nearest_centroid_block(_split(mesh, q), cent, cent_sq)
    stop = min(block, x.shape[0] - start)
    dists.append(np.asarray(d)[:stop])
    idxs.append(np.asarray(j)[:stop])
  return np.concatenate(dists), np.concatenate(idxs)
