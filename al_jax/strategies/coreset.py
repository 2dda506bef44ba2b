"""CoreSet (Sener & Savarese 2018) as paper 000 section 3.1 runs it: greedy
k-center (farthest-first, the 2-approximation) on penultimate embeddings,
starting from the labeled set as centers.

Options (``config.al.coreset``): ``partitions`` [1] — appendix A.1: split the
unlabeled pool uniformly at random into that many parts and take k/m from each
(every part keeps all labeled points as centers).
"""

import jax
import numpy as np

from al_jax.kernels import kcenter
from al_jax.kernels import partition
from al_jax.strategies import base


def make(cfg) -> base.Strategy:
  parts = int(cfg.get('partitions', 1))

  def select(state, ctx: base.Context, budget: int, key: jax.Array):
    emb = ctx.embeddings()
    if parts == 1:
      return base.Selection(kcenter.kcenter_greedy(
          emb, ctx.labeled_mask, budget, key=key, mesh=ctx.mesh)), state
    unlabeled = ctx.unlabeled_indices
    centers = emb[ctx.labeled_mask]

    def one_part(part, k_j, key_j):
      x = np.concatenate([emb[unlabeled[part]], centers])
      mask = np.arange(len(x)) >= len(part)
      return kcenter.kcenter_greedy(x, mask, k_j, key=key_j, mesh=ctx.mesh)

    picks = partition.partitioned(one_part, len(unlabeled), parts, budget, key)
    return base.Selection(unlabeled[picks]), state

  return base.Strategy(base.no_state, select)
