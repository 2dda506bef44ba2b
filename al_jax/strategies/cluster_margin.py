"""Cluster-Margin (paper 000, Algorithm 2).

init: HAC with average linkage, once, on the pool embeddings of the first
trained model (Algorithm 2, lines 4-5); the clusters are reused every round.
select: the k_m unlabeled examples of smallest margin, mapped to their
clusters, sampled round-robin from the smallest cluster up (lines 8-19).

Multi-label pools (section 3.2), through `combinators.on_pairs`: clusters
are of images; Algorithm 2 picks k images, then k pairs are drawn uniformly
among those images' unlabeled pairs. The paper does not say how an image's
margin is formed from its pairs'; we use its most uncertain unlabeled pair
(the smallest binary margin), so an image ranks as high as the best query it
offers.

Options (e.g. ``config.al.cluster_margin``):
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
  knn_k [10]: neighbours per node of the multi-round (k, τ)-NN graph (also
    for the seed HAC of 'assign' when it runs multi-round).
  order_by ['pool']: the cluster size the round robin sorts by (smallest
    first). 'pool': the cluster's size in C_X, the whole pool; 'candidates':
    its size among the k_m candidates. Algorithm 2 line 10 sorts C_{M_i},
    "the mapping of M_i onto C_X", which reads either way; section 2 gives
    the reason for smallest-first: "they come from the sparsest areas of the
    embedded distribution" - a property of C_X, so 'pool' is the default.
    It also matters: at k_m = 1.25 k_t nearly every candidate cluster has
    one candidate (audit r4: 121 of 123 on MNIST-5k), so the candidate
    order is a coin toss, while the pool order takes the pool's singletons
    first.
"""

import fractions
import math

import jax
import numpy as np

from al_jax.kernels import hac as hac_lib
from al_jax.kernels.round_robin import round_robin
from al_jax.strategies import base
from al_jax.strategies import margin

HAC_METHODS = hac_lib.METHODS + ('assign',)
ORDERS = ('pool', 'candidates')
OPTIONS = dict(margin_factor=10.0, hac='auto', eps=None,
               target_cluster_size=10.0, eps_c=None, knn_k=10,
               order_by='pool')
NEEDS = (base.LOGITS, base.EMBEDDINGS)
# On pairs it runs on images and reads only their margins (each image's
# smallest pair margin, `combinators.image_view`), never [N, C] logits.
PAIRS = 'image_margins'


def cluster_pool(emb: np.ndarray, labeled_mask: np.ndarray, *, hac: str,
                 eps, target_cluster_size: float, eps_c, knn_k: int,
                 mesh: jax.sharding.Mesh | None = None) -> np.ndarray:
  """[N] cluster id per pool example, by the HAC variant `hac`.

  'assign' clusters the seed set (the labeled rows) with 'auto' HAC, then
  assigns the rest; eps (when None) is then fitted on the seeds alone.
  """
  target = target_cluster_size
  points = emb[labeled_mask] if hac == 'assign' else emb
  method = hac_lib.resolve('auto' if hac == 'assign' else hac, len(points))
  kwargs = {'k': int(knn_k)} if method == 'multiround' else {}
  if eps is None:
    eps = hac_lib.eps_for_average_size(points, target, method, mesh=mesh,
                                       **kwargs)
  if hac == 'assign':
    return hac_lib.hac_assign(emb, labeled_mask, eps, eps_c, method,
                              mesh=mesh, target=target, **kwargs)
  return hac_lib.cluster(emb, eps, method, mesh=mesh, **kwargs)


def margin_pool_size(factor: float, budget: int) -> int:
  """k_m = ceil(factor · k_t) in exact decimal arithmetic: the float product
  1.1 · 100 is 110.00000000000001, whose ceiling would be 111."""
  return math.ceil(fractions.Fraction(repr(float(factor))) * int(budget))


def make(margin_factor, order_by, **hac_options) -> base.Strategy:
  factor = float(margin_factor)
  if order_by not in ORDERS:
    raise ValueError(f'Unknown cluster_margin.order_by {order_by!r}; valid: '
                     f'{ORDERS}.')
  if factor < 1:
    raise ValueError(f'cluster_margin.margin_factor={factor}: k_m must be at '
                     'least k_t (Algorithm 2 requires k_t <= k_m).')
  if hac_options['hac'] not in HAC_METHODS:
    raise ValueError(f'Unknown cluster_margin.hac {hac_options["hac"]!r}; '
                     f'valid: {HAC_METHODS}.')

  def init(ctx: base.Context) -> np.ndarray:
    """Algorithm 2 lines 4-5, once: HAC over the pool embeddings."""
    # The margins `select` reads next come from the same model: asking for
    # them first makes their pool pass bring the embeddings too.
    margin.pool_margins(ctx)
    return cluster_pool(ctx.embeddings(), ctx.chosen, mesh=ctx.mesh,
                        **hac_options)

  def select(clusters, ctx: base.Context, budget: int, key: jax.Array):
    """Algorithm 2 lines 8-19."""
    excluded = ~ctx.candidates
    k_m = min(margin_pool_size(factor, budget), int(np.sum(~excluded)))
    candidates = margin.lowest(margin.pool_margins(ctx), excluded, k_m)
    mine = clusters[candidates]
    sizes = np.bincount(clusters)[mine] if order_by == 'pool' else None
    return base.Selection(
        candidates[round_robin(mine, budget, key, sizes)]), clusters

  return base.Strategy(init, select)
