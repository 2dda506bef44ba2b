"""apricot (Schreiber et al. 2020): the facility-location peer.

Dimensions: N candidates, K budget.
"""

import numpy as np


def facility_location(similarity, budget: int,
                      lazy: bool = True) -> tuple[np.ndarray, np.ndarray]:
  """apricot's greedy facility location on a precomputed similarity matrix.

  apricot reads row j as candidate j's similarities: an importance I_j (BOSS,
  paper 002 Eq. 5) is folded into row j by the caller. Such a matrix is
  asymmetric, and apricot's lazy optimizer then departs from its own naive
  one: pass lazy=False for it.

  Args:
    similarity: [N, N] Sim(i, j) >= 0 (rows scaled by I_j if weighted).
    budget: K.
    lazy: apricot's 'lazy' optimizer, else 'naive'.

  Returns:
    (ranking [K] int64 picks in order, gains [K] float64 marginal gains).
  """
  import apricot  # pylint: disable=g-import-not-at-top
  peer = apricot.FacilityLocationSelection(
      budget, metric='precomputed', optimizer='lazy' if lazy else 'naive')
  peer.fit(np.asarray(similarity, np.float64))
  return np.asarray(peer.ranking, np.int64), np.asarray(peer.gains)
