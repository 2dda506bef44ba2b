"""Coverage-centric core-set selection, CCS (Zheng et al. 2023, Algorithm 1),
the main baseline of paper 002 (section 5).

1. Hard cutoff: drop the ⌊β·N⌋ hardest examples (they are likely noisy).
2. Split the rest into K strata of equal width in difficulty (K = 50).
3. Spread the budget from the sparsest stratum up: repeatedly take the
   smallest remaining stratum B, draw m_B = min(|B|, ⌊m / #strata left⌋)
   of its examples uniformly at random, and remove B; m is the budget left.

Options: score ['el2n'] (the difficulty, from the training dynamics),
beta [0.1] (paper 002 uses 0.1 for CCS in appendix D.1), num_strata [50].

Dimensions: N pool, K strata, M budget.
"""

import jax
import numpy as np

from al_jax.scores import dynamics
from al_jax.strategies import base

NUM_STRATA = 50
OPTIONS = dict(score='el2n', beta=0.1, num_strata=NUM_STRATA)
NEEDS = (base.DYNAMICS,)


def check_scores(difficulty: np.ndarray) -> np.ndarray:
  """[N] float64 difficulty; raises on NaN/inf, naming the rows."""
  d = np.asarray(difficulty, np.float64)
  bad = ~np.isfinite(d)
  if bad.any():
    raise ValueError(f'Difficulty scores are NaN or infinite at {bad.sum()} '
                     f'rows, e.g. {np.flatnonzero(bad)[:5].tolist()}.')
  return d


def hard_cutoff(difficulty: np.ndarray, beta: float) -> np.ndarray:
  """[N'] ascending indices left after dropping the ⌊β·N⌋ hardest.

  Ties at the cut go to the lower index (stable sort of the hardness order).
  """
  d = check_scores(difficulty)
  if not 0 <= beta < 1:
    raise ValueError(f'cutoff beta={beta} must be in [0, 1).')
  n_cut = int(np.floor(beta * len(d)))
  hardest_first = np.argsort(-d, kind='stable')
  return np.sort(hardest_first[n_cut:])


def strata(difficulty: np.ndarray, num_strata: int = NUM_STRATA) -> np.ndarray:
  """[N] stratum id in [0, K): K equal-width bins over [min, max]."""
  d = check_scores(difficulty)
  lo, hi = d.min(), d.max()
  if hi == lo:
    return np.zeros(len(d), np.int64)
  ids = np.floor((d - lo) / (hi - lo) * num_strata).astype(np.int64)
  return np.minimum(ids, num_strata - 1)


def stratum_budgets(sizes: np.ndarray, budget: int) -> np.ndarray:
  """[K] budget per stratum, spread from the sparsest stratum up.

  Args:
    sizes: [K] stratum sizes (empty strata allowed).
    budget: M <= sizes.sum().

  Returns:
    [K] int64 budgets, each <= its stratum's size, summing to M.
  """
  sizes = np.asarray(sizes, np.int64)
  if not 0 <= budget <= sizes.sum():
    raise ValueError(f'budget {budget} must be in [0, {sizes.sum()}].')
  out = np.zeros(len(sizes), np.int64)
  left = budget
  order = [k for k in np.argsort(sizes, kind='stable') if sizes[k] > 0]
  for i, k in enumerate(order):
    out[k] = min(sizes[k], left // (len(order) - i))
    left -= out[k]
  return out


def select(difficulty: np.ndarray, budget: int, key: jax.Array,
           beta: float = 0.0, num_strata: int = NUM_STRATA) -> np.ndarray:
  """CCS: [M] ascending pool indices.

  Args:
    difficulty: [N] scores, larger = harder.
    budget: M.
    key: PRNG key for the draws within strata.
    beta: hard cutoff rate.
    num_strata: K.
  """
  keep = hard_cutoff(difficulty, beta)
  if budget > len(keep):
    raise ValueError(f'budget {budget} exceeds the {len(keep)} examples left '
                     f'after the cutoff beta={beta}.')
  ids = strata(np.asarray(difficulty)[keep], num_strata)
  sizes = np.bincount(ids, minlength=num_strata)
  # One uniform key per example; a stratum's m smallest keys are a uniform
  # draw without replacement (one compiled program, whatever the strata).
  u = np.asarray(jax.random.uniform(key, (len(keep),)))
  picks = []
  for k, m in enumerate(stratum_budgets(sizes, budget)):
    if m:
      members = keep[ids == k]
      picks.append(members[np.argsort(u[ids == k], kind='stable')[:m]])
  return np.sort(np.concatenate(picks)) if picks else np.zeros(0, np.int64)


def make(score, beta, num_strata) -> base.Strategy:

  def select_(state, ctx: base.Context, budget: int, key: jax.Array):
    rows = ctx.candidate_indices
    d = dynamics.hardness(score, ctx.scores(score))[rows]
    return base.Selection(rows[select(d, budget, key, beta,
                                      num_strata)]), state

  return base.Strategy(base.no_state, select_)
