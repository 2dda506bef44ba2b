"""Chhabra et al.'s influence value IV (ICLR 2024, "What data benefits my
classifier?"), exactly as their code (`anshuman23/InfDataSel`, `model.py`)
computes it for logistic regression (wave2.md 3.5): paper 004's IV
baseline.

A surrogate logistic regression without intercept is fit by scikit-learn
(`LogisticRegression(penalty='l2', C=1/l2_reg, fit_intercept=False,
solver='lbfgs', tol=1e-8, max_iter=2048)`); with p_i = σ(θᵀx_i),

  H_sum = Σ_train p_i(1 − p_i) x_i x_iᵀ + l2_reg·I     (sums, not means)
  g_V   = Σ_val (p'_j − y'_j) x'_j
  IV_i  = (p_i − y_i) x_iᵀ H_sum⁻¹ g_V                  (a Cholesky solve)

IV_i < 0: removing row i lowers the validation loss (first order), so
trimming removes the b most negative (`trim_order`), as their code does,
even where some of the b are positive. l2_reg per data set in their code:
Adult 2.2622, Bank 1.1622, CelebA 15.1622, Jigsaw 5.1622, toy 0.01.

Dimensions: n training rows, V validation rows, d features.
"""

import numpy as np
import scipy.linalg
from sklearn import linear_model

L2_REG = {'adult': 2.2622, 'bank': 1.1622, 'celeba': 15.1622,
          'jigsaw': 5.1622, 'toy': 0.01}


def surrogate(x, y, l2_reg: float) -> np.ndarray:
  """[d] θ of their scikit-learn logistic regression (no intercept)."""
  # penalty='l2' in their code: scikit-learn's default (the argument is
  # deprecated from 1.8).
  clf = linear_model.LogisticRegression(
      C=1 / l2_reg, fit_intercept=False, solver='lbfgs', tol=1e-8,
      max_iter=2048)
  return clf.fit(x, y).coef_[0].astype(np.float64)


def influence_values(x, y, x_val, y_val, l2_reg: float,
                     theta: np.ndarray | None = None) -> np.ndarray:
  """[n] float64 IV of every training row (module doc).

  Args:
    x, y: [n, d] float, [n] in {0, 1}.
    x_val, y_val: [V, d], [V] in {0, 1}.
    l2_reg: their regulariser (`L2_REG`).
    theta: [d] the surrogate's weights (fit here when None).
  """
  x = np.asarray(x, np.float64)
  x_val = np.asarray(x_val, np.float64)
  y = np.asarray(y, np.float64)
  y_val = np.asarray(y_val, np.float64)
  for name, labels in (('training', y), ('validation', y_val)):
    if not np.isin(labels, (0, 1)).all():
      raise ValueError(f'IV is for binary labels in {{0, 1}}; the {name} '
                       f'labels hold {np.unique(labels)[:5].tolist()}.')
  if theta is None:
    theta = surrogate(x, y, l2_reg)
  p = 1 / (1 + np.exp(-x @ theta))
  h = (x * (p * (1 - p))[:, None]).T @ x + l2_reg * np.eye(x.shape[1])
  p_val = 1 / (1 + np.exp(-x_val @ theta))
  g_val = x_val.T @ (p_val - y_val)
  return (p - y) * (x @ scipy.linalg.cho_solve(
      scipy.linalg.cho_factor(h), g_val))


def trim_order(values: np.ndarray) -> np.ndarray:
  """Rows in the order IV trimming removes them: most negative first
  (ties to the lower row)."""
  return np.argsort(values, kind='stable')
