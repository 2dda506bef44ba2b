"""Paper 001 section 5.1 (Figure 1) and appendix C Table 1, on offline data.

  python experiments/sensitivity_regression.py           # ~10-20 min, 2 cores
  python experiments/sensitivity_regression.py --quick   # < 2 min, smoke run

Figure 1 protocol: rows A (features standardised with the training split's
mean and std, which needs no label, plus a constant intercept column) and
labels b; 80/20 train/validation split with a fixed seed. Three samplers over
the training rows:
  ours      Algorithm 2 with ζ → ∞: k-medoids (z = 1, k-means++ seeds,
            alternating rounds, then `kmedoids.DEFAULT_MAX_SWAPS` PAM swap
            passes) with K = 10% of the training rows, p_i ∝ ||a_i − â_i||;
            the clustering is computed once per data set (with ζ = ∞ it does
            not depend on labels) and only the sampling is repeated;
  leverage  p_i ∝ leverage score (pivoted QR);
  uniform   p_i = 1/n.
Each draws s rows i.i.d. with weights 1/(s·p) and solves the weighted least
squares; we report 1 − R² on the whole training split and on the validation
split, mean ± standard error over 100 repetitions, for s = d·{2, 3, 5, 7, 10,
14, 20} (d columns including the intercept). Data: scikit-learn diabetes
(442 × 10), mlxtend Boston housing (506 × 13), mlxtend Auto-MPG (392 rows:
cylinders, displacement, horsepower, weight, acceleration, year, origin
one-hot; car name dropped), and a synthetic gas-sensor-like set (13,910 × 128,
36-component Gaussian mixture with log-normal component scales, b = ⟨a, x*⟩ +
Gaussian noise, seed 0) standing in for UCI gas sensor, which is not
installable offline.

Table 1 analogue: n × n i.i.d. N(0, 1) matrices, seconds to compute all
leverage scores (pivoted QR, and plain QR which assumes full rank) and a
k-medoids clustering with K = 0.2·n (k-means++ seeding timed apart; then
ours, and the `kmedoids` package's alternating and FasterPAM, all from the
same seeds; the package's time includes the n × n distance matrix it needs).

All timings are single-threaded (OpenBLAS, OpenMP and XLA limited to one
thread unless the environment already sets them).

Writes experiments/results/sensitivity_regression/{table.md, figure1.png}
(--quick: .../sensitivity_regression_quick/).
"""

import argparse
import os
import sys
import time

# One thread for LAPACK and XLA alike, set before numpy/jax load: on a shared
# 2-core machine OpenBLAS's spinning threads made a 2580 × 129 lstsq ~100×
# slower (1.9 s vs 0.01 s), and single threads keep Table 1's comparison even.
for _var in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
  os.environ.setdefault(_var, '1')
os.environ.setdefault('XLA_FLAGS', '--xla_cpu_multi_thread_eigen=false '
                      'intra_op_parallelism_threads=1')

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
from matplotlib import ticker  # pylint: disable=g-import-not-at-top
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
# pylint: disable=g-import-not-at-top,wrong-import-position
import jax
from al_jax import regression
from al_jax.kernels import kmeanspp
from al_jax.kernels import kmedoids
from al_jax.kernels import leverage

METHODS = ('ours', 'leverage', 'uniform')
S_OVER_D = (2, 3, 5, 7, 10, 14, 20)
MEDOID_FRACTION = 0.1


def gas_like(n=13_910, d=128, components=36, seed=0):
  """Synthetic stand-in for UCI gas sensor: clustered, correlated, uneven."""
  rng = np.random.default_rng(seed)
  loading = rng.normal(size=(8, d))
  means = rng.normal(scale=3, size=(components, 8)) @ loading
  scales = np.exp(rng.normal(scale=0.8, size=components))
  sizes = rng.multinomial(n, rng.dirichlet(np.ones(components)))
  rows = []
  for c, m in enumerate(sizes):
    local = rng.normal(size=(4, d)) * scales[c]
    rows.append(means[c] + rng.normal(size=(m, 4)) @ local
                + 0.3 * scales[c] * rng.normal(size=(m, d)))
  a = rng.permutation(np.concatenate(rows))
  clean = a @ (rng.normal(size=d) / np.sqrt(d))
  return a, clean + rng.normal(scale=0.3 * clean.std(), size=n)


def load(name, quick):
  if name == 'diabetes':
    from sklearn.datasets import load_diabetes
    return load_diabetes(return_X_y=True)
  if name == 'boston':
    from mlxtend.data import boston_housing_data
    return boston_housing_data()
  if name == 'autompg':
    from mlxtend.data import autompg_data
    x, y = autompg_data()
    origin = x[:, 6].astype(int)
    return np.concatenate([x[:, :6], np.eye(3)[origin - 1][:, 1:]], 1), y
  return gas_like(n=2_000 if quick else 13_910)


def split(x, y, seed=0):
  """80/20 train/validation; features standardised on the training rows."""
  order = np.random.default_rng(seed).permutation(len(y))
  cut = int(round(0.8 * len(y)))
  tr, va = order[:cut], order[cut:]
  mean, std = x[tr].mean(0), x[tr].std(0)
  std[std == 0] = 1
  prep = lambda rows: regression.with_intercept((x[rows] - mean) / std)
  return prep(tr), y[tr], prep(va), y[va]


def probabilities(a, key):
  """{method: [N] p} and {method: seconds}."""
  t0 = time.time()
  k = max(1, int(round(MEDOID_FRACTION * len(a))))
  ours = regression.sensitivity_probs(a[:, :-1], k, key=key)
  t1 = time.time()
  lev = regression.leverage_probs(a)
  t2 = time.time()
  probs = dict(ours=ours.probs, leverage=lev,
               uniform=regression.uniform_probs(len(a)))
  info = dict(k=k, swaps=ours.clustering.swaps,
              rounds=ours.clustering.iterations)
  return probs, dict(ours=t1 - t0, leverage=t2 - t1, uniform=0.0), info


def run_dataset(name, index, reps, quick):
  a, b, a_val, b_val = split(*load(name, quick))
  key = jax.random.fold_in(jax.random.key(0), index)
  probs, seconds, info = probabilities(a, key)
  full = np.linalg.lstsq(a, b, rcond=None)[0]
  floor = (regression.one_minus_r2(a, b, full),
           regression.one_minus_r2(a_val, b_val, full))
  d = a.shape[1]
  sizes = [m * d for m in S_OVER_D]
  res = {}  # (method, s) -> [reps, 2] (train, validation) 1 − R².
  for mi, method in enumerate(METHODS):
    for si, s in enumerate(sizes):
      draws = regression.sample(
          probs[method], s * reps,
          jax.random.fold_in(jax.random.fold_in(key, 100 + mi), si))
      out = np.empty((reps, 2))
      for r in range(reps):
        idx = draws.indices[r * s:(r + 1) * s]
        drawn = regression.Sample(idx, regression.importance_weights(
            probs[method], idx))
        x = regression.fit_sample(a, b, drawn)
        out[r] = (regression.one_minus_r2(a, b, x),
                  regression.one_minus_r2(a_val, b_val, x))
      res[method, s] = out
  meta = dict(n=len(b), n_val=len(b_val), d=d, floor=floor, seconds=seconds,
              zero_p=int(np.sum(probs['ours'] == 0)), **info)
  return sizes, res, meta


def mean_se(v):
  return v.mean(), v.std(ddof=1) / np.sqrt(len(v))


def compare(sizes, res, col, m1, m2):
  """(better, worse, tied): sizes where m1's mean 1 − R² is below / above
  m2's by more than 2 standard errors of the difference, or within."""
  out = [0, 0, 0]
  for s in sizes:
    a, b = res[m1, s][:, col], res[m2, s][:, col]
    gap = a.mean() - b.mean()
    se = np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    out[0 if gap < -2 * se else 1 if gap > 2 * se else 2] += 1
  return tuple(out)


def verdict(sizes, res):
  """Lines comparing ours with leverage and both with uniform."""
  lines = []
  for col, what in enumerate(('train', 'validation')):
    ratio = {m: np.mean([res[m, s][:, col].mean() / res['uniform', s][:, col]
                         .mean() for s in sizes]) for m in METHODS[:2]}
    parts = [f'mean over s of (method / uniform) 1 − R²: ours '
             f'{ratio["ours"]:.3f}, leverage {ratio["leverage"]:.3f}']
    for m1, m2 in (('ours', 'uniform'), ('leverage', 'uniform'),
                   ('ours', 'leverage')):
      better, worse, tied = compare(sizes, res, col, m1, m2)
      parts.append(f'{m1} vs {m2}: better at {better}, worse at {worse}, '
                   f'within 2 s.e. at {tied} of {len(sizes)} sizes')
    lines.append(f'- {what}: ' + '; '.join(parts) + '.')
  return lines


def claim_summary(all_results):
  """Markdown rows: does "ours ≈ leverage, both better than uniform" hold?"""
  lines = ['## Summary: does "ours ≈ leverage, both better than uniform" hold?',
           '', 'Counts over the (s, split) points (7 sizes × train/val): '
           'better / worse / within 2 s.e. of the difference. The claim is '
           'called to hold when ours is worse than leverage at ≤ 2 points and '
           'each of ours and leverage beats uniform at ≥ 4 points and loses '
           'at none.', '', '| data set | ours vs leverage | ours vs uniform '
           '| leverage vs uniform | holds? |', '|---|---|---|---|---|']
  for name, (sizes, res, _) in all_results.items():
    counts = {}
    for pair in (('ours', 'leverage'), ('ours', 'uniform'),
                 ('leverage', 'uniform')):
      counts[pair] = np.sum([compare(sizes, res, c, *pair) for c in (0, 1)],
                            axis=0)
    ok = (counts['ours', 'leverage'][1] <= 2 and all(
        counts[m, 'uniform'][0] >= 4 and counts[m, 'uniform'][1] == 0
        for m in ('ours', 'leverage')))
    cells = ' | '.join('/'.join(map(str, c)) for c in counts.values())
    lines.append(f'| {name} | {cells} | {"yes" if ok else "no"} |')
  return lines + ['']


def runtime_table(ns):
  rows = []
  for n in ns:
    x = np.random.default_rng(n).normal(size=(n, n))
    k = int(0.2 * n)
    t0 = time.time()
    seeds = np.sort(kmeanspp.kmeanspp_seed(x, k, jax.random.key(n)))
    t_seed = time.time() - t0
    t0 = time.time()
    ours = kmedoids.kmedoids(x, k, init=seeds)
    t_cold = time.time() - t0
    t0 = time.time()
    kmedoids.kmedoids(x, k, init=seeds)  # Compiled: the kernel alone.
    t_ours = time.time() - t0
    t0 = time.time()
    alt = kmedoids.kmedoids(x, k, init=seeds, max_swaps=0)
    t_alt = time.time() - t0
    t0 = time.time()
    leverage.leverage_scores(x)
    t_lev = time.time() - t0
    t0 = time.time()
    q, _ = np.linalg.qr(x)
    np.einsum('ij,ij->i', q, q)
    t_qr = time.time() - t0
    row = dict(n=n, k=k, seed=t_seed, ours=t_ours, ours_cold=t_cold,
               ours_alt=t_alt,
               ours_alt_cost=alt.cost, ours_cost=ours.cost,
               ours_swaps=ours.swaps, ours_rounds=ours.iterations,
               leverage=t_lev, leverage_plain=t_qr)
    try:
      import kmedoids as kmedoids_pkg
      from sklearn.metrics import pairwise_distances
      for method in ('alternating', 'fasterpam'):
        t0 = time.time()
        diss = pairwise_distances(x)
        got = getattr(kmedoids_pkg, method)(diss, seeds.copy(), max_iter=100)
        row[method] = time.time() - t0
        row[method + '_cost'] = float(got.loss)
        del diss
    except ImportError:
      pass
    rows.append(row)
    print(row, flush=True)
  return rows


def plot(all_results, path):
  names = list(all_results)
  fig, axes = plt.subplots(2, len(names), figsize=(4 * len(names), 7),
                           squeeze=False)
  for j, name in enumerate(names):
    sizes, res, meta = all_results[name]
    for i, what in enumerate(('train', 'validation')):
      ax = axes[i, j]
      for method in METHODS:
        stats = np.array([mean_se(res[method, s][:, i]) for s in sizes])
        ax.errorbar(sizes, stats[:, 0], yerr=stats[:, 1], label=method,
                    capsize=2, marker='o', ms=3)
      ax.axhline(meta['floor'][i], color='grey', ls=':', label='full data')
      ax.set_xscale('log')
      ax.set_yscale('log')
      ax.set_xticks(sizes[::2], [str(s) for s in sizes[::2]])
      ax.xaxis.set_minor_formatter(ticker.NullFormatter())
      ax.yaxis.set_major_formatter(ticker.FormatStrFormatter('%.2g'))
      ax.yaxis.set_minor_formatter(ticker.FormatStrFormatter('%.2g'))
      ax.set_title(f'{name} ({what})')
      ax.set_xlabel('sample size s')
      ax.set_ylabel('1 − R²')
      if i == 0 and j == 0:
        ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=110)


def write_table(path, command, all_results, runtimes, reps, wall):
  lines = [f'# Paper 001 §5.1 Figure 1 and Table 1 analogues', '',
           f'`{command}`: {wall:.0f} s wall on {os.cpu_count()} CPU cores '
           f'(load average at the end {os.getloadavg()[0]:.2f}; other jobs '
           'share the machine, so compare timings within this run). '
           'LAPACK and XLA run single-threaded (see the module docstring).',
           '',
           f'1 − R² (mean ± s.e. over {reps} draws) of the weighted least '
           'squares on s sampled training rows, on the full training split '
           '(train) and the 20% validation split (val). "full" is the '
           'all-rows fit. ours = Algorithm 2, ζ → ∞, K = 10% of the training '
           'rows (k-medoids); leverage = leverage-score sampling; uniform.',
           '']
  lines += claim_summary(all_results)
  for name, (sizes, res, meta) in all_results.items():
    lines += [f'## {name}: n_train = {meta["n"]}, n_val = {meta["n_val"]}, '
              f'd = {meta["d"]} (with intercept)', '',
              f'full-data 1 − R²: train {meta["floor"][0]:.4f}, val '
              f'{meta["floor"][1]:.4f}. K = {meta["k"]} medoids '
              f'({meta["rounds"]} alternating rounds, {meta["swaps"]} swaps); '
              f'{meta["zero_p"]} rows have p = 0 under ours. Seconds to '
              f'compute p: ours {meta["seconds"]["ours"]:.2f} (k-medoids, '
              f'incl. compile), leverage {meta["seconds"]["leverage"]:.3f}.',
              '', '| s | ' + ' | '.join(f'{m} train' for m in METHODS) +
              ' | ' + ' | '.join(f'{m} val' for m in METHODS) + ' |',
              '|---' * (1 + 2 * len(METHODS)) + '|']
    for s in sizes:
      cells = [f'{mean_se(res[m, s][:, c])[0]:.4f} ± '
               f'{mean_se(res[m, s][:, c])[1]:.4f}'
               for c in (0, 1) for m in METHODS]
      lines.append(f'| {s} | ' + ' | '.join(cells) + ' |')
    lines.append('')
    lines += verdict(sizes, res)
    lines.append('')
  lines += ['## Table 1 analogue: seconds for n × n N(0, 1) matrices, '
            'K = 0.2·n', '',
            'seeding = al_jax k-means++ seeding (D² sampling, K passes over '
            'the rows; first call, incl. its compile); every k-medoids below '
            'starts from these seeds. ours = al_jax k-medoids from the seeds '
            f'(alternating, then ≤ {kmedoids.DEFAULT_MAX_SWAPS} swap passes), '
            'second call (compiled), first call with the jit compile in '
            'brackets; ours alternating = the same without swap passes; '
            'leverage = pivoted QR (rank-revealing, what al_jax uses); '
            'plain QR = numpy QR assuming full rank; the `kmedoids` package '
            'runs from the same seeds and its time includes the n × n '
            'distance matrix. Cost = Σ distance to the nearest medoid.', '',
            '| n | K | seeding (s) | ours (s) | ours cost | ours alternating (s) | its cost '
            '| leverage pivoted QR (s) | '
            'leverage plain QR (s) | kmedoids.alternating (s) | its cost | '
            'kmedoids.fasterpam (s) | its cost |', '|---' * 13 + '|']
  for r in runtimes:
    pkg = lambda m: (f'{r[m]:.2f} | {r[m + "_cost"]:.1f}' if m in r
                     else 'n/a | n/a')
    lines.append(f'| {r["n"]} | {r["k"]} | {r["seed"]:.2f} | {r["ours"]:.2f} '
                 f'({r["ours_cold"]:.2f}) | '
                 f'{r["ours_cost"]:.1f} ({r["ours_rounds"]} rounds, '
                 f'{r["ours_swaps"]} swaps) | {r["ours_alt"]:.2f} | '
                 f'{r["ours_alt_cost"]:.1f} | {r["leverage"]:.2f} | '
                 f'{r["leverage_plain"]:.2f} | {pkg("alternating")} | '
                 f'{pkg("fasterpam")} |')
  lines.append('')
  with open(path, 'w') as f:
    f.write('\n'.join(lines))


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--quick', action='store_true',
                      help='10 repetitions, 2,000 gas-like rows, n ≤ 1000')
  args = parser.parse_args()
  start = time.time()
  reps = 10 if args.quick else 100
  out = os.path.join(ROOT, 'experiments', 'results',
                     'sensitivity_regression' + ('_quick' if args.quick
                                                 else ''))
  os.makedirs(out, exist_ok=True)
  all_results = {}
  for i, name in enumerate(('diabetes', 'boston', 'autompg', 'gas_like')):
    t0 = time.time()
    all_results[name] = run_dataset(name, i, reps, args.quick)
    print(f'{name}: {time.time() - t0:.1f} s', flush=True)
  plot(all_results, os.path.join(out, 'figure1.png'))
  runtimes = runtime_table((500, 1000) if args.quick else (1000, 2000, 5000))
  command = 'python experiments/sensitivity_regression.py' + (
      ' --quick' if args.quick else '')
  write_table(os.path.join(out, 'table.md'), command, all_results, runtimes,
              reps, time.time() - start)
  print(open(os.path.join(out, 'table.md')).read())


if __name__ == '__main__':
  main()
