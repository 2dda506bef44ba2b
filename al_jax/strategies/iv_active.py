"""IV for active learning, paper 004's baseline (section 6.2; wave2.md 3.5):
Chhabra et al.'s influence value of the labelled rows, regressed onto the
candidates by a decision tree; query the largest predicted IV.

Each round: their surrogate logistic regression (no intercept, l2_reg 1 as
their active-learning code) on the labelled rows' last-layer features
(the inputs for a logistic regression), IV of every labelled row on the
validation set (`influence.iv`), scikit-learn's
`DecisionTreeRegressor(random_state=42)` fit features ↦ IV, and the b
candidates of largest prediction. Their code fits the tree once and queries
one point at a time; paper 004 refits every round, as here. Binary labels
only (IV is).

Dimensions: n labelled, U candidates, V validation rows, D features.
"""

import jax
import numpy as np
from sklearn import tree

from al_jax.influence import iv as iv_lib
from al_jax.strategies import base
from al_jax.strategies import fi_active
from al_jax.strategies import fi_util

OPTIONS = dict(l2_reg=1.0)
NEEDS = (base.MODEL, base.CHOSEN, base.VALIDATION)


def make(l2_reg: float = 1.0) -> base.Strategy:
  if not l2_reg > 0:
    raise ValueError(f'iv_active: l2_reg={l2_reg} must be > 0.')

  def select(state, ctx: base.Context, budget: int, key: jax.Array):
    del key
    model = ctx.model()
    labelled = np.flatnonzero(ctx.chosen)
    candidates = ctx.candidate_indices
    x_val, y_val = ctx.validation()
    _, feats = fi_active.embed(model, fi_active.model_inputs(
        model, np.concatenate([labelled, candidates])))
    _, feats_val = fi_active.embed(model, fi_active.normalised(
        np.asarray(x_val)))
    f_l, f_c = feats[:len(labelled)], feats[len(labelled):]
    values = iv_lib.influence_values(f_l, np.asarray(ctx.labels)[labelled],
                                     feats_val, y_val, float(l2_reg))
    predicted = tree.DecisionTreeRegressor(random_state=42).fit(
        f_l, values).predict(f_c)
    return fi_util.top_selection(candidates, predicted, budget), state

  return base.Strategy(lambda ctx: None, select)
