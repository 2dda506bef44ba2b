"""Lloyd k-means, its initialisations, the (k, z) clustering cost, and
centres snapped to data points.

Paper 001 (sensitivity sampling) clusters embeddings with k-means++ seeding
plus Lloyd and replaces every centre by its nearest data point (section 5.2),
and measures the (k, z) cost Φ_z(D, C) = Σ_x min_c ‖x − c‖^z (section 2);
paper 003 (USL) runs Lloyd from random data points. The k-means++ *order*
(the prefix clustering of paper 001 appendix B.3) is the pick order of
`kmeanspp.kmeanspp_seed`.

Dimensions: N pool, D embedding width, K centres.

Lloyd runs as one compiled program (`lax.while_loop` over iterations). Each
iteration streams the pool once in [B, D] blocks: a [B, K] distance tile
(one matrix product with −2·centres), the nearest centre in one pass
(`_first_min`, lowest index on ties), and the rows scatter-added into the
running per-cluster sums and counts, so memory is O(N·D + K·D + B·K); the
pool reaches a CPU device without a second copy (`_padded_aligned`).

Determinism over device counts: the pool is split into `VIRTUAL_SHARDS`
equal slices whatever the mesh; every slice sums its blocks in order, the
slices' partial sums are gathered and added in slice order. A mesh whose
device count divides `VIRTUAL_SHARDS` therefore computes bit-identical
centres, labels and inertia (tested on 8 simulated devices).

Empty clusters keep their previous centre (faiss re-splits large clusters,
scikit-learn moves the centre to a far point; both change the objective's
trajectory, not the fixed point's definition).
"""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import PartitionSpec as P

from al_jax import distributed
from al_jax import sharding
from al_jax.kernels import clusters
from al_jax.kernels import kmeanspp
from al_jax.kernels import knn
from al_jax.kernels import shapes

VIRTUAL_SHARDS = 8
_BLOCK = 1024  # Pool rows per distance tile.
_ALIGN = 64  # Bytes; host arrays so aligned reach a CPU device uncopied.
INITS = ('kmeans++', 'random')


class KMeans(NamedTuple):
  """A Lloyd k-means result.

  Attributes:
    centres: [K, D] float32.
    labels: [N] int64 nearest centre of every row (lowest index on ties),
      for the returned centres.
    inertia: Σ_x min_c ‖x − c‖², float, for the returned centres.
    iterations: Lloyd updates run.
  """
  centres: np.ndarray
  labels: np.ndarray
  inertia: float
  iterations: int


def initial_indices(x, k: int, key: jax.Array, init: str = 'kmeans++',
                    candidate_mask=None, mesh=None) -> np.ndarray:
  """[K] int64 distinct rows of `x` to start from.

  Args:
    x: [N, D] float.
    k: K, at most the number of candidates.
    key: PRNG key.
    init: 'kmeans++' (D² sampling, Arthur & Vassilvitskii 2007) or 'random'
      (K distinct rows, uniform; USL's choice, paper 003).
    candidate_mask: optional [N] bool; only True rows can be picked.
    mesh: mesh with the axis ``data``; None runs on one device.
  """
  if init == 'kmeans++':
    return kmeanspp.kmeanspp_seed(x, k, key, candidate_mask, mesh)
  if init != 'random':
    raise ValueError(f'Unknown k-means init {init!r}; valid: {INITS} or a '
                     '[K, D] array of centres.')
  rows = (np.arange(len(x)) if candidate_mask is None
          else np.flatnonzero(candidate_mask))
  if not 0 <= k <= len(rows):
    raise ValueError(f'k={k} must be in [0, {len(rows)}] (candidates).')
  return rows[np.asarray(jax.random.choice(key, len(rows), (k,),
                                           replace=False))].astype(np.int64)


def kmeans(x, k: int, key: jax.Array, *, init='kmeans++',
           iterations: int = 300, tol: float = 1e-4,
           mesh: jax.sharding.Mesh | None = None) -> KMeans:
  """Lloyd k-means from k-means++ seeding, random rows or given centres.

  Args:
    x: [N, D] float, finite.
    k: number of centres K in [1, N].
    key: PRNG key for the initialisation.
    init: 'kmeans++', 'random' or a [K, D] array of initial centres.
    iterations: at most this many Lloyd updates (scikit-learn: 300).
    tol: stop once Σ_c ‖c_new − c_old‖² <= tol · mean per-feature variance
      of x (scikit-learn's rule); 0 stops only at a fixed point.
    mesh: mesh with the axis ``data``; None runs on one device.

  Returns:
    `KMeans`.
  """
  x = np.asarray(clusters.check_embeddings(x), np.float32)
  if isinstance(init, str):
    if not 1 <= k <= len(x):
      raise ValueError(f'k={k} must be in [1, {len(x)}] (rows of x).')
    centres = x[initial_indices(x, k, key, init, mesh=mesh)]
  else:
    centres = np.asarray(clusters.check_embeddings(init, 'init'), np.float32)
    if centres.shape != (k, x.shape[1]):
      raise ValueError(f'init has shape {centres.shape}, want {(k, x.shape[1])}.')
  return lloyd(x, centres, iterations, tol, mesh)


def lloyd(x, centres, iterations: int = 300, tol: float = 1e-4,
          mesh: jax.sharding.Mesh | None = None) -> KMeans:
  """Lloyd iterations from `centres` ([K, D]); see `kmeans`."""
  x = np.asarray(x, np.float32)
  centres = np.asarray(centres, np.float32)
  n = len(x)
  mesh = mesh or sharding.one_device_mesh()
  devices = mesh.shape[sharding.DATA_AXIS]
  if VIRTUAL_SHARDS % devices:
    raise ValueError(f'{devices} devices: the mesh must divide '
                     f'{VIRTUAL_SHARDS} so every device count sums alike.')
  block = min(_BLOCK, shapes.pow2(-(-n // VIRTUAL_SHARDS)))
  padded = shapes.round_up(n, VIRTUAL_SHARDS * block)
  valid = np.arange(padded) < n
  threshold = float(tol) * _mean_variance(x) if tol else 0.
  out = _lloyd_program(
      sharding.shard_rows(_padded_aligned(x, padded), mesh),
      sharding.shard_rows(valid, mesh), jnp.asarray(centres),
      jnp.float32(threshold), iterations=int(iterations), block=block,
      mesh=mesh)
  centres, labels, err, steps = map(distributed.to_host, out)
  return KMeans(centres, labels[:n].astype(np.int64),
                float(np.sum(err[:n], dtype=np.float64)), int(steps))


def _mean_variance(x, chunk: int = 65_536) -> float:
  """Mean per-feature variance of x [N, D], in float64 by row chunks (no
  [N, D] float64 temporary)."""
  total = np.zeros(x.shape[1])
  for s in range(0, len(x), chunk):
    total += np.sum(x[s:s + chunk], 0, dtype=np.float64)
  mean = total / len(x)
  total[:] = 0
  for s in range(0, len(x), chunk):
    total += np.sum(np.square(x[s:s + chunk] - mean), 0)
  return float(np.mean(total / len(x)))


def _padded_aligned(x, rows: int) -> np.ndarray:
  """x [N, D] zero-padded to [rows, D] in a 64-byte aligned buffer: a CPU
  device takes such an array without a copy, so the pool is held once more
  at most (not twice: a padded copy, then the device's)."""
  if (len(x) == rows and x.flags.c_contiguous and
      x.ctypes.data % _ALIGN == 0):
    return x
  nbytes = rows * x.shape[1] * x.itemsize
  raw = np.empty(nbytes + _ALIGN, np.uint8)
  start = -raw.ctypes.data % _ALIGN
  out = raw[start:start + nbytes].view(x.dtype).reshape(rows, x.shape[1])
  out[:len(x)] = x
  out[len(x):] = 0
  return out


@functools.partial(jax.jit, static_argnames=('iterations', 'block', 'mesh'))
def _lloyd_program(x, valid, centres, threshold, *, iterations, block, mesh):
  """Jitted Lloyd.

  Args:
    x: [N', D] float32 sharded over ``data``; N' a multiple of
      VIRTUAL_SHARDS · block.
    valid: [N'] bool, False on padding rows.
    centres: [K, D] float32 initial centres, replicated.
    threshold: stop once the squared centre shift is at most this.

  Returns:
    (centres [K, D], labels [N'] int32, squared distances [N'] to them,
    iterations run).
  """
  k = centres.shape[0]

  def local(x, valid, centres, threshold):
    per_device = VIRTUAL_SHARDS // lax.axis_size(sharding.DATA_AXIS)
    xs = x.reshape(per_device, -1, block, x.shape[1])  # [slices, blocks, ...]
    vs = valid.reshape(per_device, -1, block)

    def e_step(centres):
      """((labels, squared distances) of the local rows, and the per-slice
      sums [S, K, D] and counts [S, K] of every slice, gathered)."""
      lanes, groups = _lanes(k)
      padded_k = lanes * groups
      # −2·c is exact in float32, so x·(−2c) = −2(x·c) bit for bit; padding
      # centres sit at +inf and never win.
      neg2 = jnp.zeros((padded_k, centres.shape[1]), jnp.float32).at[:k].set(
          -2 * centres)
      c_norms = jnp.full((padded_k,), jnp.inf, jnp.float32).at[:k].set(
          jnp.sum(jnp.square(centres), -1))

      def tile(xb, vb):
        d = c_norms[None, :] + jnp.dot(xb, neg2.T,
                                       precision=lax.Precision.HIGHEST)
        low, label = _first_min(d.reshape(block, groups, lanes))
        label = jnp.where(vb, label, k)  # Padding: label K, dropped below.
        err = jnp.maximum(low + jnp.sum(jnp.square(xb), 1), 0)
        return label, err

      def one_slice(_, s):
        # Scans, not vmap: every block has the same shape on any mesh. They
        # run over block indices: scanning over the slices themselves makes
        # XLA copy each slice out first.
        def body(acc, j):
          xb = xs[s, j]
          label, err = tile(xb, vs[s, j])
          # Rows added into the running sums one by one, in row order (a
          # scatter into the carry: no [K, D] temporary per block).
          return (acc[0].at[label].add(xb, mode='drop'),
                  acc[1].at[label].add(1, mode='drop')), (label, err)
        init = (jnp.zeros((k, x.shape[1]), jnp.float32),
                jnp.zeros((k,), jnp.int32))
        return None, lax.scan(body, init, jnp.arange(xs.shape[1]))

      _, (parts, rows) = lax.scan(one_slice, None, jnp.arange(xs.shape[0]))
      gather = functools.partial(lax.all_gather, axis_name=sharding.DATA_AXIS,
                                 tiled=True)
      return rows, gather(parts[0]), gather(parts[1])

    def in_order(parts):
      total = parts[0]
      for i in range(1, VIRTUAL_SHARDS):  # Slice order, whatever the mesh.
        total = total + parts[i]
      return total

    def m_step(centres):
      _, sums, counts = e_step(centres)
      sums, counts = in_order(sums), in_order(counts)
      return jnp.where(counts[:, None] > 0,
                       sums / jnp.maximum(counts, 1)[:, None], centres)

    def cond(carry):
      _, step, shift = carry
      return (step < iterations) & (shift > threshold)

    def body(carry):
      centres, step, _ = carry
      new = m_step(centres)
      return new, step + 1, jnp.sum(jnp.square(new - centres))

    centres, steps, _ = lax.while_loop(
        cond, body, (centres, jnp.int32(0), jnp.float32(jnp.inf)))
    (labels, err), _, _ = e_step(centres)
    return centres, labels.reshape(-1), err.reshape(-1), steps

  data = P(sharding.DATA_AXIS)
  return jax.shard_map(
      local, mesh=mesh, in_specs=(data, data, P(), P()),
      out_specs=(P(), data, data, P()), check_vma=False)(
          x, valid, centres, threshold)


def _lanes(k: int) -> tuple[int, int]:
  """(lanes G, groups C) of a distance row: K centres padded to C · G, with
  C = ⌈K / 32⌉ groups but at most 16 (XLA:CPU stops vectorising a longer
  reduction over C) and G a multiple of 16 (whole vectors)."""
  groups = min(16, -(-k // 32))
  return shapes.round_up(-(-k // groups), 16), groups


def _first_min(d):
  """(min [B], lowest index of it [B] int32) of each row of d [B, C, G],
  the row being the C groups of G lanes laid end to end (index c·G + g).

  (value, index) pairs are reduced over the short middle axis, which XLA
  vectorises across the lanes: over the C groups, then (if G > 16) over
  G / 16 groups of 16 lanes; only 16 lanes per row are left for a min and
  a masked min of the index. A plain argmin over a row of K is ~10x slower on CPU, a min
  then a masked min over the whole row ~4x. Exact: ties go to the lower
  index.
  """
  b, groups, lanes = d.shape

  def better(p, q):
    (pv, pi), (qv, qi) = p, q
    take = (qv < pv) | ((qv == pv) & (qi < pi))
    return jnp.where(take, qv, pv), jnp.where(take, qi, pi)

  def middle(value, index):
    return lax.reduce((value, index), (jnp.float32(jnp.inf),
                                       jnp.int32(groups * lanes)), better, (1,))

  index = (lax.broadcasted_iota(jnp.int32, d.shape, 1) * lanes +
           lax.broadcasted_iota(jnp.int32, d.shape, 2))
  value, index = middle(d, index)  # [B, G]
  if lanes > 16 and lanes % 16 == 0:
    value, index = middle(value.reshape(b, -1, 16), index.reshape(b, -1, 16))
  low = jnp.min(value, 1)
  return low, jnp.min(jnp.where(value == low[:, None], index,
                                groups * lanes), 1)


def assign(x, centres, mesh: jax.sharding.Mesh | None = None):
  """Nearest centre of every row: (distance [N] float64 Euclidean, index [N]
  int64; lowest index on ties).

  The nearest centre comes from blocked norm-expansion distances
  (`knn.nearest_centroid`); the distance is then recomputed as ‖x − c‖ from
  the difference, so a row that is a centre has distance exactly 0 (the
  expansion leaves ~sqrt(eps)·‖x‖ there).
  """
  x = np.asarray(x, np.float32)
  centres = np.asarray(centres, np.float32)
  idx = knn.nearest_centroid(x, centres, mesh)[1].astype(np.int64)
  diff = np.float64(x) - centres[idx]
  return np.sqrt(np.einsum('ij,ij->i', diff, diff)), idx


def cost(x, centres, z: float = 2., mesh: jax.sharding.Mesh | None = None
         ) -> float:
  """Φ_z(X, C) = Σ_x min_c ‖x − c‖^z (paper 001 section 2); z = 1 is the
  k-median cost, z = 2 the k-means cost (the inertia). Summed in float64."""
  dist = assign(x, centres, mesh)[0]
  return float(np.sum(np.asarray(dist, np.float64)**z))


def snap(x, centres, candidate_mask=None, neighbours: int = 8) -> np.ndarray:
  """Each centre replaced by its nearest data point not taken by an earlier
  centre (paper 001 section 5.2: the loss can only be queried at data
  points; snapping loses at most a factor 4 in k-means cost).

  Centres are served in order; a centre whose `neighbours` nearest points
  are all taken searches the whole pool again. Duplicate points are valid:
  the next centre takes the next copy.

  Args:
    x: [N, D] float.
    centres: [K, D] float.
    candidate_mask: optional [N] bool; only True rows can be taken.
    neighbours: nearest points fetched per centre in the first pass.

  Returns:
    [K] int64 distinct row indices.
  """
  x = np.asarray(x, np.float32)
  centres = np.asarray(centres, np.float32)
  rows = (np.arange(len(x)) if candidate_mask is None
          else np.flatnonzero(candidate_mask))
  if len(centres) > len(rows):
    raise ValueError(f'{len(centres)} centres cannot take distinct points '
                     f'among {len(rows)} candidates.')
  near = knn.nearest_points(centres, x[rows], min(neighbours, len(rows)))[1]
  taken = np.zeros(len(rows), bool)
  out = np.empty(len(centres), np.int64)
  for i, options in enumerate(near):
    free = options[~taken[options]]
    if free.size:
      j = free[0]
    else:  # Rare: many centres on one clump of duplicates.
      d = np.sum(np.square(x[rows] - centres[i]), 1, dtype=np.float64)
      d[taken] = np.inf
      j = int(np.argmin(d))
    taken[j] = True
    out[i] = rows[j]
  return out
