"""USL, training-free unsupervised selective labeling (paper 003), as the
authors' code runs it (`selective_labeling/`; wave2.md 2.1).

  1. density s_i = 1 / D̄_i, D̄_i the mean of the k smallest squared
     distances from x_i to the pool, x_i itself included
     (`knn.knn_density`; the poster's k / (n·A_d·D̄^d) is never computed);
  2. Lloyd k-means into m (+ spare) clusters from m random data points
     (`kmeans.kmeans(init='random')`, no k-means++), a fixed number of
     iterations;
  3. `reg_iterations` passes: in each, visit the clusters in ascending id
     (empty ones skipped, stop at m picks) and take argmax_{i in cluster}
     s_i − W·reg_i; between passes, reg ← momentum·reg + (1 − momentum)·
     Σ_q D2(i, S_q)^(−α) over the current picks S_q that are within the
     horizon (a squared distance, or the `horizon_num` nearest picks) and,
     with `exclude_same_cluster`, in another cluster than i. The *last*
     pass's picks are returned (reg after iters − 1 updates); one pass is
     "densest point per cluster".

Departures, each small and said: (a) D̄ is floored (`knn.DENSITY_FLOOR`) so
duplicates have a finite density; (b) masked entries contribute exactly 0
(the code sets them to 1e10, which adds 1e10^(−α), 1e-5 for α = 0.5);
(c) "same cluster" is by cluster id (the CIFAR code one-hot encodes the
pick's column number, which shifts after an empty cluster); (d) a pick's
own row and its exact duplicates are always masked (the CIFAR path masks
them as same-cluster; the ImageNet path without exclusion masks zero
distances; a duplicate in another cluster would give the code an infinite
penalty); (e) an empty cluster keeps its last centre in our Lloyd (the code
gives it a NaN centre) and is skipped; if fewer than m clusters are
non-empty, the highest-scoring unpicked points of the last pass fill the
budget (noted in the selection); (f) features are L2-normalised here by
default (`l2_normalize`), as the code's feature extractors do.

Presets (`PRESETS`) hold the defaults of the code's CIFAR-10, CIFAR-100,
ImageNet-MoCo and ImageNet-CLIP configs; the module defaults are CIFAR-10's
except k = 20 (CIFAR's 400 neighbours are 0.8% of 50,000 points; on small
pools 20 is the ImageNet setting; `experiments/usl_mnist5k.py` sweeps it).

Dimensions: N candidates, D features, m budget, M ≤ m current picks.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from al_jax.kernels import clusters
from al_jax.kernels import kmeans
from al_jax.kernels import knn
from al_jax.kernels import shapes
from al_jax.strategies import base

OPTIONS = dict(knn_k=20, kmeans_iterations=200, reg_iterations=10,
               weight=0.5, momentum=0.9, horizon_dist=4.0, horizon_num=None,
               alpha=0.5, exclude_same_cluster=True, extra_centroids=0,
               l2_normalize=True)
NEEDS = (base.EMBEDDINGS,)
# wave2.md 2.1's table. ImageNet 1% (m = 12,820) used 12,900 centroids:
# extra_centroids=80; CIFAR m = 2,500 used one spare.
PRESETS = {
    'cifar10': dict(knn_k=400, kmeans_iterations=200, reg_iterations=10,
                    weight=0.5, momentum=0.9, horizon_dist=4.0,
                    horizon_num=None, alpha=0.5, exclude_same_cluster=True),
    'cifar100': dict(knn_k=400, kmeans_iterations=200, reg_iterations=10,
                     weight=1.0, momentum=0.9, horizon_dist=1.0,
                     horizon_num=None, alpha=1.0, exclude_same_cluster=True),
    'imagenet_moco': dict(knn_k=20, kmeans_iterations=100, reg_iterations=2,
                          weight=1.5, momentum=0.0, horizon_dist=None,
                          horizon_num=128, alpha=0.5,
                          exclude_same_cluster=False),
    'imagenet_clip': dict(knn_k=20, kmeans_iterations=100, reg_iterations=2,
                          weight=0.05, momentum=0.0, horizon_dist=None,
                          horizon_num=32, alpha=1.0,
                          exclude_same_cluster=True),
}
_BLOCK = 1024  # Rows per regulariser tile.


@functools.partial(jax.jit, static_argnames=('horizon_num', 'exclude_same'))
def _penalty_block(x, rows, cluster, picks, pick_rows, pick_cluster, alpha,
                   horizon_dist, *, horizon_num, exclude_same):
  """Σ_q D2(i, S_q)^(−α) over the unmasked picks, for a block of rows.

  Args:
    x: [B, D] float32 rows; rows: [B] int32 their pool ids (−1: padding);
      cluster: [B] int32 their clusters.
    picks: [M, D] float32; pick_rows, pick_cluster: [M] int32.
    alpha, horizon_dist: float32 scalars (horizon_dist inf: no cut-off).
    horizon_num: keep only each row's horizon_num nearest picks (before the
      same-cluster mask, as the code's Kmin), or None.
    exclude_same: mask picks of the row's own cluster.

  Returns:
    [B] float32.
  """
  sq = jnp.sum(x * x, 1)[:, None] + jnp.sum(picks * picks, 1)[None, :]
  d2 = jnp.maximum(sq - 2 * jnp.dot(x, picks.T, precision='highest'), 0.)
  keep = d2 < horizon_dist
  if horizon_num is not None and horizon_num < picks.shape[0]:
    _, near = jax.lax.top_k(-d2, horizon_num)
    keep &= jnp.zeros(d2.shape, bool).at[
        jnp.arange(d2.shape[0])[:, None], near].set(True)
  if exclude_same:
    keep &= cluster[:, None] != pick_cluster[None, :]
  # A pick's own row, and its duplicates (zero up to float32 rounding).
  keep &= (rows[:, None] != pick_rows[None, :]) & (d2 > 1e-6 * sq)
  safe = jnp.where(keep, d2, 1.)
  return jnp.sum(jnp.where(keep, safe ** -alpha, 0.), 1)


def penalty(x, cluster, picks, *, alpha, horizon_dist=None, horizon_num=None,
            exclude_same_cluster=True) -> np.ndarray:
  """[N] float64 new regulariser term of every row for picks `picks` ([M]
  row ids), in row blocks (memory O(B·M))."""
  n = len(x)
  block = min(_BLOCK, shapes.pow2(n))
  padded = shapes.round_up(n, block)
  xs = np.zeros((padded, x.shape[1]), np.float32)
  xs[:n] = x
  rows = np.full(padded, -1, np.int32)
  rows[:n] = np.arange(n)
  cl = np.full(padded, -1, np.int32)
  cl[:n] = cluster
  args = (jnp.asarray(x[picks]), jnp.asarray(picks, jnp.int32),
          jnp.asarray(cluster[picks], jnp.int32), jnp.float32(alpha),
          jnp.float32(np.inf if horizon_dist is None else horizon_dist))
  horizon_num = None if horizon_num is None else int(horizon_num)
  out = [np.asarray(_penalty_block(
      xs[s:s + block], rows[s:s + block], cl[s:s + block], *args,
      horizon_num=horizon_num, exclude_same=bool(exclude_same_cluster)))
         for s in range(0, padded, block)]
  return np.concatenate(out)[:n].astype(np.float64)


def best_per_cluster(score, cluster, m: int) -> np.ndarray:
  """[≤ m] the highest-`score` row of each non-empty cluster, clusters in
  ascending id (ties to the lower row, as torch.argmax), the first m."""
  n = len(score)
  order = np.lexsort((np.arange(n), -score, cluster))
  c = cluster[order]
  return order[np.r_[True, c[1:] != c[:-1]]][:m]


def usl(x, m: int, key: jax.Array, *, knn_k=20, kmeans_iterations=200,
        reg_iterations=10, weight=0.5, momentum=0.9, horizon_dist=4.0,
        horizon_num=None, alpha=0.5, exclude_same_cluster=True,
        extra_centroids=0, l2_normalize=True, density=None,
        mesh=None) -> dict:
  """USL's selection of m rows of x (module doc; options as `OPTIONS`).

  Args:
    x: [N, D] float features, finite.
    m: budget, at most the number of distinct rows.
    key: PRNG key of the k-means initialisation (the code's k-means seed).
    density: optional precomputed [N] `knn.knn_density` (of the same,
      normalised, features and knn_k).

  Returns:
    {'indices': [m] int64 picks (clusters ascending, then any fill),
     'density': [N], 'cluster': [N] int64, 'reg': [N] the regulariser of
     the last pass, 'filled': how many picks filled empty clusters}.
  """
  x = clusters.l2_normalized(x) if l2_normalize else np.asarray(x, np.float32)
  n = len(x)
  if not 1 <= m <= n:
    raise ValueError(f'USL: budget {m} must be in [1, {n}] (pool size).')
  distinct = clusters.distinct_rows(x)
  if m > distinct:
    raise ValueError(f'USL: a budget of {m} is more than the {distinct} '
                     'distinct points of the pool: clusters would be empty.')
  if int(reg_iterations) < 1:
    raise ValueError(f'USL: reg_iterations={reg_iterations} must be >= 1.')
  if density is None:
    density = knn.knn_density(x, int(knn_k), mesh)[0]
  k = min(n, distinct, m + int(extra_centroids))
  km = kmeans.kmeans(x, k, key, init='random',
                     iterations=int(kmeans_iterations), tol=0., mesh=mesh)
  cluster = km.labels
  reg = np.zeros(n)
  for t in range(int(reg_iterations)):
    score = density - weight * reg
    picks = best_per_cluster(score, cluster, m)
    if t < int(reg_iterations) - 1:
      new = penalty(x, cluster, picks, alpha=alpha, horizon_dist=horizon_dist,
                    horizon_num=horizon_num,
                    exclude_same_cluster=exclude_same_cluster)
      reg = momentum * reg + (1 - momentum) * new
  filled = m - len(picks)
  if filled:
    rest = np.setdiff1d(np.arange(n), picks)
    fill = rest[np.lexsort((rest, -score[rest]))][:filled]
    picks = np.concatenate([picks, fill])
  return dict(indices=picks.astype(np.int64), density=density,
              cluster=cluster, reg=reg, filled=filled)


def make(**options) -> base.Strategy:
  """The USL strategy; `init` normalises the features and computes the
  density once (reused for every budget and seed while the candidates stay
  the same)."""

  def init(ctx):
    rows = ctx.candidate_indices
    x = ctx.embeddings()[rows]
    x = clusters.l2_normalized(x) if options['l2_normalize'] else x
    density = (knn.knn_density(x, int(options['knn_k']), ctx.mesh)[0]
               if len(rows) > 1 else None)
    return rows, x, density

  def select(state, ctx: base.Context, budget: int, key: jax.Array):
    if state is None or not np.array_equal(state[0], ctx.candidate_indices):
      state = init(ctx)
    rows, x, density = state
    out = usl(x, budget, key, density=density, mesh=ctx.mesh,
              **{**options, 'l2_normalize': False})
    notes = ((f'{out["filled"]} picks filled empty clusters',)
             if out['filled'] else ())
    return base.Selection(rows[out['indices']], notes=notes), state

  return base.Strategy(init, select)
