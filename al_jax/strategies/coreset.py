"""CoreSet (Sener & Savarese 2018) as paper 000 section 3.1 runs it: greedy
k-center (farthest-first, the 2-approximation) on penultimate embeddings,
starting from the labeled set as centers.

Multi-label pools (section 3.2): k-center runs over the images that own
annotated pairs, with every image that has a bought pair as a center; it
picks k images, then k pairs are drawn uniformly among their pairs.

Options (``config.al.coreset``): ``partitions`` [1] — appendix A.1: split the
unlabeled pool uniformly at random into that many parts and take k/m from each
(every part keeps all labeled points as centers).
"""

import jax
import numpy as np

from al_jax.kernels import kcenter
from al_jax.kernels import partition
from al_jax.strategies import base
from al_jax.strategies import pairs as pairs_lib


def make(cfg) -> base.Strategy:
  parts = int(cfg.get('partitions', 1))

  def farthest_first(emb, centers_mask, k, key, mesh) -> np.ndarray:
    """[k] indices of rows of `emb` outside `centers_mask`."""
    if parts == 1 or k == 0:
      return kcenter.kcenter_greedy(emb, centers_mask, k, key=key, mesh=mesh)
    unlabeled = np.flatnonzero(~centers_mask)
    centers = emb[centers_mask]

    def one_part(part, k_j, key_j):
      x = np.concatenate([emb[unlabeled[part]], centers])
      mask = np.arange(len(x)) >= len(part)
      return kcenter.kcenter_greedy(x, mask, k_j, key=key_j, mesh=mesh)

    return unlabeled[partition.partitioned(one_part, len(unlabeled), parts, k,
                                           key)]

  def select(state, ctx: base.Context, budget: int, key: jax.Array):
    emb = ctx.embeddings()
    if ctx.pairs is None:
      return base.Selection(farthest_first(emb, ctx.labeled_mask, budget, key,
                                           ctx.mesh)), state
    pp = ctx.pairs
    rows = np.flatnonzero(pp.images_with(np.ones(len(pp), bool)))
    centers = pp.images_with(ctx.labeled_mask)[rows]
    k_images = min(budget, int(np.sum(~centers)))
    key_images, key_pairs = jax.random.split(key)
    images = rows[farthest_first(emb[rows], centers, k_images, key_images,
                                 ctx.mesh)]
    return base.Selection(pairs_lib.sample_pairs(
        pp, ctx.labeled_mask, images, budget, key_pairs)), state

  return base.Strategy(base.no_state, select)
