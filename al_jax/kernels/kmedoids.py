"""k-medoids (z = 1: k-median on data points; z = 2: discrete k-means).

Centres are rows of `x`, so a label can be bought at each centre (paper 001,
Algorithm 2 step 1 and section 5.1). Three stages, all in one jitted program:

1. Seeding: `kmeanspp.kmeanspp_seed`, i.e. D² sampling, for both z. D¹ is the
   textbook seeding for z = 1 (its O(log k) factor is proved for D^z); D² is
   used because it is the tested, sharding-invariant kernel al_jax already has,
   and because the guarantee we rely on comes from stage 3, not the seeds.
2. Alternating (Voronoi) iteration: assign every row to its nearest medoid,
   then move each medoid to the member minimising the sum of distances^z to
   the other members; stop when no medoid moves or after `max_iter` rounds.
   The update is a masked all-pairs sum over points of one cluster: rows are
   sorted by cluster and only [block, block] tiles whose cluster ranges meet
   are computed, so a round costs O(N·(2·block + largest cluster)·D), and
   O(N²·D) at worst (one giant cluster); fine for N ≤ ~14,000.
3. PAM SWAP with FastPAM1's trick (Schubert & Rousseeuw 2019). With d_j the
   distance^z of row j to its nearest medoid n_j and e_j to its second nearest,
   ΔTD(m, o) = Σ_j min(d_oj − d_j, 0)
             + Σ_{j: n_j = m} [min(d_oj, e_j) − d_j − min(d_oj − d_j, 0)]
   for every medoid m at once, per candidate o. Candidates go in blocks: a
   [block, N] distance tile and a segment sum over n_j into [K, block]. The
   best improving swap is applied (the same swap PAM/FastPAM1 makes); a pass
   costs O(N²·D). A swap is kept only if the recomputed cost decreases, so the
   cost never goes up through float32 rounding. Run to convergence (no
   improving swap) the result is a single-swap local optimum: a 5-approximation
   for k-median (Arya et al. 2004), which is the O(1)-approximate clustering
   Algorithm 2 asks for. `DEFAULT_MAX_SWAPS` = 8 bounds the passes: a pass is
   N²·D multiply-adds plus N² segment-summed terms, ~0.25 s at N = 5000,
   D = 128 (so 8 passes stay within seconds) but ~10 s at N = D = 5000 (one
   thread on a shared 2-core machine); pass a larger value to converge.

Conventions: medoids are kept in ascending row order and `labels` index into
them. Ties go to the lowest index: nearest medoid → lowest medoid position
(= lowest row), except that a medoid always belongs to its own cluster (so no
cluster is empty even with duplicate rows); new medoid → the current one if
no member is strictly better, else the lowest row among the best; best swap →
lowest candidate row o, then lowest medoid. Distances are float32 from
||x||² + ||y||² − 2x·y on centred rows, with self-distances set to 0 exactly;
the returned cost is recomputed in float64 from row differences.

Memory beyond the input: O(N·D) (one sorted copy of the rows) plus a few
[block, N] tiles; never an N × N matrix. Single device (no mesh).

Dimensions: N rows, D features, K medoids, B block.
"""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from al_jax.kernels import clusters
from al_jax.kernels import distances
from al_jax.kernels import kmeanspp

DEFAULT_MAX_ITER = 100
DEFAULT_MAX_SWAPS = 8
DEFAULT_BLOCK = 256
_HIGHEST = lax.Precision.HIGHEST


class KMedoidsResult(NamedTuple):
  """medoids [K] int64 rows (ascending); labels [N] int64 positions in
  `medoids`; cost Σ_j ||x_j − medoid(x_j)||^z (float64); iterations of the
  alternating stage; swaps applied by the SWAP stage."""
  medoids: np.ndarray
  labels: np.ndarray
  cost: float
  iterations: int
  swaps: int


def kmedoids(x, k: int, key: jax.Array | None = None, *, z: int = 1,
             max_iter: int = DEFAULT_MAX_ITER,
             max_swaps: int = DEFAULT_MAX_SWAPS, init=None,
             block: int = DEFAULT_BLOCK) -> KMedoidsResult:
  """k-medoids of the rows of `x`: k-means++ seeds, alternating, PAM swaps.

  Args:
    x: [N, D] float, finite.
    k: number of medoids K, in [1, N].
    key: PRNG key for the seeding; unused (may be None) when `init` is given.
    z: 1 (distance, k-median) or 2 (squared distance).
    max_iter: at most this many alternating rounds (0 skips the stage).
    max_swaps: at most this many SWAP passes, one swap each (0 skips).
    init: optional [K] distinct row indices to start from instead of seeding.
    block: tile edge B.

  Returns:
    KMedoidsResult; deterministic given `key` (or `init`).
  """
  x = clusters.check_embeddings(x)
  n = x.shape[0]
  if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
    raise ValueError(f'k must be an integer, got {k!r}.')
  if not 1 <= k <= n:
    raise ValueError(f'k={k} must be in [1, N={n}].')
  if z not in (1, 2):
    raise ValueError(f'z must be 1 or 2, got {z!r}.')
  if max_iter < 0 or max_swaps < 0:
    raise ValueError(f'max_iter={max_iter} and max_swaps={max_swaps} must be '
                     '>= 0.')
  if init is None:
    if key is None:
      raise ValueError('Pass a PRNG key (or init medoids).')
    init = kmeanspp.kmeanspp_seed(x, k, key)
  init = np.asarray(init)
  if (init.shape != (k,) or not np.issubdtype(init.dtype, np.integer)
      or np.any(init < 0) or np.any(init >= n)
      or np.unique(init).size != k):
    raise ValueError(f'init must be {k} distinct row indices in [0, {n}), got '
                     f'{init!r}.')
  xc = (x - x.mean(0)).astype(np.float32)  # Centring shrinks the norms'
  # cancellation error in ||x||² + ||y||² − 2x·y.
  medoids, labels, iters, swaps = _program(
      jnp.asarray(xc), jnp.asarray(np.sort(init), jnp.int32),
      jnp.int32(max_iter), jnp.int32(max_swaps), z=z,
      block=max(1, min(block, n)))
  medoids = np.asarray(medoids).astype(np.int64)
  labels = np.asarray(labels).astype(np.int64)
  x64 = np.asarray(x, np.float64)
  dist = np.linalg.norm(x64 - x64[medoids[labels]], axis=1)
  return KMedoidsResult(medoids, labels, float(np.sum(dist**z)), int(iters),
                        int(swaps))


def _dist(a, a_norms, b, b_norms, z):
  """[M, P] distance^z between rows of two point sets."""
  sq = a_norms[:, None] + b_norms[None, :] - 2 * jnp.dot(
      a, b.T, precision=_HIGHEST)
  sq = jnp.maximum(sq, 0)
  return jnp.sqrt(sq) if z == 1 else sq


def _nearest_two(x, norms, medoids, z, block):
  """Nearest and second-nearest medoid of every row.

  Args:
    x: [N, D] float32; norms: [N]; medoids: [K] int32 ascending rows.

  Returns:
    d [N] distance^z to the nearest medoid, e [N] to the second (inf if K = 1),
    n [N] int32 position of the nearest medoid; a medoid row is its own
    nearest (d = 0).
  """
  num, k = x.shape[0], medoids.shape[0]
  centers, c_norms = x[medoids], norms[medoids]
  nblocks = -(-num // block)

  def body(i, carry):
    d, e, n = carry
    start = jnp.minimum(i * block, num - block)
    rows = start + jnp.arange(block)
    t = _dist(lax.dynamic_slice_in_dim(x, start, block),
              lax.dynamic_slice_in_dim(norms, start, block), centers, c_norms,
              z)
    own = rows[:, None] == medoids[None, :]
    t = jnp.where(own, 0, t)
    # A medoid belongs to its own cluster even if a duplicate medoid ties.
    nb = jnp.where(own.any(1), jnp.argmax(own, 1), jnp.argmin(t, 1))
    db = jnp.take_along_axis(t, nb[:, None], 1)[:, 0]
    eb = jnp.min(jnp.where(jnp.arange(k)[None, :] == nb[:, None], jnp.inf, t),
                 1)
    return (lax.dynamic_update_slice_in_dim(d, db, start, 0),
            lax.dynamic_update_slice_in_dim(e, eb, start, 0),
            lax.dynamic_update_slice_in_dim(n, nb.astype(jnp.int32), start, 0))

  init = (jnp.zeros((num,), x.dtype), jnp.zeros((num,), x.dtype),
          jnp.zeros((num,), jnp.int32))
  return lax.fori_loop(0, nblocks, body, init)


def _within_cluster_costs(x, norms, labels, z, block):
  """[N] Σ_{j: labels_j = labels_i} dist(x_i, x_j)^z, on band tiles only."""
  num = x.shape[0]
  perm = jnp.argsort(labels, stable=True)
  ls, xs, ns = labels[perm], x[perm], norms[perm]
  nblocks = -(-num // block)

  def row_block(i, out):
    start = jnp.minimum(i * block, num - block)
    rows = start + jnp.arange(block)
    xr = lax.dynamic_slice_in_dim(xs, start, block)
    nr = lax.dynamic_slice_in_dim(ns, start, block)
    lr = lax.dynamic_slice_in_dim(ls, start, block)
    # Sorted labels: the columns of this block's clusters are one range.
    jlo = jnp.searchsorted(ls, lr[0], side='left') // block
    jhi = (jnp.searchsorted(ls, lr[-1], side='right') - 1) // block

    def col_block(j, acc):
      cstart = jnp.minimum(j * block, num - block)
      cols = cstart + jnp.arange(block)
      lc = lax.dynamic_slice_in_dim(ls, cstart, block)
      t = _dist(xr, nr, lax.dynamic_slice_in_dim(xs, cstart, block),
                lax.dynamic_slice_in_dim(ns, cstart, block), z)
      # The clamped last block overlaps the one before: count columns once.
      keep = ((lr[:, None] == lc[None, :]) & (cols >= j * block)[None, :]
              & (rows[:, None] != cols[None, :]))
      return acc + jnp.sum(jnp.where(keep, t, 0), 1)

    acc = lax.fori_loop(jlo, jhi + 1, col_block,
                        jnp.zeros((block,), x.dtype))
    return lax.dynamic_update_slice_in_dim(out, acc, start, 0)

  sorted_cost = lax.fori_loop(0, nblocks, row_block,
                              jnp.zeros((num,), x.dtype))
  return jnp.zeros_like(sorted_cost).at[perm].set(sorted_cost)


def _update_medoids(x, norms, medoids, labels, z, block):
  """[K] ascending medoids after one Voronoi medoid update."""
  num, k = x.shape[0], medoids.shape[0]
  cost = _within_cluster_costs(x, norms, labels, z, block)
  best = jax.ops.segment_min(cost, labels, num_segments=k)
  rows = jnp.arange(num)
  lowest = jax.ops.segment_min(jnp.where(cost == best[labels], rows, num),
                               labels, num_segments=k)
  # Keep the current medoid unless a member is strictly better: rounds then
  # strictly lower the cost and cannot cycle on ties.
  new = jnp.where(best < cost[medoids], lowest, medoids)
  return jnp.sort(new)


def _best_swap(x, norms, is_medoid, d, e, n, k, z, block):
  """(ΔTD, o, m position) of the best swap; FastPAM1, candidates in blocks."""
  num = x.shape[0]
  nblocks = -(-num // block)

  def body(i, best):
    start = jnp.minimum(i * block, num - block)
    cand = start + jnp.arange(block)
    t = _dist(lax.dynamic_slice_in_dim(x, start, block),
              lax.dynamic_slice_in_dim(norms, start, block), x, norms, z)
    t = jnp.where(cand[:, None] == jnp.arange(num)[None, :], 0, t)  # [B, N]
    gain = jnp.minimum(t - d[None, :], 0)
    loss = jnp.minimum(t, e[None, :]) - d[None, :] - gain
    delta = jnp.sum(gain, 1)[:, None] + jax.ops.segment_sum(
        loss.T, n, num_segments=k).T  # [B, K]
    delta = jnp.where(is_medoid[cand][:, None], jnp.inf, delta)
    flat = jnp.argmin(delta)  # Row-major: lowest o, then lowest m.
    value = delta.reshape(-1)[flat]
    cand_best = (value, cand[flat // k], (flat % k).astype(jnp.int32))
    better = value < best[0]
    return jax.tree.map(lambda a, b: jnp.where(better, a, b), cand_best, best)

  init = (jnp.array(jnp.inf, x.dtype), jnp.int32(0), jnp.int32(0))
  return lax.fori_loop(0, nblocks, body, init)


@functools.partial(jax.jit, static_argnames=('z', 'block'))
def _program(x, medoids, max_iter, max_swaps, *, z, block):
  """Alternating rounds, then SWAP passes.

  Args:
    x: [N, D] float32 centred rows; medoids: [K] int32 ascending initial rows;
    max_iter, max_swaps: int32 limits.

  Returns:
    medoids [K] int32 ascending, labels [N] int32, rounds, swaps.
  """
  num, k = x.shape[0], medoids.shape[0]
  norms = distances.sq_norms(x)

  def alt_cond(carry):
    _, it, moved = carry
    return moved & (it < max_iter)

  def alt_body(carry):
    med, it, _ = carry
    _, _, labels = _nearest_two(x, norms, med, z, block)
    new = _update_medoids(x, norms, med, labels, z, block)
    return new, it + 1, jnp.any(new != med)

  medoids, iters, _ = lax.while_loop(alt_cond, alt_body,
                                     (medoids, jnp.int32(0), jnp.array(True)))

  def swap_cond(carry):
    return carry[-1] & (carry[-2] < max_swaps)

  def swap_body(carry):
    med, d, e, n, swaps, _ = carry
    is_medoid = jnp.zeros((num,), bool).at[med].set(True)
    delta, o, m = _best_swap(x, norms, is_medoid, d, e, n, k, z, block)
    new = jnp.sort(med.at[m].set(o))
    d2, e2, n2 = _nearest_two(x, norms, new, z, block)
    ok = (delta < 0) & (jnp.sum(d2) < jnp.sum(d))
    pick = lambda a, b: jnp.where(ok, a, b)
    return (pick(new, med), pick(d2, d), pick(e2, e), pick(n2, n),
            swaps + ok.astype(jnp.int32), ok)

  d, e, n = _nearest_two(x, norms, medoids, z, block)
  medoids, _, _, labels, swaps, _ = lax.while_loop(
      swap_cond, swap_body,
      (medoids, d, e, n, jnp.int32(0), jnp.array(True)))
  return medoids, labels, iters, swaps
