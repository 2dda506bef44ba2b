"""FI-util trimming (paper 004, eq. 3.1 and Algorithms 1, 3): the b training
rows whose perturbation the validation loss is most sensitive to, by the
local influence measure FI (`influence.fi`).

FI-util(z_i) = g_i G_{z_i}† g_iᵀ with g_i = ḡ_Vᵀ J_{z_i}, ḡ_V the mean
validation-loss gradient at the trained θ̂; selection = the b largest
(ties to the lower row): the rows a trimming job removes. FI-util is ≥ 0
and direction-free: it removes the most sensitive rows, not a signed
"harmful" set (wave2.md 3.9 pitfall 5).

Needs the trained model (`base.Model`, its `weight_decay` the objective's,
its `inputs` the rows: H is the Hessian over every candidate), every
candidate's label and the validation set. `init` scores every candidate
once (the scores serve every b); the selection's notes say how H was
formed (weight decay, damping). Options: `scale` ('appendix': J =
−(1/n)H⁻¹C as appendix A, the default; 'algorithm': H⁻¹C as Algorithms
1–2 write), the pseudo-inverse tolerance (`atol`, `rtol`), extra
`damping` (wave2.md 3.1, 3.9), `order`: 'largest' (the default) or
'smallest' (the bottom-b rows of appendix E.2's Table 7), and H's
`curvature` ('hessian' or 'gauss_newton') and `solver` ('cholesky' or
'cg'; `influence.curvature`).

Dimensions: N candidates, b budget.
"""

import jax
import numpy as np

from al_jax.influence import curvature as curvature_lib
from al_jax.influence import fi
from al_jax.influence import tabular
from al_jax.strategies import base

OPTIONS = dict(scale='appendix', atol=fi.ATOL, rtol=0., damping=0.,
               order='largest', curvature='hessian', solver='cholesky')
ORDERS = ('largest', 'smallest')
NEEDS = (base.MODEL, base.LABELS, base.VALIDATION)


def influence_inputs(ctx: base.Context):
  """(rows [N], model, its Tabular and θ [p], inputs [N, d], labels [N])."""
  model = ctx.model()
  if model.inputs is None:
    raise ValueError('Influence methods need the training inputs '
                     '(Model.inputs), and none were given.')
  rows = ctx.candidate_indices
  with jax.enable_x64(True):  # θ keeps its float64 (tabular models).
    tab, theta = tabular.from_model(model.apply_fn,
                                    model.variables['params'])
  return rows, model, tab, theta, model.inputs(rows), ctx.labels[rows]


def largest_first(rows, scores, budget: int) -> np.ndarray:
  """The `budget` rows of largest score (ties to the lower row)."""
  return rows[np.lexsort((rows, -np.asarray(scores)))[:budget]]


def make(scale: str = 'appendix', atol: float = fi.ATOL, rtol: float = 0.,
         damping: float = 0., order: str = 'largest',
         curvature: str = 'hessian', solver: str = 'cholesky'
         ) -> base.Strategy:
  if scale not in fi.SCALES:
    raise ValueError(f'fi_util: scale={scale!r}; valid: {fi.SCALES}.')
  if order not in ORDERS:
    raise ValueError(f'fi_util: order={order!r}; valid: {ORDERS}.')
  for name, value, valid in (('curvature', curvature, curvature_lib.KINDS),
                             ('solver', solver, curvature_lib.SOLVERS)):
    if value not in valid:
      raise ValueError(f'fi_util: {name}={value!r}; valid: {valid}.')
  sign = 1. if order == 'largest' else -1.

  def init(ctx):
    rows, model, tab, theta, x, y = influence_inputs(ctx)
    curv = curvature_lib.curvature(tab, theta, x, y, model.weight_decay,
                                   damping, curvature, solver)
    x_val, y_val = ctx.validation()
    scores = fi.fi_util(tab, theta, x, y, x_val, y_val, curv, scale=scale,
                        atol=atol, rtol=rtol)
    return rows, scores, curv.note

  def select(state, ctx: base.Context, budget: int, key: jax.Array):
    del key
    if state is None or not np.array_equal(state[0], ctx.candidate_indices):
      state = init(ctx)
    rows, scores, note = state
    return base.Selection(largest_first(rows, sign * scores, budget),
                          notes=(note,)), state

  return base.Strategy(init, select)
