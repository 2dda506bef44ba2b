"""Entropy sampling: the candidates of highest predictive entropy (DISTIL's
EntropySampling; paper 001 appendix C, Figure 4). Ties go to the lower
index."""

from al_jax.scores import uncertainty
from al_jax.strategies import base
from al_jax.strategies import margin

OPTIONS = {}
NEEDS = (base.LOGITS,)


def make() -> base.Strategy:
  return margin.lowest_of(margin.logit_score(uncertainty.negative_entropy))
