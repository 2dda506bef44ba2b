"""Random: uniform sampling without replacement from the candidates (the
Random baseline of papers 000, 001, 002, 003 and 004).

Returns the picks in draw order. Multi-label pools: uniform over the
unlabeled pairs.
"""

import jax
import numpy as np

from al_jax.strategies import base

OPTIONS = {}
NEEDS = ()
PAIRS = 'native'


def make() -> base.Strategy:

  def select(state, ctx: base.Context, budget: int, key: jax.Array):
    candidates = ctx.candidate_indices
    pick = jax.random.choice(key, len(candidates), (budget,), replace=False)
    return base.Selection(candidates[np.asarray(pick)]), state

  return base.Strategy(base.no_state, select)
