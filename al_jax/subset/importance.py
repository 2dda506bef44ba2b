"""BOSS's importance function (paper 002, Eq. 4 and Algorithm 1 line 1).

  I(D) = ((sin(π (D − c)) + 1) / 2) ** α,  D in [0, 1] the normalized
  difficulty.

α = 0 makes I flat (pure diversity); larger α sharpens it. On [0, 1] the peak
sits at D = c − 1.5 for c in [1.5, 2.5] (section 4: smaller c favours easy
examples, larger c hard ones); appendix D's c = 0.5 and 0.8 are the same
curves shifted by a period of 2 (peak at D = c + 0.5, i.e. increasing on
[0, 1] for c >= 0.5).
"""

import numpy as np

from al_jax.subset import ccs


def normalize(difficulty: np.ndarray) -> np.ndarray:
  """[N] difficulty scaled to [0, 1] by min-max (constant scores -> 0)."""
  d = ccs.check_scores(difficulty)
  span = d.max() - d.min()
  return (d - d.min()) / span if span > 0 else np.zeros_like(d)


def importance(difficulty01: np.ndarray, c: float, alpha: float) -> np.ndarray:
  """[N] I(D) of normalized difficulties; >= 0."""
  if alpha < 0:
    raise ValueError(f'alpha={alpha} must be >= 0.')
  base = (np.sin(np.pi * (np.asarray(difficulty01) - c)) + 1) / 2
  return np.maximum(base, 0.0) ** alpha
