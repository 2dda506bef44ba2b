"""The mixed derivative C_z = ∂x∂θ L(y, x; θ̂) [p, d] of one row, as the two
products FI needs, never as a matrix: left(u) = uᵀC [d] (a vector-Jacobian
product of x ↦ uᵀ∇θL) and right(v) = C v [p] (a Jacobian-vector product of
x ↦ ∇θL).

`rank` k > 0 replaces C by its rank-k truncated SVD U diag(σ) Vᵀ (the SVD
half of paper 004's KFSVD, Algorithms 5 and 7; wave2.md 3.4), found by
block power (subspace) iteration on those products: ``iters`` rounds of
V ← orth(Cᵀ orth(C V)) from a fixed random start, then the SVD of C V.
Exact when k ≥ d (up to the iteration's convergence). The paper gives
neither k nor the iterations: 10 and 20 by default. For binary logistic
regression C = (p − y)[I; 0] + p(1 − p)[x; 1]wᵀ has d − 2 singular values
equal to |p − y| (on the directions orthogonal to x and w; wave2.md 3.4
says d − 1, which holds only when x ∥ w): truncating inside them keeps an
arbitrary subspace (`check_degenerate` warns).

Since FI needs only uᵀC for K + 1 vectors u and (FI-active) C v for K
vectors v, the exact products cost a few autodiff passes per row; the
truncated SVD costs 2·iters·k of them, so it saves time only where C
itself would be formed.

Dimensions: p parameters, d features, k rank.
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np

from al_jax.influence import tabular

RANK_ITERS = 20


def grad_theta(model, theta, x, y):
  return jax.grad(tabular.loss, 1)(model, theta, x, y)


def truncated_svd(right, left, d: int, k: int, iters: int):
  """(U [p, k], σ [k], V [d, k]) of the operator with C v = right(v),
  uᵀC = left(u) (module doc)."""
  times = lambda f, m: jax.vmap(f, 1, 1)(m)
  v = jnp.linalg.qr(jax.random.normal(jax.random.key(0), (d, k)))[0]

  def step(_, v):
    u = jnp.linalg.qr(times(right, v))[0]
    return jnp.linalg.qr(times(left, u))[0]

  v = jax.lax.fori_loop(0, iters, step, v)
  u, sv, wt = jnp.linalg.svd(times(right, v), full_matrices=False)
  return u, sv, v @ wt.T


def operator(model, theta, x, y, rank: int = 0, iters: int = RANK_ITERS):
  """(left, right) products of C_z for one row (module doc)."""
  grad_x = lambda xx: grad_theta(model, theta, xx, y)
  left = lambda u: jax.grad(lambda xx: u @ grad_x(xx))(x)
  right = lambda v: jax.jvp(grad_x, (x,), (v,))[1]
  if not rank:
    return left, right
  u, sv, v = truncated_svd(right, left, x.shape[0], rank, iters)
  return (lambda a: ((a @ u) * sv) @ v.T), (lambda b: u @ (sv * (v.T @ b)))


def check_degenerate(model, theta, x, y, rank: int, iters: int = RANK_ITERS):
  """Warns when rank k < d cuts through equal singular values of C at the
  first row (x [n, d], y [n]): σ_k and σ_{k+1} within 1%."""
  d = x.shape[1]
  if not rank or rank >= d:
    return
  with jax.enable_x64(True):
    theta = jnp.asarray(theta, jnp.float64)
    xx = jnp.asarray(x[0], jnp.float64)
    left, right = operator(model, theta, xx, int(y[0]))
    sv = np.asarray(truncated_svd(right, left, d, rank + 1, iters)[1])
  if sv[rank - 1] - sv[rank] <= 1e-2 * sv[0]:
    warnings.warn(
        f'svd_rank={rank} cuts through equal singular values of ∂x∂θL '
        f'(σ_{rank} = {sv[rank - 1]:.4g}, σ_{rank + 1} = {sv[rank]:.4g}): '
        'the kept subspace is arbitrary (binary logistic regression has d − '
        f'2 equal ones). Prefer svd_rank ≥ d = {d}, or 0 (exact).',
        stacklevel=3)
