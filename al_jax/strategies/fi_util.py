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
'cg'; `influence.curvature`); `subsample` α < 1 scores a Bernoulli(α)
subset exactly and ranks every row by a random forest on the inputs
(Algorithm 6, `influence.subsample`; the subset drawn with the first
selection's key). KFSVD (Algorithms 5, 7) is `curvature='kfac'` (linear
models) with `svd_rank` k > 0 (∂x∂θL by its rank-k SVD, `influence.mixed`).

Dimensions: N candidates, b budget.
"""

import jax
import numpy as np

from al_jax.influence import curvature as curvature_lib
from al_jax.influence import fi
from al_jax.influence import subsample as subsample_lib
from al_jax.influence import tabular
from al_jax.strategies import base

OPTIONS = dict(scale='appendix', atol=fi.ATOL, rtol=0., damping=0.,
               order='largest', curvature='hessian', solver='cholesky',
               subsample=1., svd_rank=0)
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


def top_selection(rows, scores, budget: int, notes=()) -> base.Selection:
  """The `budget` rows of largest score (ties to the lower row), with their
  scores (they go out with the questions people answer)."""
  top = np.lexsort((rows, -np.asarray(scores)))[:budget]
  return base.Selection(np.asarray(rows)[top], notes=tuple(notes),
                        scores=np.asarray(scores, np.float64)[top])


def check_options(method: str, scale: str, curvature: str, solver: str,
                  subsample: float):
  """Names a bad option of an FI method before any work."""
  for name, value, valid in (('scale', scale, fi.SCALES),
                             ('curvature', curvature, curvature_lib.KINDS),
                             ('solver', solver, curvature_lib.SOLVERS)):
    if value not in valid:
      raise ValueError(f'{method}: {name}={value!r}; valid: {valid}.')
  if not 0 < subsample <= 1:
    raise ValueError(f'{method}: subsample={subsample}: want 0 < α <= 1.')


def forest_seed(key: jax.Array) -> int:
  return int(jax.random.randint(jax.random.fold_in(key, 1), (), 0, 2 ** 30))


def make(scale: str = 'appendix', atol: float = fi.ATOL, rtol: float = 0.,
         damping: float = 0., order: str = 'largest',
         curvature: str = 'hessian', solver: str = 'cholesky',
         subsample: float = 1., svd_rank: int = 0) -> base.Strategy:
  check_options('fi_util', scale, curvature, solver, subsample)
  if order not in ORDERS:
    raise ValueError(f'fi_util: order={order!r}; valid: {ORDERS}.')
  sign = 1. if order == 'largest' else -1.

  def scores(ctx, key):
    rows, model, tab, theta, x, y = influence_inputs(ctx)
    curv = curvature_lib.curvature(tab, theta, x, y, model.weight_decay,
                                   damping, curvature, solver)
    x_val, y_val = ctx.validation()
    score = lambda i: fi.fi_util(tab, theta, x[i], y[i], x_val, y_val, curv,
                                 scale=scale, atol=atol, rtol=rtol,
                                 svd_rank=svd_rank)
    if subsample == 1:
      return rows, score(np.arange(len(rows))), curv.note
    keep = subsample_lib.bernoulli_subset(key, len(rows), subsample)
    ranks = subsample_lib.predicted_ranks(x[keep], score(keep), x,
                                          forest_seed(key))
    return rows, ranks, (f'{curv.note}; FI-util on a Bernoulli({subsample:g})'
                         f' subset of {len(keep)} rows, ranks by a random '
                         'forest')

  def select(state, ctx: base.Context, budget: int, key: jax.Array):
    # One score per candidate set (and per draw of the subset): every b of
    # a trimming run removes from the same ranking.
    if state is None or not np.array_equal(state[0], ctx.candidate_indices):
      state = scores(ctx, key)
    rows, score, note = state
    return top_selection(rows, sign * score, budget, (note,)), state

  return base.Strategy(
      lambda ctx: scores(ctx, None) if subsample == 1 else None, select)
