"""BOSS, balanced one-shot subset selection (paper 002, Algorithm 1, app. C).

  1. I_j = ((sin(π (D_j − c)) + 1) / 2)^α on difficulty D min-max normalized
     to [0, 1] (Eq. 4; paper: EL2N over the first 10 epochs).
  2. V' = V without the ⌊β·|V|⌋ hardest examples (the CCS cutoff).
  3. Lazy greedy on F(S) = Σ_{i∈V'} max_{j∈S} Sim(x_i, x_j) I_j over V'
     (Eq. 5), class-balanced as in the paper's experiments (section 4), on
     the initial model's penultimate features.

Dimensions: N pool, D feature width, K budget.
"""

import numpy as np

from al_jax.kernels import facility_location as fl
from al_jax.subset import ccs
from al_jax.subset import class_balance
from al_jax.subset import importance as importance_lib


def default_params(fraction: float) -> tuple[float, float, float]:
  """(c, alpha, beta) for a subset `fraction` of the pool, as paper 002 guides.

  Section 4 / appendix D: small subsets want a flat importance (α near 0,
  pure diversity; 1% in D.1 uses α = 0); as the subset grows the peak moves
  to harder examples (larger c) and α grows (D.1: 3% c = 0.5, α = 1; 10%
  c = 0.8, α = 1). The cutoff β matters most for small subsets (Fig. 5c)
  and BOSS's Table 1 rows all use one (they equal Table 2's "+ Cutoff"
  column), but the paper gives no values: β = 0.1 up to 5% and 0.05 above
  are our choice, as is the peak at D = 0.8 (c = 2.3) with α = 2 beyond
  15%. Tune them; D.1's synthetic runs use β = 0 (configs/moons_boss.py).
  """
  if not 0 < fraction <= 1:
    raise ValueError(f'fraction={fraction} must be in (0, 1].')
  if fraction <= 0.02:
    return 2.0, 0.0, 0.1
  if fraction <= 0.05:
    return 0.5, 1.0, 0.1
  if fraction <= 0.15:
    return 0.8, 1.0, 0.05
  return 2.3, 2.0, 0.05


def select(features: np.ndarray, labels: np.ndarray, difficulty: np.ndarray,
           budget: int, *, c: float, alpha: float, beta: float = 0.0,
           balanced: bool = True, metric: str = 'cosine', mesh=None):
  """BOSS subset.

  Args:
    features: [N, D] penultimate features of the initial model.
    labels: [N] int class ids.
    difficulty: [N] scores, larger = harder (e.g. EL2N).
    budget: K, at most the pool left after the cutoff.
    c, alpha, beta: Eq. 4 peak and sharpness, and the hard cutoff rate.
    balanced: per-class budgets (`class_balance.class_budgets`).
    metric: similarity of `facility_location`.
    mesh: optional device mesh.

  Returns:
    (facility_location.Result over pool indices, notes list[str]).
  """
  imp = importance_lib.importance(importance_lib.normalize(difficulty), c,
                                  alpha).astype(np.float32)
  eligible = np.zeros(len(imp), bool)
  eligible[ccs.hard_cutoff(difficulty, beta)] = True
  if budget > eligible.sum():
    raise ValueError(f'budget {budget} exceeds the {eligible.sum()} examples '
                     f'left after the cutoff beta={beta}.')
  if balanced:
    return class_balance.class_balanced(
        features, labels, budget, eligible=eligible, importance=imp,
        metric=metric, mesh=mesh)
  rows = np.flatnonzero(eligible)
  r = fl.facility_location(np.asarray(features)[rows], budget,
                           importance=imp[rows], metric=metric, mesh=mesh)
  return fl.Result(rows[r.indices], r.weights, r.gains), []
