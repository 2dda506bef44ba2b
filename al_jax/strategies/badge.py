"""BADGE (Ash et al. 2020) as paper 000 section 3.1 describes it: k-means++
seeding (D² sampling) on gradient embeddings g_x(y) = (p_y − 1[y = ŷ]) z_x.

The [N, C·D] embeddings are never formed: distances between outer products
are computed from the factors (see `kmeanspp.kmeanspp_seed_outer`).

Multi-label pools (section 3.2): each image-class pair is its own binary
problem, so its gradient embedding has l = 2 blocks (`pairs.pair_badge_factors`)
times its image's embedding, and k-means++ runs over the pairs.

Options (``config.al.badge``): ``partitions`` [1] — appendix A.1 random
partitions of the unlabeled pool, k/m picks from each.
"""

import jax
import numpy as np

from al_jax.kernels import kmeanspp
from al_jax.kernels import partition
from al_jax.strategies import base
from al_jax.strategies import pairs as pairs_lib


def make(cfg) -> base.Strategy:
  parts = int(cfg.get('partitions', 1))

  def select(state, ctx: base.Context, budget: int, key: jax.Array):
    z = ctx.embeddings()
    if ctx.pairs is None:
      a = np.asarray(kmeanspp.badge_factors(ctx.logits()))
    else:
      a = pairs_lib.pair_badge_factors(ctx.logits(), ctx.pairs)
      z = z[ctx.pairs.image]
    unlabeled = ctx.unlabeled_indices
    if parts == 1:
      return base.Selection(kmeanspp.kmeanspp_seed_outer(
          a, z, budget, key, candidate_mask=~ctx.labeled_mask,
          mesh=ctx.mesh)), state

    def one_part(part, k_j, key_j):
      rows = unlabeled[part]
      return kmeanspp.kmeanspp_seed_outer(a[rows], z[rows], k_j, key_j,
                                          mesh=ctx.mesh)

    picks = partition.partitioned(one_part, len(unlabeled), parts, budget, key)
    return base.Selection(unlabeled[picks]), state

  return base.Strategy(base.no_state, select)
