"""Entropy sampling: the candidates of highest predictive entropy (DISTIL's
EntropySampling; paper 001 appendix C, Figure 4). Ties go to the lower
index."""

import jax
import numpy as np

from al_jax import sharding
from al_jax.scores import uncertainty
from al_jax.strategies import base
from al_jax.strategies import margin

OPTIONS = {}
NEEDS = (base.LOGITS,)


def make() -> base.Strategy:

  def select(state, ctx: base.Context, budget: int, key: jax.Array):
    del key
    logits = ctx.logits()
    score = -np.asarray(uncertainty.entropy(
        sharding.shard_rows(logits, ctx.mesh)))[:len(logits)]
    return base.Selection(margin.lowest(score, ~ctx.candidates,
                                        budget)), state

  return base.Strategy(base.no_state, select)
