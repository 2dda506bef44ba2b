"""Last-layer curvature of the cross-entropy, for Adacore and LCMat (paper
002 section 5 baselines; Pooladzandi et al. 2022, Shin et al. 2023).

With logits = W z + b (W [C, D], z the penultimate features), p =
softmax(logits) and L = -log p_y, the Hessian of one example's loss w.r.t.
the logits is diag(p) - p pᵀ, so the diagonal of its Hessian w.r.t. the last
layer is

  ∂²L/∂b_c²    = a_c = p_c (1 - p_c)         [C]
  ∂²L/∂W_ck²   = a_c z_k²                    [C, D]

in the layout of `gradients.last_layer_gradients` ([bias, kernel in (out,
in) order, flattened]). It is exact: the layer is linear in its parameters,
so its Hessian is the Gauss-Newton matrix, which is what BackPACK's
`BatchDiagHessian` returns per example in both methods' reference code
(there for the batch-mean loss, i.e. divided by the batch size).

Precision: 1 - p of the top class is computed as the sum of the other
classes' probabilities, so a and H⁻¹g stay accurate when p rounds to 1.

Dimensions: n rows, C classes, D feature width.
"""

import numpy as np

from al_jax.scores import gradients


def _softmax_parts(logits):
  """(p [n, C], 1 - p [n, C], shifted exp [n, C], its row sum [n]), float64."""
  z = np.asarray(logits, np.float64)
  top = np.argmax(z, axis=1)
  ex = np.exp(z - z[np.arange(len(z)), top][:, None])  # Top entry 1.
  total = ex.sum(1)
  p = ex / total[:, None]
  q = 1. - p
  q[np.arange(len(z)), top] = (total - 1.) / total  # Σ of the others, exact.
  return p, q, ex, total


def hessian_diagonal(logits, features) -> np.ndarray:
  """Per-example diagonal of the cross-entropy's last-layer Hessian.

  It does not depend on the label. Memory: n·C·(D + 1) float32 (float64
  while built); call it on a class's rows, as `gradients`.

  Args:
    logits: [n, C] eval-mode logits.
    features: [n, D] penultimate features z.

  Returns:
    [n, C·(D + 1)] float32, [a, a ⊗ z²] row by row (module docstring).
  """
  logits, features, _ = gradients.check_inputs(
      logits, features, np.zeros(len(logits), np.int64))
  p, q, _, _ = _softmax_parts(logits)
  a = p * q
  z2 = np.square(features.astype(np.float64))
  n = len(a)
  return np.concatenate([a, (a[:, :, None] * z2[:, None, :]).reshape(n, -1)],
                        axis=1).astype(np.float32)


def preconditioned_gradients(logits, features, labels,
                             damping: float = 0.) -> np.ndarray:
  """Per-example last-layer gradient divided by the Hessian diagonal:
  u = g / (h + damping), coordinate by coordinate.

  With damping 0, in closed form (no 0/0 where a probability rounds to 0
  or 1): with v_c = e_c / a_c = 1 / (1 - p_c) for c ≠ y and -1 / p_y for
  c = y, u = [v, v ⊗ (1 / z)]. Where z_k = 0 the kernel coordinates have
  g = h = 0 and u = 0 (no gradient, no curvature).

  Args:
    logits: [n, C]; features: [n, D]; labels: [n] ints in [0, C).
    damping: δ >= 0 added to every Hessian entry.

  Returns:
    [n, C·(D + 1)] float32 in the layout of `gradients` (built in float64).

  Raises:
    ValueError: bad inputs (`gradients.check_inputs`), a negative damping,
      or u overflows float32 (with damping 0: a label of vanishing
      probability, or |z_k| below ~1e-38).
  """
  logits, features, labels = gradients.check_inputs(logits, features, labels)
  if not (np.isfinite(damping) and damping >= 0):
    raise ValueError(f'damping={damping} must be finite and >= 0.')
  p, q, ex, total = _softmax_parts(logits)
  rows = np.arange(len(labels))
  z = features.astype(np.float64)
  n = len(p)
  with np.errstate(over='ignore', divide='ignore', invalid='ignore'):
    if damping:
      e = p.copy()
      e[rows, labels] -= 1.
      a = p * q
      bias = e / (a + damping)
      kernel = (e[:, :, None] * z[:, None, :]) / (
          a[:, :, None] * np.square(z)[:, None, :] + damping)
    else:
      bias = 1. / q
      bias[rows, labels] = -total / ex[rows, labels]  # -1 / p_y.
      inv_z = np.where(z != 0, 1. / np.where(z != 0, z, 1.), 0.)
      kernel = bias[:, :, None] * inv_z[:, None, :]
    out = np.concatenate([bias, kernel.reshape(n, -1)], axis=1).astype(
        np.float32)
  bad = np.flatnonzero(~np.isfinite(out).all(1))
  if len(bad):
    raise ValueError(
        f'The preconditioned gradient overflows float32 in {len(bad)} rows '
        f'(e.g. {bad[:5].tolist()}): a label of vanishing probability or a '
        'feature near 0; pass damping > 0.')
  return out
