"""BADGE (Ash et al. 2020) as paper 000 section 3.1 describes it: k-means++
seeding (D² sampling) on gradient embeddings g_x(y) = (p_y − 1[y = ŷ]) z_x.

The [N, C·D] embeddings are never formed: distances between outer products
are computed from the factors (see `kmeanspp.kmeanspp_seed_outer`).

Multi-label pools (section 3.2): each image-class pair is its own binary
problem, so its gradient embedding has l = 2 blocks
(`gradients.pair_badge_factors`) times its image's embedding, and k-means++
runs over the pairs. Appendix A.1's random partitions are the `partitions`
option every strategy has (`combinators.partitioned`).
"""

import jax
import numpy as np

from al_jax.kernels import kmeanspp
from al_jax.scores import gradients
from al_jax.strategies import base

OPTIONS = {}
NEEDS = (base.LOGITS, base.EMBEDDINGS)
PAIRS = 'native'


def make() -> base.Strategy:

  def select(state, ctx: base.Context, budget: int, key: jax.Array):
    # Logits first: their pass brings the embeddings too (one pool pass).
    if ctx.pairs is None:
      a = np.asarray(gradients.badge_factors(ctx.logits()))
      z = ctx.embeddings()
    else:
      a = gradients.pair_badge_factors(ctx.pair_logits())
      z = ctx.embeddings()[ctx.pairs.image]
    candidates = None if ctx.candidates.all() else ctx.candidates
    return base.Selection(kmeanspp.kmeanspp_seed_outer(
        a, z, budget, key, candidate_mask=candidates, mesh=ctx.mesh)), state

  return base.Strategy(base.no_state, select)
