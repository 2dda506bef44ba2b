"""Difficulty only: the hardest examples of each class (paper 002, Table 2).

The ablation's "Difficulty (EL2N)" column selects "samples based on their
difficulty scores" (section 5, ablation study), i.e. the highest scores. We
take them per class with `class_balance.class_budgets`, as every other BOSS
component selects class-balanced (section 5, experimental setup), so that the
column differs from BOSS only in dropping diversity.

Dimensions: N pool, M budget.
"""

import numpy as np

from al_jax.subset import ccs
from al_jax.subset import class_balance


def select(difficulty: np.ndarray, labels: np.ndarray,
           budget: int) -> tuple[np.ndarray, list[str]]:
  """([M] ascending indices of the hardest per class, notes).

  Ties go to the lower index (stable sort).
  """
  d = ccs.check_scores(difficulty)
  labels = np.asarray(labels)
  classes, budgets, notes = class_balance.class_budgets(labels, budget)
  picks = []
  for c, b in zip(classes, budgets):
    rows = np.flatnonzero(labels == c)
    picks.append(rows[np.argsort(-d[rows], kind='stable')[:b]])
  return np.sort(np.concatenate(picks)).astype(np.int64), notes
