"""r-round sensitivity sampling (paper 001, appendix B.3, Algorithm 3) for
the active-learning loop.

State: the k-means++ order of the pool (D² sampling order; appendix A.2
recommends it as the prefix clustering in practice, an O(log k)
approximation for every prefix) on the embeddings of the first round's
model, which are kept: Algorithm 3 assumes one fixed embedding while the
losses change. Round i (from 0) takes 𝒜 = the first (i + 1)·k items of
the order, buys the labels of those not labelled yet, measures ℓ at all of
𝒜 with the current model, and samples the rest of the budget exactly as
Algorithm 1 (`sensitivity.estimate`) with that 𝒜. With r·k = n every item
is a centre, v = 0 and p ∝ ℓ: the estimate is exact (tested).

Departures, for the active loop: the law is over the unlabelled items (the
labelled ones are known), and k counts the new positions of the order per
round (centres labelled earlier cost nothing, so the draws take their
share of the budget). Line 4 of Algorithm 3 drops the exponent z of v(e);
we use ‖e − 𝒜(e)‖^z so that Σ v = Φ_z and Σ p = 1 (spec 1.3).

The order is recomputed each round from `order_seed` (its prefix does not
depend on its length), so a resumed run continues the same order.

Dimensions: N pool, D embedding width, k centres per round.
"""

import jax
import numpy as np

from al_jax.kernels import kmeanspp
from al_jax.strategies import base
from al_jax.strategies import sensitivity

OPTIONS = {**sensitivity.OPTIONS, 'order_seed': 0}
NEEDS = sensitivity.NEEDS
needs = sensitivity.needs


def make(**o) -> base.Strategy:
  sensitivity.check_options(o)

  def init(ctx: base.Context):
    return np.asarray(ctx.embeddings(), np.float32)

  def select(emb, ctx: base.Context, budget: int, key: jax.Array):
    k = max(1, round(o['centre_fraction'] * budget))
    size = min((ctx.round + 1) * k, ctx.pool_size)
    order = kmeanspp.kmeanspp_seed(emb, size, jax.random.key(o['order_seed']),
                                   mesh=ctx.mesh)
    if budget > int(ctx.candidates.sum()):
      raise ValueError(f'Budget {budget} exceeds the '
                       f'{int(ctx.candidates.sum())} candidates.')
    idx, weights, notes = sensitivity.estimate(ctx, key, budget, order, o,
                                               emb)
    return base.Selection(idx, weights, notes + (
        f'{size} centres (k-means++ order)',)), emb

  return base.Strategy(init, select)
