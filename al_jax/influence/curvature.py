"""The curvature behind FI's implicit-function Jacobian J = s·H⁻¹C (paper 004,
appendix A; wave2.md 3.1, 3.9 pitfall 2), and solves with it that never
form an inverse.

Kinds of H (each of R(θ) = mean_i L_i + (wd/2)‖θ‖² at θ̂):
  'hessian'       ∇²R, exact (the paper's H);
  'gauss_newton'  mean_i J_iᵀ (diag P_i − P_i P_iᵀ) J_i + wd·I with J_i =
                  ∂f(x_i)/∂θ: positive semi-definite for any network, equal
                  to the Hessian for logistic regression (linear logits);
  'kfac'          K-FAC (paper 004's KFSVD, Algorithms 5 and 7; wave2.md
                  3.4) for one linear layer (logistic regression, a
                  network's last layer): E[a aᵀ] ⊗ E[diag P − P Pᵀ] with a
                  the input (and 1 for the bias), + γ·I, γ = max(wd +
                  damping, 1e-4) (the paper gives none; the softmax factor
                  is singular); solved exactly through the two factors'
                  eigendecompositions, O(d³ + K³) instead of O(p³). Equal to
                  the Gauss–Newton matrix for one example.
Solvers:
  'cholesky'      the p × p matrix, formed once and factorised; a singular
                  or indefinite H gets the smallest extra damping that
                  makes it positive definite (1e-8·λ_max above −λ_min),
                  stated in the note;
  'cg'            conjugate gradients on H-vector products (two autodiff
                  passes over the n rows per product, no p × p matrix): for
                  models too large to factorise. CG needs H positive
                  definite: the Gauss–Newton kind, or a convex model's
                  Hessian with weight decay > 0 (or ``damping``); other
                  combinations are refused. Each solve stops at relative
                  residual ``cg_tol`` or ``cg_maxiter`` products.

Dimensions: n training rows, d features, p parameters, K classes.
"""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from al_jax.influence import tabular

KINDS = ('hessian', 'gauss_newton', 'kfac')
KFAC_FLOOR = 1e-4
SOLVERS = ('cholesky', 'cg')


class Curvature(NamedTuple):
  """H (+ damping) ready to solve with.

  Attributes:
    n: training rows behind H (the 1/n of appendix A).
    damping: added to the diagonal beyond the weight decay (0 if none).
    note: what was done, for the output (kind, weight decay, damping).
    static: (solver, kind, cg_tol, cg_maxiter), hashable (a jit static).
    operands: arrays of the solve: (chol [p, p],) for 'cholesky'; (x [n, d],
      y [n], wd + damping) for 'cg'.
  """
  n: int
  damping: float
  note: str
  static: tuple
  operands: tuple


def _per_row_gn(model, theta, x, v):
  """J_xᵀ (diag P − P Pᵀ) J_x v of one row."""
  f = lambda t: model.logits(t, x)
  z, jv = jax.jvp(f, (theta,), (v,))
  prob = jax.nn.softmax(z)
  return jax.vjp(f, theta)[1](prob * jv - prob * (prob @ jv))[0]


def _matvec(model, kind, theta, x, y, diag, v):
  """(H + diag·I) v with H the kind's curvature of the mean loss."""
  if kind == 'hessian':
    grad = jax.grad(lambda t: tabular.risk(model, t, x, y, 0.))
    hv = jax.jvp(grad, (theta,), (v,))[1]
  else:
    hv = jnp.mean(jax.vmap(_per_row_gn, (None, None, 0, None))(
        model, theta, x, v), 0)
  return hv + diag * v


def _columns(one):
  return lambda b: one(b) if b.ndim == 1 else jax.vmap(one, 1, 1)(b)


def solver(model, static: tuple, theta, operands):
  """b [p] or [p, K] ↦ H⁻¹ b; traceable (call it inside jit)."""
  kind_solver, kind, tol, maxiter = static
  if kind_solver == 'cholesky':
    return lambda b: jax.scipy.linalg.cho_solve((operands[0], True), b)
  if kind_solver == 'kfac':
    qa, la, qs, ls, gamma = operands

    def kron_solve(b):  # (A ⊗ S + γI)⁻¹ vec(B), B [m, o] row-major.
      rot = qa.T @ b.reshape(len(la), len(ls)) @ qs
      return (qa @ (rot / (la[:, None] * ls[None, :] + gamma)) @ qs.T
              ).reshape(-1)
    return _columns(kron_solve)
  x, y, diag = operands
  op = functools.partial(_matvec, model, kind, theta, x, y, diag)

  return _columns(lambda b: jax.scipy.sparse.linalg.cg(
      op, b, tol=tol, maxiter=maxiter)[0])


@functools.partial(jax.jit, static_argnums=0)
def _gauss_newton(model, theta, x, wd):
  jac = jax.vmap(jax.jacrev(model.logits), (None, 0))(theta, x)  # [n, K, p]
  prob = jax.nn.softmax(jax.vmap(model.logits, (None, 0))(theta, x))
  weighted = prob[:, :, None] * (jac - jnp.einsum('nk,nkp->np', prob, jac)
                                 [:, None])
  return (jnp.einsum('nkp,nkq->pq', jac, weighted) / len(x)
          + wd * jnp.eye(len(theta)))


def kfac_factors(model: tabular.Tabular, theta, x) -> tuple:
  """(A [m, m], S [o, o]) of a linear model: E[a aᵀ] over the inputs a (with
  a trailing 1 when θ has a bias row) and E[diag P − P Pᵀ] over its o output
  units (binary logistic regression: o = 1, E[p(1 − p)])."""
  o = model.outputs
  if not o:
    raise ValueError("curvature kind 'kfac' is for one linear layer "
                     "(logistic regression, or a network's last layer: "
                     "fi_active's layer='last'); this model is not one.")
  x = np.asarray(x, np.float64)
  m = len(theta) // o
  a = np.concatenate([x, np.ones((len(x), 1))], 1) if m == x.shape[1] + 1 \
      else x
  with jax.enable_x64(True):
    prob = np.asarray(jax.nn.softmax(jax.vmap(model.logits, (None, 0))(
        jnp.asarray(theta, jnp.float64), jnp.asarray(x)), -1))
  if o == 1:  # Logits (0, z): one unit of curvature p(1 − p).
    s = np.mean(prob[:, 1] * prob[:, 0])[None, None]
  else:
    s = np.diag(prob.mean(0)) - prob.T @ prob / len(x)
  return a.T @ a / len(x), s


def matrix(model: tabular.Tabular, theta, x, y, weight_decay: float,
           kind: str = 'hessian') -> np.ndarray:
  """[p, p] float64 H of the kind (weight decay included)."""
  if kind == 'hessian':
    return tabular.hessian(model, theta, x, y, weight_decay)
  if kind == 'kfac':
    a, s = kfac_factors(model, theta, x)
    return np.kron(a, s) + weight_decay * np.eye(len(theta))
  with jax.enable_x64(True):
    return np.asarray(_gauss_newton(model, jnp.asarray(theta, jnp.float64),
                                    jnp.asarray(x, jnp.float64),
                                    float(weight_decay)))


def curvature(model: tabular.Tabular, theta, x, y, weight_decay: float,
              damping: float = 0., kind: str = 'hessian',
              solver_name: str = 'cholesky', cg_tol: float = 1e-10,
              cg_maxiter: int | None = None) -> Curvature:
  """H of the kind at θ̂ on the rows (x [n, d], y [n]), for the solver
  (module doc).

  Raises:
    ValueError: unknown kind or solver, or CG on a curvature that may be
      indefinite.
  """
  if kind not in KINDS:
    raise ValueError(f'curvature kind {kind!r}; valid: {KINDS}.')
  if solver_name not in SOLVERS:
    raise ValueError(f'solver {solver_name!r}; valid: {SOLVERS}.')
  what = 'Hessian' if kind == 'hessian' else 'Gauss-Newton matrix'
  note = f'H = {what} of the mean loss + weight decay {weight_decay:g}'
  extra = max(float(damping), 0.)
  static = (solver_name, kind, float(cg_tol), cg_maxiter)
  if kind == 'kfac':
    if solver_name == 'cg':
      raise ValueError("curvature kind 'kfac' has its own exact solve; use "
                       "solver='cholesky' (the default).")
    a, s = kfac_factors(model, theta, x)
    gamma = max(weight_decay + extra, KFAC_FLOOR)
    (la, qa), (ls, qs) = np.linalg.eigh(a), np.linalg.eigh(s)
    note = (f'H = K-FAC (E[aaᵀ] ⊗ E[diag P − PPᵀ]) + {gamma:g}·I (weight '
            f'decay {weight_decay:g}, damping {extra:g}, floor {KFAC_FLOOR:g})')
    return Curvature(len(x), gamma - weight_decay, note,
                     ('kfac', kind, 0., None),
                     (qa, np.clip(la, 0, None), qs, np.clip(ls, 0, None),
                      gamma))
  if solver_name == 'cg':
    if weight_decay + extra <= 0 or (kind == 'hessian' and
                                     not model.convex):
      raise ValueError(
          'CG needs a positive-definite H: this one may be indefinite or '
          'singular (a non-convex model\'s Hessian, or no weight decay or '
          "damping). Use kind='gauss_newton' with weight decay or damping "
          "> 0, or solver 'cholesky' (which damps and says so).")
    if extra:
      note += f' + damping {extra:.3g}'
    note += f'; CG on H-vector products (tol {cg_tol:g})'
    return Curvature(len(x), extra, note, static,
                     (np.asarray(x, np.float64), np.asarray(y, np.int64),
                      float(weight_decay) + extra))
  h = matrix(model, theta, x, y, weight_decay, kind)
  eig = np.linalg.eigvalsh(h)
  floor = 1e-8 * max(abs(eig[-1]), 1e-12)
  if eig[0] + extra <= floor:
    extra = floor - eig[0]
  if extra:
    note += (f' + damping {extra:.3g} (λ_min {eig[0]:.3g}, '
             f'λ_max {eig[-1]:.3g})')
  chol = np.linalg.cholesky(h + extra * np.eye(len(h)))
  return Curvature(len(x), extra, note, static, (chol,))
