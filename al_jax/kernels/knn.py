"""Exact nearest neighbours for large pools: k-NN graphs and nearest centroid.

Both walk the queries in fixed-size blocks from the host, each block one
jitted call, so memory stays O(N k) for results plus one query block's
distance tile and chunk minima ([B, N / chunk], see `knn`), and
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

from al_jax import distributed
from al_jax import sharding
from al_jax.kernels import shapes

# k-NN: queries per block and reference rows per tile (the fastest of those
# tried in development at 1M x 128 on a 2-core EPYC; the [B, T] tile is
# reduced while in L3).
_KNN_QUERIES = 512
_TILE = 8192
_QUERY_BLOCK = 256  # Nearest centroid.


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


@functools.partial(jax.jit, static_argnames=('k', 'chunk', 'group'))
def block_search(q, q_ids, ref_tiles, k, chunk, group):
  """k nearest references of each query, excluding itself.

  The scan over reference tiles keeps only minima, so its cost is the GEMM
  plus one pass over each [B, T] tile while it is in cache: per query, the
  minimum of every *chunk* of `chunk` consecutive rows and of every *group*
  of `group` consecutive chunks. Selection then runs once per query block:
  the k nearest rows lie in the k chunks with the smallest minima, and those
  in the k groups with the smallest minima (every group ranked ahead of a
  row's group holds a distinct row ranked ahead of that row), so top-k over
  the M / (chunk · group) group minima, then over the k · group minima of
  their chunks, then over the k · chunk rows of the chosen chunks (their
  distances recomputed) is exact. Candidates stay in pool order at every
  level and top-k keeps the first of equal values, so ties go to the lower
  row, as in a brute-force top-k. (faiss's IndexFlatL2 keeps a heap per
  query, a scalar loop XLA cannot express; the previous kernel's top-k per
  tile cost ~2.5x its GEMM, measured in development.)

  Two things keep the scan at GEMM speed: ‖r‖² rides in the GEMM as an extra
  column (q' = [-2q, 1], r' = [r, ‖r‖²], so q'·r' = ‖r‖² - 2 q·r), and the
  query's own row is not masked in the scan but the first two levels keep
  k + 1 (the k nearest other rows are among the k + 1 nearest rows); any
  elementwise pass between the GEMM and the minima cost ~20% at 1M x 128
  (measured in development).

  Args:
    q: [B, D] float32 queries; q_ids: [B] int32 their rows in the reference
      set (-1: none), not their own neighbour.
    ref_tiles: [M / T, T, D + 1] float32 rows [r, ‖r‖²] from `tiles`.
    k: neighbours; k + 1 <= M / (chunk · group).
    chunk, group: powers of two with T a multiple of chunk · group.

  Returns:
    (d2 [B, k] squared distances ascending, idx [B, k] int32 reference rows).
  """
  b = q.shape[0]
  n_tiles, t, d = ref_tiles.shape
  n_chunks = t // chunk  # Per tile.
  n_groups = n_chunks // group
  q1 = jnp.concatenate([-2.0 * q, jnp.ones((b, 1), q.dtype)], 1)

  def tile(_, ref):
    d2 = jnp.dot(q1, ref.T, precision='highest')  # ‖r‖² - 2 q·r.
    chunk_min = d2.reshape(b, chunk, n_chunks).min(1)  # Pool order.
    return None, (chunk_min, chunk_min.reshape(b, n_groups, group).min(2))

  _, (chunk_min, group_min) = jax.lax.scan(tile, None, ref_tiles)
  # [B, groups in pool order] and [B, groups, their chunks].
  group_min = group_min.transpose(1, 0, 2).reshape(b, n_tiles * n_groups)
  chunk_min = chunk_min.reshape(n_tiles, b, n_groups, group).transpose(
      1, 0, 2, 3).reshape(b, n_tiles * n_groups, group)
  groups = jnp.sort(jax.lax.top_k(-group_min, k + 1)[1], axis=1)
  cand = jnp.take_along_axis(chunk_min, groups[:, :, None], 1)
  pick = jnp.sort(jax.lax.top_k(-cand.reshape(b, -1), k + 1)[1], axis=1)
  chunks = jnp.take_along_axis(groups, pick // group, 1) * group + pick % group
  x = _gather(ref_tiles.reshape(n_tiles, chunk, n_chunks, d),
              (chunks // n_chunks, slice(None), chunks % n_chunks))
  d2 = jnp.einsum('bd,bkcd->bkc', q1, x, precision='highest').reshape(b, -1)
  rows = (chunks[:, :, None] * chunk + jnp.arange(chunk)).reshape(b, -1)
  neg, sel = jax.lax.top_k(-jnp.where(rows == q_ids[:, None], jnp.inf, d2), k)
  return (jnp.maximum(jnp.sum(q * q, 1)[:, None] - neg, 0.0),
          jnp.take_along_axis(rows, sel, 1))


def _gather(table, at):
  """table[at] for a replicated table and batch-split [B, ...] indices: the
  result [B, ...] is split like them (under an explicit mesh, jax asks)."""
  split = jax.typeof(at[0]).sharding
  if split.mesh.empty:
    return table[at]
  spec = jax.sharding.PartitionSpec(split.spec[0])
  return table.at[at].get(
      out_sharding=jax.sharding.NamedSharding(split.mesh, spec))


def knn(x, k: int, mesh: jax.sharding.Mesh | None = None):
  """Exact k nearest neighbours of every row of x among the other rows.

  Memory: O(N k) results, a copy of x, and per device one [B, T] tile of
  distances and [B, N / chunk] chunk minima (`levels`; 128 MiB at 1M x 128).

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


def levels(m: int, t: int, k: int, d: int) -> tuple[int, int]:
  """(chunk, group) sizes for `block_search`: M references, tiles of T, k
  candidates, width D.

  The scan writes M / chunk chunk minima per query and the last level
  gathers k · chunk rows of D floats per query, so chunk ~ sqrt(2 M / (k D))
  balances the two (8 at 100k x 128, 16 at 1M x 128, k = 20: the fastest of
  8, 16 and 32 tried in development); groups balance the two top-k levels, M / (chunk · group) group
  minima against k · group chunk minima. chunk · group <= M / k (so there
  are k groups) and divides T.
  """
  chunk = shapes.pow2(int(np.sqrt(2 * m / (k * d))) + 1) // 2
  chunk = max(1, min(32, chunk))
  while chunk > 1 and (chunk > m // k or t % chunk):
    chunk //= 2
  group = max(1, shapes.pow2(int(np.sqrt(m / (chunk * k))) + 1) // 2)
  while group > 1 and (chunk * group > m // k or t % (chunk * group)):
    group //= 2
  return chunk, group


def tiles(x: np.ndarray, n_tiles: int, tile: int, chunk: int) -> np.ndarray:
  """[n_tiles, T, D + 1] float32: rows [x, ‖x‖²] in `block_search`'s layout.

  Row r of tile t, r = c·chunk + i, is stored at position i·T/chunk + c
  ([tiles, chunks, chunk, D + 1] -> [tiles, chunk, chunks, D + 1]); rows
  past N are padding [0, inf].
  """
  n, d = x.shape
  m = n_tiles * tile
  ref = np.empty((m, d + 1), np.float32)
  ref[:n, :d] = x
  ref[:n, d] = np.einsum('ij,ij->i', x, x)
  ref[n:, :d], ref[n:, d] = 0, np.inf
  return ref.reshape(n_tiles, tile // chunk, chunk, d + 1).transpose(
      0, 2, 1, 3).reshape(n_tiles, tile, d + 1)


def search(queries, query_ids, ref, k, chunk, group, mesh):
  """Runs `block_search` over query blocks of `_KNN_QUERIES` (per device).

  Args:
    queries: [Q, D]; query_ids: [Q] int32 their rows in `ref` (-1: none).
    ref: [n_tiles, T, D + 1] device array from `tiles`.
    k, chunk, group: as in `block_search`.
    mesh: optional mesh; query blocks are split over its ``data`` axis.

  Returns:
    (squared distances [Q, k] ascending, rows [Q, k] of `ref`).
  """
  block = min(_KNN_QUERIES, shapes.pow2(len(queries))) * _devices(mesh)
  dists, idxs = [], []
  for start in range(0, len(queries), block):
    stop = min(start + block, len(queries))
    ids = sharding.pad_rows(query_ids[start:stop], block, -1)
    q = sharding.pad_rows(queries[start:stop], block)
    d2, idx = block_search(_split(mesh, q), _split(mesh, ids), ref, k, chunk,
                           group)
    dists.append(distributed.to_host(d2)[:stop - start])
    idxs.append(distributed.to_host(idx)[:stop - start])
  return np.concatenate(dists), np.concatenate(idxs)


def _nearest(queries, query_ids, x, k, mesh):
  """(squared distances [Q, k] ascending, rows [Q, k]) of the k nearest rows
  of x to each query, skipping row query_ids[i]."""
  n, d = x.shape
  n_tiles = -(-n // _TILE)  # Tiles of <= _TILE rows, padding < 1024 rows.
  tile = shapes.round_up(-(-n // n_tiles), 128 if n_tiles == 1 else 1024)
  chunk, group = levels(n_tiles * tile, tile, k + 1, d)
  ref = _everywhere(mesh, tiles(x, n_tiles, tile, chunk))
  return search(queries, query_ids, ref, k, chunk, group, mesh)


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
    dists.append(distributed.to_host(d)[:stop])
    idxs.append(distributed.to_host(j)[:stop])
  return np.concatenate(dists), np.concatenate(idxs)
