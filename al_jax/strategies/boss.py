"""BOSS, balanced one-shot subset selection (paper 002, Algorithm 1, app. C).

Within each class (section 4: "we sample the subset in a class-balanced
fashion"):
  1. Cutoff: drop the ⌊β·|class|⌋ hardest examples of the class by
     `cutoff_score` (Algorithm 1 line 2, the CCS cutoff).
  2. Min-max normalize the difficulty (`score`, paper: EL2N over the first
     T0 = 10 epochs) to D ∈ [0, 1] over the class's examples left.
  3. I_j = ((sin(π (D_j − c')) + 1) / 2)^α, Eq. 4 with c' = c + 1.5.
  4. Lazy greedy on F(S) = Σ_{i∈V'} max_{j∈S} Sim(x_i, x_j) I_j over the
     class's examples left, V' (Eq. 5), on the initial model's penultimate
     features; class budgets follow the class sizes before the cutoff.

Which reading each step follows, paper 002 or the authors' code
(ritmininglab/BOSS train.py, mode 'boss'):
  * Importance (step 3): Eq. 4's sine, also the authors' sine (commented
    out in the released code, whose active line is a Beta pdf,
    scipy.stats.beta.pdf(D, c, α); we do not follow that).
  * c (code): the peak position in D ∈ [0, 1]. The code's sin(πD − 1.5π −
    cπ) peaks at D = c; Eq. 4's sin(π(D − c')) peaks on [0, 1] at D =
    c' − 1.5, so c' = c + 1.5 (`eq4_c`), and Eq. 4's stated range c' ∈
    [1.5, 2.5] is peaks in [0, 1]. Appendix D.1's c = 0.5 (3%) and 0.8
    (10%) are the code's c and are used as written (peaks at D = 0.5 and
    0.8). Read as Eq. 4's c' they would peak at D = 1 and, for 0.8, vanish
    at D = 0.3. On [0, 1], I = cos²(π(D − c)/2)^α: largest at D = c, 0 only
    where |D − c| = 1, so the clipping at 0 never acts there.
  * Normalisation (step 2, code): the paper says only "D_j ∈ [0, 1]"; the
    code min-max normalizes EL2N per class after the cutoff. A class whose
    scores left are all equal gets D = 0 (the code would divide by 0).
  * Cutoff (step 1, code): Algorithm 1 drops "|V|·β hardest" and appendix
    D ranks them by AUM from a full-length run. The code prunes the
    int(β·|class|) lowest `accumulated_margin` of each class; we rank by
    `cutoff_score` (default 'aum_prob', the softmax-probability margin AUM
    of CCS and the code, averaged over the run the subset loop records:
    the full-length initial run, al_jax/loops/subset.py), separate from the
    selection `score`. Ties: `ccs.hard_cutoff`.
  * Budget (code): Algorithm 1 line 4 reads |S| < b·|V'|, a budget that
    shrinks with the cutoff; the code takes round(ratio·|class|) before the
    cutoff, and we spread round(f·|V|) over classes in proportion to their
    sizes before the cutoff (`combinators.class_budgets`).
  * Subset training (paper and code): unweighted (Algorithm 1 returns a
    set); weighted=True trains with the facility-location cluster sizes.
With class_balanced=False, steps 1-4 run once over all candidates
(Algorithm 1 as written, one group).

Options: score ['el2n'], cutoff_score ['aum_prob'] (orientation from
`dynamics.hardness`: lower AUM = harder; read only when β > 0), c [None]
(peak in [0, 1]), alpha [None] (>= 0), beta [None] (a float in [0, 1) or
a tuple of (fraction, β) pairs, `ccs.beta_at`), where None takes
`default_params` of the fraction budget / pool size; class_balanced
[True], metric ['cosine'] (Sim of `facility_location`; (1 + cos)/2, the
code's `cossim_np`), weighted [False].

Dimensions: N pool, n items of a group, K budget (D above is the
difficulty, not a dimension).
"""

import jax
import numpy as np

from al_jax.kernels import facility_location as fl
from al_jax.scores import dynamics
from al_jax.strategies import base
from al_jax.strategies import ccs
from al_jax.strategies import combinators

OPTIONS = dict(score='el2n', cutoff_score='aum_prob', c=None, alpha=None,
               beta=None, class_balanced=True, metric='cosine',
               weighted=False)
NEEDS = (base.EMBEDDINGS, base.LABELS, base.DYNAMICS)
EQ4_SHIFT = 1.5  # Eq. 4's c' = c + EQ4_SHIFT for a peak at D = c.

# default_params, by the first bound >= the subset fraction (ccs.by_fraction).
# (c, alpha): appendix D.1 (four moons): 1% alpha = 0 (c plays no part);
# 3% c = 0.5, alpha = 1; 10% c = 0.8, alpha = 1; beyond D.1, our choice.
SHAPE = ((0.02, (0.5, 0.0)), (0.05, (0.5, 1.0)), (0.15, (0.8, 1.0)),
         (1.0, (0.8, 2.0)))
# beta: the authors' table for SVHN (train.py mode 'boss'), the one data set
# it covers from 1% up: 1% 0.8, 2% 0.5, 3-4% 0.3, 5-8% 0.2, 10-30% 0.1,
# 50-70% 0; fractions between two listed ones take the larger one's β.
BETA = ((0.01, 0.8), (0.02, 0.5), (0.04, 0.3), (0.08, 0.2), (0.3, 0.1),
        (1.0, 0.0))


def eq4_c(c: float) -> float:
  """Eq. 4's parameter c' for an importance peaking at D = c."""
  return c + EQ4_SHIFT


def normalize(difficulty: np.ndarray) -> np.ndarray:
  """[n] difficulty scaled to [0, 1] by min-max (constant scores -> 0)."""
  d = ccs.check_scores(difficulty)
  span = d.max() - d.min()
  return (d - d.min()) / span if span > 0 else np.zeros_like(d)


def importance(difficulty01: np.ndarray, c_eq4: float,
               alpha: float) -> np.ndarray:
  """[n] Eq. 4 as printed, I(D) = ((sin(π(D − c')) + 1) / 2)^α, clipped at
  0; c' = c_eq4 is Eq. 4's parameter (peak at D = c' − 1.5 on [0, 1] for
  c' ∈ [1.5, 2.5]); BOSS's option c maps to c' = `eq4_c(c)`."""
  if alpha < 0:
    raise ValueError(f'alpha={alpha} must be >= 0.')
  curve = (np.sin(np.pi * (np.asarray(difficulty01) - c_eq4)) + 1) / 2
  return np.maximum(curve, 0.0) ** alpha


def default_params(budget: int, pool_size: int) -> tuple[float, float, float]:
  """(c, alpha, beta) for a subset of `budget` of `pool_size` items.

  c is the peak position in D ∈ [0, 1] (module docstring). The fraction is
  looked up as `ccs.by_fraction` does, with half an item of slack, so a
  budget rounded from f (round(f·N)) gets the parameters of f.
  (c, alpha), `SHAPE`: appendix D.1's values on four moons: 1% α = 0 (flat:
  pure diversity, c plays no part); 3% c = 0.5, α = 1; 10% c = 0.8, α = 1;
  up to 2% as 1%, up to 5% as 3%, up to 15% as 10%; above 15% (D.1 stops at
  10%) our choice: c = 0.8, α = 2 (section 3.2: c grows with the subset,
  and α "will not have a great impact as long as it is moderately large").
  beta, `BETA`: the paper gives no values (Fig. 5c: higher for small
  subsets); the authors' code sets β per data set and fraction, and only
  its SVHN row spans 1-70%, so that row is the default. Its CIFAR-10,
  CIFAR-100 and Tiny-ImageNet rows are higher at 10% (0.3, 0.5, 0.7):
  give β per data set (configs/boss_table1.py does).
  """
  c, alpha = ccs.by_fraction(SHAPE, budget, pool_size)
  return c, alpha, ccs.by_fraction(BETA, budget, pool_size)


def cutoff_and_importance(difficulty: np.ndarray, cutoff: np.ndarray | None,
                          groups: np.ndarray, candidates: np.ndarray,
                          c: float, alpha: float, beta: float
                          ) -> tuple[np.ndarray, np.ndarray]:
  """Steps 1-3 within each group (class) of the candidates.

  Args:
    difficulty: [N] selection score, larger = harder.
    cutoff: [N] cutoff score, larger = harder; None only if beta = 0.
    groups: [N] group (class) of each item.
    candidates: [N] bool.
    c, alpha, beta: peak in [0, 1], sharpness, cutoff rate.

  Returns:
    (eligible [N] bool: candidates left after the cutoff, importance [N]
    float32: I of the eligible, 0 elsewhere).
  """
  if cutoff is None and beta > 0:
    raise ValueError('A cutoff (beta > 0) needs its cutoff scores.')
  candidates = np.asarray(candidates, bool)
  groups = np.asarray(groups)
  ccs.check_scores(np.asarray(difficulty)[candidates])
  eligible = np.zeros(len(candidates), bool)
  imp = np.zeros(len(candidates), np.float32)
  for g in np.unique(groups[candidates]):
    rows = np.flatnonzero(candidates & (groups == g))
    keep = rows if cutoff is None else rows[ccs.hard_cutoff(
        np.asarray(cutoff)[rows], beta)]
    eligible[keep] = True
    imp[keep] = importance(normalize(np.asarray(difficulty)[keep]),
                           eq4_c(c), alpha)
  return eligible, imp


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


def _check(c, alpha):
  if c is not None and not 0 <= c <= 1:
    raise ValueError(
        f'boss: c={c} is the peak position in the normalized difficulty and '
        f'must be in [0, 1]; Eq. 4 writes it as c + {EQ4_SHIFT} (a value in '
        '[1.5, 2.5]).')
  if alpha is not None and alpha < 0:
    raise ValueError(f'boss: alpha={alpha} must be >= 0.')


def make(score, cutoff_score, c, alpha, beta, class_balanced, metric,
         weighted) -> base.Strategy:
  _check(c, alpha)
  beta = ccs.check_beta(beta)
  inner = facility_location(metric)
  if class_balanced:
    inner = combinators.class_balanced(inner)

  def select(state, ctx: base.Context, budget: int, key: jax.Array):
    dc, da, db = default_params(budget, ctx.pool_size)
    c_ = dc if c is None else c
    alpha_ = da if alpha is None else alpha
    beta_ = db if beta is None else ccs.beta_at(beta, budget, ctx.pool_size)
    difficulty = dynamics.hardness(score, ctx.scores(score))
    cut = (ccs.cutoff_hardness(ctx, cutoff_score, 'boss') if beta_ > 0
           else None)
    if class_balanced and (np.asarray(ctx.labels)[ctx.candidates] < 0).any():
      raise ValueError('boss: class_balanced needs the class of every '
                       'candidate.')
    groups = ctx.labels if class_balanced else np.zeros(ctx.pool_size, int)
    eligible, imp = cutoff_and_importance(difficulty, cut, groups,
                                          ctx.candidates, c_, alpha_, beta_)
    if budget > eligible.sum():
      raise ValueError(f'budget {budget} exceeds the {eligible.sum()} '
                       f'examples left after the cutoff beta={beta_}.')
    sel, _ = inner.select(state, ctx.replace(candidates=eligible).with_scores(
        boss_importance=imp), budget, key)
    return sel._replace(weights=sel.weights.astype(np.float32)
                        if weighted else None), state

  return base.Strategy(base.no_state, select)
