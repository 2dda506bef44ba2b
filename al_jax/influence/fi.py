"""The local influence measure FI of paper 004 (eq. 2.1–2.3, appendix A) in
closed form, computed exactly without materialising any p × d Jacobian
(wave2.md 3.1–3.2).

For a training row z = (x, y), a perturbation ω of x, and θ̂ a stationary
point of R(θ) = mean_i L_i + (wd/2)‖θ‖² (`tabular.fit`), H = ∇²R(θ̂) or its
Gauss–Newton matrix (`curvature`):

  C_z = ∂x∂θ L(y, x; θ̂)                   [p, d]
  J_z = ∂ω θ̂(x + ω) = s · H⁻¹ C_z          s = −1/n (appendix A, eq. A.7:
        'appendix', the default) or 1 (Algorithms 1–2 write ḡᵀH⁻¹C:
        'algorithm'); wave2.md 3.9 pitfall 1
  A_z = ∂θ f · J_z + ∂x f                  [K, d] (eq. 2.3: both paths)
  G_z = A_zᵀ (diag P − P Pᵀ) A_z = R_zᵀ R_z,  R_z = diag(√P)(I − 1Pᵀ) A_z
  g   = vᵀ J_z for a direction v ∈ ℝ^p     (eq. 2.2: v = ∇θ L of a target)
  FI  = g G_z† gᵀ = Σ_k (V_kᵀ g)² / σ_k²    over R_z = U diag(σ) Vᵀ, σ_k kept
        where σ_k > max(atol, rtol · σ_max)

rank G_z ≤ K − 1 (1 for a binary model). The tolerance follows Shu & Zhu's
reference code (`shu-hai/SA_DNN`): singular values of the K-column factor
above 1e-3, absolute; `rtol` adds a relative floor. Everything runs in
float64 (jax x64).

Cost per row: one solve for FI-util's direction (shared), K solves with H
(∂θf's columns: Cholesky, or CG on H-vector products), and three small
derivatives of x ↦ ∇θL (vector-Jacobian products, never C itself); rows
are vmapped in jitted blocks.

Dimensions: n training rows, d features (x, or a network's penultimate
features h), p parameters, K classes (logits), V validation rows.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from al_jax import train as train_lib
from al_jax.influence import curvature as curvature_lib
from al_jax.influence import mixed
from al_jax.influence import tabular

SCALES = ('appendix', 'algorithm')
ATOL = 1e-3  # Shu & Zhu's singular-value cut-off.


def jacobian_scale(scale: str, n: int) -> float:
  if scale not in SCALES:
    raise ValueError(f'jacobian scale {scale!r}; valid: {SCALES}.')
  return -1. / n if scale == 'appendix' else 1.


def factor(model, theta, solve, s, x, y, rank: int = 0):
  """(R_z [K, d], C_z's (left, right) products `mixed.operator`) of one
  row; solve: b ↦ H⁻¹b; rank: C's truncation (0: exact)."""
  left, right = mixed.operator(model, theta, x, y, rank)
  f_theta = jax.jacrev(model.logits)(theta, x)                  # [K, p]
  u = solve(f_theta.T)                                          # [p, K]
  path = s * jax.vmap(left, 1)(u)                               # [K, d]
  a = path + jax.jacrev(model.logits, 1)(theta, x)              # [K, d]
  prob = jax.nn.softmax(model.logits(theta, x))
  return jnp.sqrt(prob)[:, None] * (a - prob @ a), (left, right)


def pseudo_inverse(r, atol, rtol):
  """[d, K] r† of r [K, d] through its SVD, singular values above
  max(atol, rtol·σ_max) kept (G† = r† r†ᵀ for G = rᵀr)."""
  u, sv, vt = jnp.linalg.svd(r, full_matrices=False)
  keep = sv > jnp.maximum(atol, rtol * sv[0])
  inv = jnp.where(keep, 1. / jnp.where(keep, sv, 1.), 0.)
  return (vt.T * inv) @ u.T


def _quadratic(r, g, atol, rtol):
  """g G† gᵀ = ‖r†ᵀ g‖² with G = rᵀr."""
  return jnp.sum((pseudo_inverse(r, atol, rtol).T @ g) ** 2)


@functools.partial(jax.jit, static_argnums=(0, 1))
def solve(model, static, theta, operands, b):
  """H⁻¹ b with the curvature's solver (jitted)."""
  return curvature_lib.solver(model, static, theta, operands)(b)


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _fi_util_block(model, static, rank, theta, operands, w, s, xb, yb, atol,
                   rtol):
  solve = curvature_lib.solver(model, static, theta, operands)

  def one(x, y):
    r, (left, _) = factor(model, theta, solve, s, x, y, rank)
    return _quadratic(r, s * left(w), atol, rtol)
  return jax.vmap(one)(xb, yb)


def validation_gradient(model, theta, x_val, y_val) -> np.ndarray:
  """[p] ḡ_V = mean over the validation rows of ∇θ L (no weight decay)."""
  y_val = np.asarray(y_val)
  if len(np.unique(y_val)) < 2:
    raise ValueError(f'The validation set has one class ({np.unique(y_val)}'
                     f' in {len(y_val)} rows): its loss gradient ranks '
                     'training rows by one class only. Use a validation set '
                     'with every class.')
  with jax.enable_x64(True):
    grads = jax.vmap(mixed.grad_theta, (None, None, 0, 0))(
        model, jnp.asarray(theta), jnp.asarray(x_val, jnp.float64),
        jnp.asarray(y_val))
    return np.asarray(jnp.mean(grads, 0))


def fi_util(model: tabular.Tabular, theta, x, y, x_val, y_val,
            curv: curvature_lib.Curvature, *, scale: str = 'appendix',
            atol: float = ATOL, rtol: float = 0., svd_rank: int = 0,
            block: int = 512) -> np.ndarray:
  """[n] float64 FI-util_i = g_i G_{z_i}† g_iᵀ, g_i = ḡ_Vᵀ J_{z_i} (eq. 3.1,
  Algorithm 1); ≥ 0, large = the validation loss is sensitive to z_i.

  Args:
    model, theta: the trained model (`tabular.fit`).
    x, y: [n, d], [n] the training rows scored (those behind `curv`).
    x_val, y_val: [V, d], [V] the validation set (two classes at least).
    curv: `curvature.curvature` at theta on (x, y).
    scale, atol, rtol: module doc.
    svd_rank: C's rank-k truncated SVD (`mixed`; 0: exact).
    block: rows per vmapped, jitted call (the last padded).
  """
  s = jacobian_scale(scale, curv.n)
  mixed.check_degenerate(model, theta, x, y, svd_rank)
  gbar = validation_gradient(model, theta, x_val, y_val)
  x = np.asarray(x, np.float64)
  y = np.asarray(y, np.int64)
  with jax.enable_x64(True):
    theta = jnp.asarray(theta, jnp.float64)
    w = solve(model, curv.static, theta, curv.operands,
              jnp.asarray(gbar))                                # H⁻¹ ḡ
    xy = np.concatenate([x, y[:, None].astype(np.float64)], 1)
    # Zero-padded rows score finite values that map_blocks drops.
    block_fi = lambda b: _fi_util_block(
        model, curv.static, int(svd_rank), theta, curv.operands, w, s,
        b[:, :-1], b[:, -1].astype(np.int64), float(atol), float(rtol)
    )[:, None]
    return train_lib.map_blocks(block_fi, xy, block)[:, 0]


def _one_row(model, theta, curv, scale):
  """(θ, solve, s) for the one-row functions below (call under x64)."""
  theta = jnp.asarray(theta, jnp.float64)
  solve_fn = curvature_lib.solver(model, curv.static, theta, curv.operands)
  return theta, solve_fn, jacobian_scale(scale, curv.n)


def parameter_jacobian(model, theta, x, y, curv: curvature_lib.Curvature,
                       scale: str = 'appendix') -> np.ndarray:
  """[p, d] J_z = s·H⁻¹C_z of one row, materialised (for tests and small
  models)."""
  with jax.enable_x64(True):
    theta, solve, s = _one_row(model, theta, curv, scale)
    c = jax.jacfwd(lambda xx: mixed.grad_theta(model, theta, xx, y))(
        jnp.asarray(x, jnp.float64))
    return np.asarray(s * solve(c))


def metric_tensor(model, theta, x, y, curv: curvature_lib.Curvature,
                  scale: str = 'appendix') -> np.ndarray:
  """[d, d] G_z = R_zᵀ R_z of one row."""
  with jax.enable_x64(True):
    theta, solve, s = _one_row(model, theta, curv, scale)
    r, _ = factor(model, theta, solve, s, jnp.asarray(x, jnp.float64),
                  int(y))
    return np.asarray(r.T @ r)


def fi(model, theta, x, y, v, curv: curvature_lib.Curvature,
       scale: str = 'appendix', atol: float = ATOL, rtol: float = 0.
       ) -> float:
  """FI(z', z) of one training row z = (x, y) for a target whose parameter
  gradient is v [p] (eq. 2.1–2.2: g = vᵀ J_z)."""
  with jax.enable_x64(True):
    theta, solve, s = _one_row(model, theta, curv, scale)
    r, (left, _) = factor(model, theta, solve, s,
                          jnp.asarray(x, jnp.float64), int(y))
    g = s * left(solve(jnp.asarray(v, jnp.float64)))
    return float(_quadratic(r, g, atol, rtol))
