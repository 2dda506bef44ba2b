"""Difficulty only: the hardest examples of each class (paper 002, Table 2).

The ablation's "Difficulty (EL2N)" column selects "samples based on their
difficulty scores" (section 5, ablation study), i.e. the highest scores. We
take them per class with `combinators.class_balanced`, as every other BOSS
component selects class-balanced (section 5, experimental setup), so that the
column differs from BOSS only in dropping diversity. Orientation follows
`dynamics.hardness` (e.g. score='aum': the lowest AUM), as CCS's and BOSS's
scores do. No cutoff: the column ranks by difficulty alone (BOSS and CCS
prune by their own `cutoff_score` first; the authors' code has no cutoff in
its monotonic 'coreset' mode either).

Dimensions: N pool, M budget.
"""

import numpy as np

from al_jax.scores import dynamics
from al_jax.strategies import base
from al_jax.strategies import ccs
from al_jax.strategies import combinators

OPTIONS = dict(score='el2n', class_balanced=True)
NEEDS = (base.DYNAMICS, base.LABELS)


def make(score, class_balanced) -> base.Strategy:
  """The hardest candidates by `score` (per class by default), returned in
  ascending index order; ties go to the lower index (stable sort)."""

  def hardest(state, ctx: base.Context, budget: int, key):
    del key
    rows = ctx.candidate_indices
    d = ccs.check_scores(dynamics.hardness(score, ctx.scores(score))[rows])
    return base.Selection(rows[np.argsort(-d, kind='stable')[:budget]]), state

  inner = base.Strategy(base.no_state, hardest)
  if class_balanced:
    inner = combinators.class_balanced(inner)

  def select(state, ctx: base.Context, budget: int, key):
    sel, state = inner.select(state, ctx, budget, key)
    return sel._replace(indices=np.sort(sel.indices)), state

  return base.Strategy(base.no_state, select)
