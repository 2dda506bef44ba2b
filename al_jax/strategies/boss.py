"""BOSS, balanced one-shot subset selection (paper 002, Algorithm 1, app. C).

  1. I_j = ((sin(π (D_j − c)) + 1) / 2)^α on difficulty D min-max normalized
     to [0, 1] (Eq. 4; paper: EL2N over the first 10 epochs).
  2. V' = V without the ⌊β·|V|⌋ hardest examples (the CCS cutoff).
  3. Lazy greedy on F(S) = Σ_{i∈V'} max_{j∈S} Sim(x_i, x_j) I_j over V'
     (Eq. 5), class-balanced as in the paper's experiments (section 4), on
     the initial model's penultimate features.

The importance function: I(D) = ((sin(π (D − c)) + 1) / 2) ** α on the
normalized difficulty D. α = 0 makes I flat (pure diversity); larger α
sharpens it. On [0, 1] the peak sits at D = c − 1.5 for c in [1.5, 2.5]
(section 4: smaller c favours easy examples, larger c hard ones); appendix
D's c = 0.5 and 0.8 are the same curves shifted by a period of 2 (peak at
D = c + 0.5, i.e. increasing on [0, 1] for c >= 0.5).

Options: score ['el2n'], c, alpha, beta [None: `default_params` of the
subset fraction budget / pool size], class_balanced [True], metric
['cosine'] (Sim of `facility_location`), weighted [False] (paper 002 trains
on S unweighted: Algorithm 1 returns a set).

Dimensions: N pool, D feature width, K budget.
"""

import jax
import numpy as np

from al_jax.kernels import facility_location as fl
from al_jax.scores import dynamics
from al_jax.strategies import base
from al_jax.strategies import ccs
from al_jax.strategies import combinators

OPTIONS = dict(score='el2n', c=None, alpha=None, beta=None,
               class_balanced=True, metric='cosine', weighted=False)
NEEDS = (base.EMBEDDINGS, base.LABELS, base.DYNAMICS)


def normalize(difficulty: np.ndarray) -> np.ndarray:
  """[N] difficulty scaled to [0, 1] by min-max (constant scores -> 0)."""
  d = ccs.check_scores(difficulty)
  span = d.max() - d.min()
  return (d - d.min()) / span if span > 0 else np.zeros_like(d)


def importance(difficulty01: np.ndarray, c: float, alpha: float) -> np.ndarray:
  """[N] I(D) of normalized difficulties; >= 0."""
  if alpha < 0:
    raise ValueError(f'alpha={alpha} must be >= 0.')
  curve = (np.sin(np.pi * (np.asarray(difficulty01) - c)) + 1) / 2
  return np.maximum(curve, 0.0) ** alpha


def default_params(budget: int, pool_size: int) -> tuple[float, float, float]:
  """(c, alpha, beta) for a subset of `budget` of `pool_size` items, as paper
  002 guides. The fraction budget / pool_size is compared with the bounds
  below with half an item of slack, so a budget rounded from a fraction
  (round(f·N)) gets the parameters of f.

  Section 4 / appendix D: small subsets want a flat importance (α near 0,
  pure diversity; 1% in D.1 uses α = 0); as the subset grows the peak moves
  to harder examples (larger c) and α grows (D.1: 3% c = 0.5, α = 1; 10%
  c = 0.8, α = 1). The cutoff β matters most for small subsets (Fig. 5c)
  and BOSS's Table 1 rows all use one (they equal Table 2's "+ Cutoff"
  column), but the paper gives no values: β = 0.1 up to 5% and 0.05 above
  are our choice, as is the peak at D = 0.8 (c = 2.3) with α = 2 beyond
  15%. Tune them; D.1's synthetic runs use β = 0 (configs/moons_boss.py).
  """
  if not 0 < budget <= pool_size:
    raise ValueError(f'budget={budget} must be in (0, {pool_size}].')
  fraction = (budget - 0.5) / pool_size  # The smallest f rounding to budget.
  if fraction <= 0.02:
    return 2.0, 0.0, 0.1
  if fraction <= 0.05:
    return 0.5, 1.0, 0.1
  if fraction <= 0.15:
    return 0.8, 1.0, 0.05
  return 2.3, 2.0, 0.05


def facility_location(metric: str) -> base.Strategy:
  """Facility location over a context's candidates, weighted by its
  'boss_importance' score (Eq. 5); weights are cluster sizes."""

  def select(state, ctx: base.Context, budget: int, key):
    del key
    rows = ctx.candidate_indices
    r = fl.facility_location(
        np.asarray(ctx.embeddings())[rows], budget, metric=metric,
        importance=ctx.scores('boss_importance')[rows], mesh=ctx.mesh)
    return base.Selection(rows[r.indices], r.weights), state

  return base.Strategy(base.no_state, select)


def make(score, c, alpha, beta, class_balanced, metric,
         weighted) -> base.Strategy:
  inner = facility_location(metric)
  if class_balanced:
    inner = combinators.class_balanced(inner)

  def select(state, ctx: base.Context, budget: int, key: jax.Array):
    dc, da, db = default_params(budget, ctx.pool_size)
    c_, alpha_, beta_ = (dc if c is None else c, da if alpha is None else alpha,
                         db if beta is None else beta)
    difficulty = dynamics.hardness(score, ctx.scores(score))
    imp = importance(normalize(difficulty), c_, alpha_).astype(np.float32)
    eligible = np.zeros(len(imp), bool)
    eligible[ccs.hard_cutoff(difficulty, beta_)] = True
    eligible &= ctx.candidates
    if budget > eligible.sum():
      raise ValueError(f'budget {budget} exceeds the {eligible.sum()} '
                       f'examples left after the cutoff beta={beta_}.')
    sel, _ = inner.select(state, ctx.replace(candidates=eligible).with_scores(
        boss_importance=imp), budget, key)
    return sel._replace(weights=sel.weights.astype(np.float32)
                        if weighted else None), state

  return base.Strategy(base.no_state, select)
