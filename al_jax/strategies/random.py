"""Random: uniform sampling without replacement from the unlabeled pool."""

import jax
import numpy as np

from al_jax.strategies import base


def make(cfg) -> base.Strategy:
  del cfg

  def select(state, ctx: base.Context, budget: int, key: jax.Array):
    unlabeled = ctx.unlabeled_indices
    pick = jax.random.choice(key, len(unlabeled), (budget,), replace=False)
    return base.Selection(unlabeled[np.asarray(pick)]), state

  return base.Strategy(base.no_state, select)
