"""Least confidence: the candidates whose top-1 softmax probability is
smallest (DISTIL's LeastConfidence; paper 001 appendix C, Figure 4). Ties
go to the lower index."""

from al_jax.scores import uncertainty
from al_jax.strategies import base
from al_jax.strategies import margin

OPTIONS = {}
NEEDS = (base.LOGITS,)


def make() -> base.Strategy:
  return margin.lowest_of(margin.logit_score(uncertainty.max_probability))
