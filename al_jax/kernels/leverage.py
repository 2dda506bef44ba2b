"""Statistical leverage scores and weighted least squares, in float64 numpy.

Leverage l_i = ||Q_i||² for Q an orthonormal basis of the column space of A,
i.e. the diagonal of the projector A A⁺; Σ_i l_i = rank(A). The basis comes
from a column-pivoted (rank-revealing) Householder QR, keeping the columns of
Q whose |R_jj| exceed max(N, D)·eps·|R_00| (numpy's `matrix_rank` tolerance,
with |R_00| standing in for σ_max), so a rank-deficient A gets
Σ l = rank(A) instead of the garbage a plain QR's Q would give. No inverse,
no normal equations: both square the condition number.

These are host (LAPACK) computations: QR has no blocked streaming form that
would beat LAPACK here, and paper 001 (appendix C, Table 1) times exactly
this, O(N·D²).

Dimensions: N rows, D columns.
"""

import numpy as np
import scipy.linalg

from al_jax.kernels import clusters


def _check(a, name='a'):
  a = clusters.check_embeddings(a, name)
  return np.asarray(a, np.float64)


def numerical_rank(r_diag: np.ndarray, shape: tuple[int, int]) -> int:
  """Rank from the diagonal of a pivoted QR's R (non-increasing magnitudes)."""
  mags = np.abs(r_diag)
  if mags.size == 0 or mags[0] == 0:
    return 0
  tol = max(shape) * np.finfo(np.float64).eps * mags[0]
  return int(np.sum(mags > tol))


def leverage_scores(a) -> np.ndarray:
  """Leverage score of every row of `a`.

  Args:
    a: [N, D] float, finite.

  Returns:
    [N] float64 in [0, 1], summing to rank(a).
  """
  a = _check(a)
  q, r, _ = scipy.linalg.qr(a, mode='economic', pivoting=True,
                            check_finite=False)
  rank = numerical_rank(np.diag(r), a.shape)
  return np.einsum('ij,ij->i', q[:, :rank], q[:, :rank])


def weighted_least_squares(a, b, w) -> np.ndarray:
  """argmin_x Σ_i w_i (a_i·x − b_i)², minimum-norm if not unique.

  Solved by `numpy.linalg.lstsq` (SVD) on the rows scaled by sqrt(w_i).

  Args:
    a: [N, D] float.
    b: [N] float.
    w: [N] float, >= 0 (0 drops the row).

  Returns:
    [D] float64.
  """
  a = _check(a)
  b = np.asarray(b, np.float64)
  w = np.asarray(w, np.float64)
  if b.shape != (a.shape[0],) or w.shape != (a.shape[0],):
    raise ValueError(f'b {b.shape} and w {w.shape} must both be '
                     f'({a.shape[0]},).')
  if not (np.all(np.isfinite(b)) and np.all(np.isfinite(w))):
    raise ValueError('b and w must be finite.')
  if np.any(w < 0):
    raise ValueError(f'weights must be >= 0, min is {w.min()}.')
  root = np.sqrt(w)
  return np.linalg.lstsq(a * root[:, None], b * root, rcond=None)[0]
