"""Coverage-centric core-set selection, CCS (Zheng et al. 2023, Algorithm 1),
the main baseline of paper 002 (section 5).

1. Hard cutoff: drop the ⌊β·N⌋ hardest examples by `cutoff_score` (likely
   mislabeled), over the whole pool, as the CCS code's `mislabel_mask` does
   (with `class_balanced=True` the registry's combinator makes it per class).
2. Split the rest into K strata of equal width in the selection `score`
   (K = 50), over [min, max] of the examples kept.
3. Spread the budget from the sparsest stratum up: repeatedly take the
   smallest remaining stratum B, draw m_B = min(|B|, ⌊m / #strata left⌋)
   of its examples uniformly at random, and remove B; m is the budget left.

Options:
  score ['el2n']: the stratification score, from the training dynamics
    (paper 002 compares CCS and BOSS on the same score: EL2N in Table 1,
    EL2N / forgetting / AUM in Table 4).
  cutoff_score ['aum_prob']: the score the cutoff ranks by. CCS and the
    BOSS authors' code (`mislabel_mask(mis_key='accumulated_margin',
    mis_descending=False)`) prune the lowest AUM, the softmax-probability
    margin accumulated over the full training run; paper 002 appendix D
    says the same ("To leverage the cutoff, the ... AUM metric is
    leveraged"). Orientation follows `dynamics.hardness` (lower AUM =
    harder, so pruned first). Read only when β > 0.
  beta [0.1]: the cutoff rate; a float in [0, 1), or a tuple of
    (fraction, β) pairs looked up by the subset fraction (`beta_at`), for a
    config whose fractions take different rates. 0.1 is what paper 002
    uses for CCS in appendix D.1 (Figures 10-11); configs/boss_table1.py
    gives the authors' per-fraction table.
  num_strata [50].

Dimensions: N pool, K strata, M budget.
"""

import numbers
from typing import Sequence

import jax
import numpy as np

from al_jax.scores import dynamics
from al_jax.strategies import base

NUM_STRATA = 50
OPTIONS = dict(score='el2n', cutoff_score='aum_prob', beta=0.1,
               num_strata=NUM_STRATA)
NEEDS = (base.DYNAMICS,)

Beta = float | Sequence[tuple[float, float]]


def check_scores(difficulty: np.ndarray) -> np.ndarray:
  """[N] float64 difficulty; raises on NaN/inf, naming the rows."""
  d = np.asarray(difficulty, np.float64)
  bad = ~np.isfinite(d)
  if bad.any():
    raise ValueError(f'Difficulty scores are NaN or infinite at {bad.sum()} '
                     f'rows, e.g. {np.flatnonzero(bad)[:5].tolist()}.')
  return d


def by_fraction(table, budget: int, pool_size: int):
  """The value of the first (fraction, value) pair of `table` (fractions
  ascending) whose fraction is at least the subset's, budget / pool_size,
  with half an item of slack: a budget rounded from a fraction f (round(f·N),
  as the subset loop rounds) takes the value listed for f, and a fraction
  between two listed ones takes the next larger one's.

  Raises:
    ValueError: budget not in (0, pool_size], or a fraction above the last.
  """
  if not 0 < budget <= pool_size:
    raise ValueError(f'budget={budget} must be in (0, {pool_size}].')
  fraction = (budget - 0.5) / pool_size  # The smallest f rounding to budget.
  for bound, value in table:
    if fraction <= bound:
      return value
  raise ValueError(
      f'No entry for a subset of {budget} of {pool_size} (fraction '
      f'{budget / pool_size:.4g}) in the table {tuple(table)}: its largest '
      'fraction is smaller. Add an entry for this fraction.')


def check_beta(beta, name: str = 'beta') -> Beta | None:
  """`beta` validated: None, a float in [0, 1), or a non-empty sequence of
  (fraction, β) pairs, fractions strictly increasing in (0, 1] and each β in
  [0, 1). Returns None, a float or a tuple of float pairs."""
  if beta is None:
    return None
  if isinstance(beta, numbers.Real) and not isinstance(beta, bool):
    if not 0 <= beta < 1:
      raise ValueError(f'{name}={beta} must be in [0, 1).')
    return float(beta)
  try:
    pairs = tuple((float(f), float(b)) for f, b in beta)
  except (TypeError, ValueError):
    pairs = ()
  fractions = [f for f, _ in pairs]
  if (not pairs or not all(0 < f <= 1 for f in fractions)
      or any(a >= b for a, b in zip(fractions, fractions[1:]))
      or not all(0 <= b < 1 for _, b in pairs)):
    raise ValueError(
        f'{name}={beta!r} must be a float in [0, 1) or a tuple of (fraction, '
        f'{name}) pairs, fractions strictly increasing in (0, 1] and each '
        f'{name} in [0, 1), e.g. ((0.1, 0.3), (0.2, 0.1), (0.5, 0.0)).')
  return pairs


def beta_at(beta: Beta, budget: int, pool_size: int) -> float:
  """The cutoff rate for a subset of `budget` of `pool_size` items: `beta`
  itself if a float, else its table's entry for this fraction (`by_fraction`:
  the first listed fraction at least the subset's, half an item of slack)."""
  beta = check_beta(beta)
  if isinstance(beta, float):
    return beta
  try:
    return by_fraction(beta, budget, pool_size)
  except ValueError as e:
    raise ValueError(f'beta: {e}') from None


def cutoff_hardness(ctx: base.Context, cutoff_score: str,
                    method: str) -> np.ndarray:
  """[N] `cutoff_score` of the context, oriented larger = harder."""
  try:
    values = ctx.scores(cutoff_score)
  except ValueError as e:
    raise ValueError(f'{method}: the cutoff ranks by cutoff_score='
                     f'{cutoff_score!r}: {e} Give that score, choose another '
                     'cutoff_score, or set beta=0 (no cutoff).') from None
  return dynamics.hardness(cutoff_score, values)


def hard_cutoff(hardness: np.ndarray, beta: float) -> np.ndarray:
  """[N'] ascending indices left after dropping the ⌊β·N⌋ hardest.

  Args:
    hardness: [N] scores, larger = harder (`dynamics.hardness`).
    beta: the rate, in [0, 1).

  Ties at the cut: the lower index counts as harder (stable sort of the
  hardness order), so it is dropped first.
  """
  d = check_scores(hardness)
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
           beta: float = 0.0, num_strata: int = NUM_STRATA,
           cutoff: np.ndarray | None = None) -> np.ndarray:
  """CCS: [M] ascending pool indices.

  Args:
    difficulty: [N] stratification scores, larger = harder.
    budget: M.
    key: PRNG key for the draws within strata.
    beta: hard cutoff rate.
    num_strata: K.
    cutoff: [N] scores the cutoff ranks by, larger = harder; None: the
      difficulty.
  """
  difficulty = check_scores(difficulty)
  keep = hard_cutoff(difficulty if cutoff is None else cutoff, beta)
  if budget > len(keep):
    raise ValueError(f'budget {budget} exceeds the {len(keep)} examples left '
                     f'after the cutoff beta={beta}.')
  ids = strata(difficulty[keep], num_strata)
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


def make(score, cutoff_score, beta, num_strata) -> base.Strategy:
  beta = check_beta(beta)
  if beta is None:
    raise ValueError('ccs: beta must be given (a float or a table).')

  def select_(state, ctx: base.Context, budget: int, key: jax.Array):
    rows = ctx.candidate_indices
    d = dynamics.hardness(score, ctx.scores(score))[rows]
    beta_ = beta_at(beta, budget, ctx.pool_size)
    cut = (cutoff_hardness(ctx, cutoff_score, 'ccs')[rows] if beta_ > 0
           else None)
    return base.Selection(rows[select(d, budget, key, beta_, num_strata,
                                      cut)]), state

  return base.Strategy(base.no_state, select_)
