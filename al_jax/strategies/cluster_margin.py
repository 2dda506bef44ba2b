"""Cluster-Margin (paper 000, Algorithm 2).

init: HAC with average linkage, once, on the pool embeddings of the first
trained model (Algorithm 2, lines 4-5); the clusters are reused every round.
select: the k_m unlabeled examples of smallest margin, mapped to their
clusters, sampled round-robin from the smallest cluster up (lines 8-19).

Multi-label pools (section 3.2): clusters are of images; Algorithm 2 picks k
images, then k pairs are drawn uniformly among those images' unlabeled
pairs. The paper does not say how an image's margin is formed from its pairs';
we use its most uncertain unlabeled pair (the smallest binary margin), so an
image ranks as high as the best query it offers.

Options (``config.al.cluster_margin``):
  margin_factor [10.0]: k_m = margin_factor · k_t (paper: 10 for Open Images,
    1.25 for CIFAR/SVHN); must be >= 1.
  hac ['auto']: 'exact' (Algorithm 1, O(N²) memory), 'multiround' (appendix
    A.2, O(N·k) memory), 'assign' (A.2 cluster assignment: HAC on the labeled
    seed set, the rest joins the nearest centroid within eps_c) or 'auto'
    (exact up to hac.MAX_EXACT_POINTS points, else multiround).
  eps [None]: HAC threshold; None picks the smallest eps whose average
    cluster size reaches ``target_cluster_size`` (the paper's rule, section
    3.2/3.3: >= 10 for Open Images, >= 1.25 for CIFAR).
  target_cluster_size [10.0].
  eps_c [None]: assignment radius for 'assign'; None picks the smallest
    radius whose final clusters average ``target_cluster_size`` (A.2).
  knn_k [10]: neighbours per node of the multi-round (k, τ)-NN graph.
"""

import jax
import numpy as np

from al_jax.kernels import hac
from al_jax.kernels import hac_assign
from al_jax.kernels import hac_multiround
from al_jax.strategies import base
from al_jax.strategies import margin
from al_jax.strategies import pairs as pairs_lib
from al_jax.strategies.round_robin import round_robin

HAC_METHODS = ('auto', 'exact', 'multiround', 'assign')


def cluster_pool(emb: np.ndarray, labeled_mask: np.ndarray, cfg,
                 mesh: jax.sharding.Mesh | None = None) -> np.ndarray:
  """[N] cluster id per pool example, by the HAC variant of `cfg`."""
  method = cfg.get('hac', 'auto')
  if method not in HAC_METHODS:
    raise ValueError(f'Unknown cluster_margin.hac {method!r}; valid: '
                     f'{HAC_METHODS}.')
  if method == 'auto':
    method = 'exact' if len(emb) <= hac.MAX_EXACT_POINTS else 'multiround'
  target = cfg.get('target_cluster_size', 10.0)
  eps = cfg.get('eps')
  if method == 'assign':
    seeds = emb[labeled_mask]
    if eps is None:
      eps = hac.eps_for_average_size(seeds, target, mesh=mesh)
    return hac_assign.hac_assign(emb, labeled_mask, eps, cfg.get('eps_c'),
                                 mesh=mesh, target=target)
  kwargs = ({'k': int(cfg.get('knn_k', 10)), 'mesh': mesh}
            if method == 'multiround' else {})
  if eps is None:
    eps = hac.eps_for_average_size(emb, target, method=method, **kwargs)
  if method == 'exact':
    return hac.hac_average(emb, eps)
  return hac_multiround.hac_multiround(emb, eps, **kwargs)


def make(cfg) -> base.Strategy:
  factor = float(cfg.get('margin_factor', 10.0))
  if factor < 1:
    raise ValueError(f'cluster_margin.margin_factor={factor}: k_m must be at '
                     'least k_t (Algorithm 2 requires k_t <= k_m).')

  def sample(scores, excluded, clusters, k, key) -> np.ndarray:
    """Algorithm 2 lines 8-19 on one level (examples or images)."""
    k_m = min(int(np.ceil(factor * k)), int(np.sum(~excluded)))
    candidates = margin.lowest(scores, excluded, k_m)
    return candidates[round_robin(clusters[candidates], k, key)]

  def init(ctx: base.Context) -> np.ndarray:
    labeled = ctx.labeled_mask
    if ctx.pairs is not None:  # The seed set's images, for hac='assign'.
      labeled = ctx.pairs.images_with(labeled)
    return cluster_pool(ctx.embeddings(), labeled, cfg, ctx.mesh)

  def select(clusters, ctx: base.Context, budget: int, key: jax.Array):
    scores = margin.pool_margins(ctx)
    if ctx.pairs is None:
      return base.Selection(sample(scores, ctx.labeled_mask, clusters, budget,
                                   key)), clusters
    pp, unlabeled = ctx.pairs, ~ctx.labeled_mask
    closed = ~pp.images_with(unlabeled)
    k_images = min(budget, int(np.sum(~closed)))
    key_images, key_pairs = jax.random.split(key)
    images = sample(pp.image_min(scores, unlabeled), closed, clusters,
                    k_images, key_images)
    return base.Selection(pairs_lib.sample_pairs(
        pp, ctx.labeled_mask, images, budget, key_pairs)), clusters

  return base.Strategy(init, select)
