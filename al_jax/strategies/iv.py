"""IV trimming: Chhabra et al.'s influence value (`influence.iv`), the
baseline of paper 004: the b training rows with the most negative IV (their
removal lowers the validation loss to first order), as their code deletes
them.

IV is computed on the model's last-layer features (`base.Model.apply_fn`'s
embedding) with their scikit-learn surrogate logistic regression: for
logistic regression the features are the inputs, exactly their linear
setting; for an MLP it is their `NNLastLayerIF` (the last layer refit as a
logistic regression on the embeddings). Binary labels only.

Dimensions: N candidates, V validation rows, b budget.
"""

import jax
import numpy as np

from al_jax.influence import iv as iv_lib
from al_jax.strategies import base

OPTIONS = dict(l2_reg=iv_lib.L2_REG['toy'])
NEEDS = (base.MODEL, base.LABELS, base.VALIDATION)


def make(l2_reg: float = iv_lib.L2_REG['toy']) -> base.Strategy:
  if not l2_reg > 0:
    raise ValueError(f'iv: l2_reg={l2_reg} must be > 0.')

  def init(ctx):
    model = ctx.model()
    if model.inputs is None:
      raise ValueError('IV needs the training inputs (Model.inputs), and '
                       'none were given.')
    rows = ctx.candidate_indices
    x_val, y_val = ctx.validation()
    embed = lambda x: np.asarray(model.apply_fn(model.variables, x)[1])
    values = iv_lib.influence_values(
        embed(model.inputs(rows)), ctx.labels[rows], embed(x_val), y_val,
        float(l2_reg))
    return rows, values

  def select(state, ctx: base.Context, budget: int, key: jax.Array):
    del key
    if state is None or not np.array_equal(state[0], ctx.candidate_indices):
      state = init(ctx)
    rows, values = state
    return base.Selection(rows[iv_lib.trim_order(values)[:budget]]), state

  return base.Strategy(init, select)
