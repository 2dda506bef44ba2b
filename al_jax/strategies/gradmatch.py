"""GradMatch (Killamsetty et al. 2021a), a baseline of paper 002 (section 5),
as DeepCore's `GradMatch` with balance=True and no validation set, one-shot.

Per class c with budget K_c (`combinators.class_budgets`): A = the class's
last-layer gradients (`gradients`, rows are candidates), target b = their
mean, and regularized orthogonal matching pursuit (OMP) picks K_c rows:

  r = b;  repeat K_c times:
    j = argmax over unpicked i of a_i·r   (|a_i·r| when positive=False)
    S = S ∪ {j};  x = (A_S A_Sᵀ + λI)⁻¹ A_S b;  r = b - A_Sᵀ x

then (positive=True) the weights are nnls(A_S A_Sᵀ + λI, A_S b), as DeepCore.

Solve. Incremental Cholesky on the Gram matrix G = A Aᵀ (batch OMP): with
L Lᵀ = G_S + λI and Q = A_Sᵀ L⁻ᵀ, a pick j adds the row (w, δ) to L, w =
Qᵀa_j, δ² = G_jj + λ - w·w, the column (a_j - Q w)/δ to Q and one entry to
y = L⁻¹ A_S b; then A r = A b - (A Q) y. Only P = A Q [n, k] is kept: a step
costs one column G[:, j] plus O(n·k), in float64; x = L⁻ᵀ y at the end.
Memory: P and L, 8·k·(n + k) bytes (n = 5000, k = 2500: 150 MB).
`select` never builds A: G[:, j] = (E e_j) ∘ (1 + Z z_j) costs O(n·(C + D)).

Gradients: the cross-entropy gradient (see `gradients`), as DeepCore since
its commit ca3fb21 (2023-01-14), which removed an extra softmax.

Departures from DeepCore, and why:
  * λ at every step; DeepCore's first step uses x = a_j·b / a_j·a_j.
  * budget 1: nnls weight max(0, a_j·b / (a_j·a_j + λ)); DeepCore sets 1.
  * subset size = budget: DeepCore drops picks whose nnls weight is 0 (its
    subset can be smaller); we keep them with weight 0. When every unpicked
    |a_i·r| <= TOL·max‖a‖·‖b‖ (r = 0, e.g. b = 0) or the next pick is
    linearly dependent on the picks (δ² <= TOL·(G_jj + λ), only when λ ≈ 0),
    OMP stops and the rest is filled with the unpicked rows of largest a_i·b
    (|a_i·b|), ties to the lower index, weight 0, with a note.
  * budgets: water-filled integers summing to the budget, not
    round(fraction·n_c) per class; argmax ties to the lowest index.
  * weights: `omp` keeps DeepCore's scale (Σ_j x_j a_j approximates the
    class's mean gradient, weights summing to about 1, less as λ shrinks
    them); `select` multiplies a class's weights by its size, so they match
    its summed gradient (GradMatch's full-training-loss target) and keep
    the classes' relative sizes when the subset trains.

Dimensions: N pool, n candidates (a class), d = C·(D + 1) gradient width,
k picks, M budget.
"""

import numpy as np
from absl import logging
from scipy import linalg
from scipy import optimize

from al_jax.scores import gradients
from al_jax.strategies import base
from al_jax.strategies import combinators
from al_jax.strategies import craig

LAM = 1.0  # DeepCore's `lam`.
TOL = 1e-10  # Relative size at which a residual or a new direction is 0.
OPTIONS = dict(lam=LAM, class_balanced=True)
NEEDS = (base.LOGITS, base.EMBEDDINGS, base.LABELS)


def _omp(column, diag, c, bb, budget, lam, positive):
  """OMP on G = A Aᵀ given by columns (module docstring).

  Args:
    column: j -> [n] float64 G[:, j]; diag: [n] G_jj; c: [n] A b; bb: b·b.
    budget, lam, positive: `omp`.

  Returns:
    (indices [k] int64, weights [k] float64, picks made before a fill).
  """
  n = len(c)
  if not 0 <= budget <= n:
    raise ValueError(f'budget={budget} must be in [0, {n}] (candidates).')
  if not (np.isfinite(lam) and lam >= 0):
    raise ValueError(f'lam={lam} must be finite and >= 0.')
  chol = np.zeros((budget, budget))  # L; also G_S in the upper triangle.
  y, p_rows = np.zeros(budget), np.zeros((budget, n))  # L⁻¹ A_S b; Pᵀ.
  picked, idx, p = np.zeros(n, bool), [], c.copy()  # p = A r.
  stop = TOL * np.sqrt(diag.max(initial=0.) * bb)
  for t in range(budget):
    if np.abs(p[~picked]).max() <= stop:
      break
    j = int(np.argmax(np.where(picked, -np.inf, p if positive else abs(p))))
    g, w = column(j), p_rows[:t, j]
    delta2 = diag[j] + lam - w @ w
    if delta2 <= TOL * (diag[j] + lam):
      break
    chol[t, :t], chol[t, t] = w, np.sqrt(delta2)
    chol[:t, t] = g[idx]
    p_rows[t] = (g - w @ p_rows[:t]) / chol[t, t]
    y[t] = (c[j] - w @ y[:t]) / chol[t, t]
    p -= y[t] * p_rows[t]
    picked[j] = True
    idx.append(j)
  k = len(idx)
  lower = np.tril(chol[:k, :k])
  if positive and k:
    gram = np.triu(chol[:k, :k], 1)
    gram += gram.T + np.diag(diag[idx] + lam)
    x = optimize.nnls(gram, c[idx])[0]
  else:
    x = linalg.solve_triangular(lower, y[:k], lower=True, trans='T')
  if k < budget:
    score = np.where(picked, -np.inf, c if positive else np.abs(c))
    idx += np.argsort(-score, kind='stable')[:budget - k].tolist()
  weights = np.zeros(budget)
  weights[:k] = x
  return np.asarray(idx, np.int64), weights, k


def omp(a, b, budget: int, *, lam: float = LAM, positive: bool = True):
  """Regularized orthogonal matching pursuit (module docstring).

  Args:
    a: [n, d] candidates as rows (used in float64).
    b: [d] target.
    budget: k, in [0, n].
    lam: ridge λ >= 0 of every solve.
    positive: pick by a_i·r and fit nnls weights; False: by |a_i·r|, the
      weights are the last ridge solution (signed).

  Returns:
    (indices [k] int64 in pick order, weights [k] float64); rows filled
    after OMP stopped come last with weight 0 (logged).
  """
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  if a.ndim != 2 or b.shape != a.shape[1:]:
    raise ValueError(f'want a [n, d] and b [d]; got {a.shape}, {b.shape}.')
  if not (np.isfinite(a).all() and np.isfinite(b).all()):
    raise ValueError('OMP: a or b contain NaN or inf.')
  idx, w, fitted = _omp(lambda j: a @ a[j], np.einsum('ij,ij->i', a, a),
                        a @ b, b @ b, budget, lam, positive)
  if fitted < budget:
    logging.warning('OMP stopped after %d of %d picks; filled the rest.',
                    fitted, budget)
  return idx, w


def _class_omp(e, z, budget, lam, positive):
  """`omp` on the rows g_i = [e_i, e_i ⊗ z_i] and b = their mean, from the
  factors: G_ij = (e_i·e_j)(1 + z_i·z_j), (A b)_i = e_i·ē + e_iᵀ M̄ z_i with
  M̄ = mean_j e_j z_jᵀ [C, D]."""
  e_bar, m_bar = e.mean(0), e.T @ z / len(e)
  c = e @ e_bar + np.einsum('ic,cd,id->i', e, m_bar, z)
  diag = np.einsum('ic,ic->i', e, e) * (1 + np.einsum('id,id->i', z, z))
  return _omp(lambda j: (e @ e[j]) * (1 + z @ z[j]), diag, c,
              e_bar @ e_bar + (m_bar * m_bar).sum(), budget, lam, positive)


def make(lam, class_balanced, positive: bool = True) -> base.Strategy:
  """GradMatch over a context's candidates; per class (`combinators.
  class_balanced`, DeepCore's balance=True) by default.

  Returns picks in OMP order (classes in label order when balanced) with
  float32 weights, a class's summing to about its size; notes say where OMP
  stopped early and the rest was filled.
  """

  def select(state, ctx: base.Context, budget: int, key):
    del key
    rows, logits, features, labels = craig.last_layer_inputs(ctx)
    e = gradients.output_errors(logits, labels)
    i, w, fitted = _class_omp(e, features.astype(np.float64), budget, lam,
                              positive)
    notes = ()
    if fitted < budget:
      notes = (f'OMP stopped after {fitted} of {budget} picks (residual '
               'vanished or next pick linearly dependent); the other '
               f'{budget - fitted} are the largest projections on the mean '
               'gradient, weight 0.',)
      logging.warning(notes[0])
    return base.Selection(rows[i], (w * len(rows)).astype(np.float32),
                          notes), state

  strategy = base.Strategy(base.no_state, select)
  return combinators.class_balanced(strategy) if class_balanced else strategy
