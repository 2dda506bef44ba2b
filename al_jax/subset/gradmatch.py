"""GradMatch (Killamsetty et al. 2021a), a baseline of paper 002 (section 5),
as DeepCore's `GradMatch` with balance=True and no validation set, one-shot.

Per class c with budget K_c (`class_balance.class_budgets`): A = the class's
last-layer gradients (`gradients.last_layer_gradients`, rows are
candidates), target b = their mean, and regularized orthogonal matching
pursuit (OMP) picks K_c rows:

  r = b;  repeat K_c times:
    j = argmax over unpicked i of a_i·r   (|a_i·r| when positive=False)
    S = S ∪ {j};  x = (A_S A_Sᵀ + λI)⁻¹ A_S b;  r = b - A_Sᵀ x

then (positive=True) the weights are nnls(A_S A_Sᵀ + λI, A_S b), as DeepCore.
The solve is incremental: the Cholesky factor L of A_S A_Sᵀ + λI gains one
row per pick (a triangular solve, O(k²)) and y = L⁻¹ A_S b one entry, so a
step costs O(n·d) for the projections A r plus O(k·d + k²), in float64 but
for the projections (the dtype of A, float32 from `select`).

Departures from DeepCore, and why:
  * gradients: the plain cross-entropy gradient (see `gradients`).
  * λ at every step; DeepCore's first step uses x = a_j·b / a_j·a_j.
  * budget 1: nnls weight max(0, a_j·b / (a_j·a_j + λ)); DeepCore sets 1.
  * subset size = budget: DeepCore drops picks whose nnls weight is 0 (its
    subset can be smaller); we keep them with weight 0. When the residual
    vanishes (‖r‖ <= TOL·‖b‖, e.g. b = 0) or the next pick is linearly
    dependent on the picked ones (only with λ ≈ 0), OMP stops and the rest
    is filled with the unpicked rows of largest a_i·b (|a_i·b|), ties to the
    lower index, weight 0, with a note.
  * budgets: water-filled integers summing to the budget, not
    round(fraction·n_c) per class.
  * argmax ties go to the lowest index (as numpy; DeepCore's torch argmax on
    the GPU is unspecified).
Weights keep DeepCore's scale: Σ_j x_j a_j approximates the class's mean
gradient, so a class's weights sum to about 1 (less as λ shrinks them).

Dimensions: N pool, n candidates (a class), d = C·(D + 1) gradient width,
k picks, M budget.
"""

import numpy as np
from absl import logging
from scipy import linalg
from scipy import optimize

from al_jax.subset import class_balance
from al_jax.subset import gradients

LAM = 1.0  # DeepCore's `lam`.
TOL = 1e-10  # Relative residual norm at which OMP stops fitting.


def _omp(a, b, budget, lam, positive):
  """(indices [k] int64, weights [k] float64, picks fitted before a fill)."""
  a = np.asarray(a)
  a = a.astype(np.float64 if a.dtype == np.float64 else np.float32,
               copy=False)
  b = np.asarray(b, np.float64)
  if a.ndim != 2 or b.shape != a.shape[1:]:
    raise ValueError(f'want a [n, d] and b [d]; got {a.shape}, {b.shape}.')
  n, d = a.shape
  if not 0 <= budget <= n:
    raise ValueError(f'budget={budget} must be in [0, {n}] (rows of a).')
  if not (np.isfinite(lam) and lam >= 0):
    raise ValueError(f'lam={lam} must be finite and >= 0.')
  if not (np.isfinite(a).all() and np.isfinite(b).all()):
    raise ValueError('OMP: a or b contain NaN or inf.')
  chol = np.zeros((budget, budget))  # L, lower: L Lᵀ = A_S A_Sᵀ + λI.
  y = np.zeros(budget)  # L⁻¹ A_S b.
  sel = np.zeros((budget, d))  # A_S, float64.
  picked = np.zeros(n, bool)
  idx, x, r = [], np.zeros(0), b.copy()
  stop = TOL * np.linalg.norm(b)
  for t in range(budget):
    if np.linalg.norm(r) <= stop:
      break
    p = a @ r.astype(a.dtype)
    score = np.where(picked, -np.inf, p if positive else np.abs(p))
    j = int(np.argmax(score))
    aj = a[j].astype(np.float64)
    w = linalg.solve_triangular(chol[:t, :t], sel[:t] @ aj, lower=True)
    diag2 = aj @ aj + lam - w @ w
    if diag2 <= 1e-12 * (aj @ aj + lam):
      break  # a_j is (numerically) in the span of the picks.
    chol[t, :t], chol[t, t] = w, np.sqrt(diag2)
    y[t] = (aj @ b - w @ y[:t]) / chol[t, t]
    sel[t], picked[j] = aj, True
    idx.append(j)
    x = linalg.solve_triangular(chol[:t + 1, :t + 1], y[:t + 1], lower=True,
                                trans='T')
    r = b - sel[:t + 1].T @ x
  k = len(idx)
  if positive and k:
    s = sel[:k]
    x = optimize.nnls(s @ s.T + lam * np.eye(k), s @ b)[0]
  if k < budget:
    p = (a @ b.astype(a.dtype)).astype(np.float64)
    score = np.where(picked, -np.inf, p if positive else np.abs(p))
    idx += np.argsort(-score, kind='stable')[:budget - k].tolist()
  weights = np.zeros(budget)
  weights[:k] = x
  return np.asarray(idx, np.int64), weights, k


def omp(a, b, budget: int, *, lam: float = LAM, positive: bool = True):
  """Regularized orthogonal matching pursuit (module docstring).

  Args:
    a: [n, d] candidates as rows (float64 kept, anything else float32).
    b: [d] target.
    budget: k, in [0, n].
    lam: ridge λ >= 0 of every solve.
    positive: pick by a_i·r and fit nnls weights; False: by |a_i·r|, the
      weights are the last ridge solution (signed).

  Returns:
    (indices [k] int64 in pick order, weights [k] float64); rows filled
    after the residual vanished come last with weight 0 (logged).
  """
  idx, w, fitted = _omp(a, b, budget, lam, positive)
  if fitted < budget:
    logging.warning('OMP stopped after %d of %d picks; filled the rest.',
                    fitted, budget)
  return idx, w


def select(logits, features, labels, budget: int, *, lam: float = LAM,
           positive: bool = True):
  """GradMatch subset, class-balanced.

  Args:
    logits: [N, C] eval-mode logits of the initial model.
    features: [N, D] its penultimate features (the last layer's input).
    labels: [N] int true classes in [0, C).
    budget: M, in [0, N].
    lam, positive: `omp`.

  Returns:
    (indices [M] int64: classes in label order, each in pick order;
     weights [M] float32; notes list[str]: budget re-spreads and fills).
  """
  logits, features, labels = gradients.check_inputs(logits, features, labels)
  classes, budgets, notes = class_balance.class_budgets(labels, budget)
  idx, wts = [np.zeros(0, np.int64)], [np.zeros(0)]
  for c, k in zip(classes, budgets):
    if not k:
      continue
    rows = np.flatnonzero(labels == c)
    g = gradients.last_layer_gradients(logits[rows], features[rows],
                                       labels[rows])
    i, w, fitted = _omp(g, g.mean(0, dtype=np.float64), int(k), lam,
                        positive)
    if fitted < k:
      note = (f'class {c}: OMP stopped after {fitted} of {k} picks '
              '(residual vanished or next pick linearly dependent); the '
              f'other {k - fitted} are the largest projections on the class '
              'mean gradient, weight 0.')
      logging.warning(note)
      notes.append(note)
    idx.append(rows[i])
    wts.append(w)
  return (np.concatenate(idx), np.concatenate(wts).astype(np.float32),
          notes)
