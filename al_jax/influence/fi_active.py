"""FI-active (paper 004, eq. 4.1, Algorithm 2, section 6.2; wave2.md 3.2):
how strongly perturbing each labelled row would move the loss of a
candidate at its predicted label, aggregated over the labelled rows.

For labelled rows z_j (the n rows behind θ̂ and H) and a candidate x_u with
ŷ_u = argmax f(x_u; θ̂) and a_u = ∇θ L(ŷ_u, x_u; θ̂):

  FI_uj = g_uj G_{z_j}† g_ujᵀ,  g_uj = a_uᵀ J_{z_j}
        = ‖W_jᵀ a_u‖²           W_j = J_j R_j† = s·H⁻¹ C_j R_j†  [p, K]

(G† = R† R†ᵀ; `fi` has R_j, s and the solves). W_j costs K Jacobian-vector
products of x ↦ ∇θL along the columns of R_j† and K solves, once per
labelled row; then FI of every pair is one GEMM [U, p] × [p, n·K], never a
p × d Jacobian. FI-active(x_u) = the mean of {FI_uj}_j between their 10th
and 90th percentiles, both inclusive, with linearly interpolated
percentiles (`trimmed_mean`: section 6.2's "middle 80%").

The same W gives FI-util_j = ‖W_jᵀ ḡ_V‖² (a check, `tests`).

Dimensions: n labelled rows, U candidates, d features, p parameters,
K classes.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from al_jax import train as train_lib
from al_jax.influence import curvature as curvature_lib
from al_jax.influence import fi
from al_jax.influence import mixed

PERCENTILES = (10., 90.)


def trimmed_mean(values, lo: float = PERCENTILES[0],
                 hi: float = PERCENTILES[1]):
  """[..., n] mean over the last axis of the values between its lo-th and
  hi-th percentiles (numpy's linear interpolation, written as a + (b − a)·f
  so that tied neighbours give exactly their value), both edges inclusive."""
  ordered = jnp.sort(values, -1)
  n = values.shape[-1]

  def percentile(q):
    pos = (n - 1) * q / 100.
    i = int(np.floor(pos))
    a, b = ordered[..., i], ordered[..., min(i + 1, n - 1)]
    return (a + (b - a) * (pos - i))[..., None]

  keep = (values >= percentile(lo)) & (values <= percentile(hi))
  return jnp.sum(jnp.where(keep, values, 0.), -1) / jnp.sum(keep, -1)


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _factor_block(model, static, rank, theta, operands, s, xb, yb, atol,
                  rtol):
  solve = curvature_lib.solver(model, static, theta, operands)

  def one(x, y):
    r, (_, right) = fi.factor(model, theta, solve, s, x, y, rank)
    pinv = fi.pseudo_inverse(r, atol, rtol)                     # [d, K]
    return s * solve(jax.vmap(right, 1, 1)(pinv))               # [p, K]
  return jax.vmap(one)(xb, yb)


def labelled_factors(model, theta, x, y, curv: curvature_lib.Curvature, *,
                     scale: str = 'appendix', atol: float = fi.ATOL,
                     rtol: float = 0., svd_rank: int = 0, block: int = 256
                     ) -> np.ndarray:
  """[n, p, K] W_j of every labelled row (x [n, d], y [n]; those behind
  `curv`); svd_rank: C's truncation (`mixed`; 0: exact)."""
  s = fi.jacobian_scale(scale, curv.n)
  mixed.check_degenerate(model, theta, x, y, svd_rank)
  x = np.asarray(x, np.float64)
  y = np.asarray(y, np.int64)
  with jax.enable_x64(True):
    theta = jnp.asarray(theta, jnp.float64)
    p = len(theta)
    xy = np.concatenate([x, y[:, None].astype(np.float64)], 1)
    flat = train_lib.map_blocks(
        lambda b: _factor_block(
            model, curv.static, int(svd_rank), theta, curv.operands, s,
            b[:, :-1],
            b[:, -1].astype(np.int64), float(atol), float(rtol)
        ).reshape(len(b), -1), xy, block)
    return flat.reshape(len(x), p, -1)


@functools.partial(jax.jit, static_argnums=0)
def _candidate_gradients(model, theta, xb):
  def one(x):
    label = jnp.argmax(model.logits(theta, x))
    return mixed.grad_theta(model, theta, x, label)
  return jax.vmap(one)(xb)


@functools.partial(jax.jit, static_argnums=(2, 3))
def _aggregate(grads, w, lo, hi):
  proj = jnp.einsum('up,npk->unk', grads, w)
  return trimmed_mean(jnp.sum(proj ** 2, -1), lo, hi)


def fi_active(model, theta, x_candidates, w: np.ndarray,
              percentiles: tuple[float, float] = PERCENTILES,
              block: int = 256) -> np.ndarray:
  """[U] FI-active of each candidate (x_candidates [U, d]) against the
  labelled rows whose `labelled_factors` are w [n, p, K]."""
  with jax.enable_x64(True):
    theta = jnp.asarray(theta, jnp.float64)
    w = jnp.asarray(w)
    lo, hi = (float(v) for v in percentiles)
    return train_lib.map_blocks(
        lambda b: _aggregate(_candidate_gradients(model, theta, b), w, lo,
                             hi)[:, None],
        np.asarray(x_candidates, np.float64), block)[:, 0]
