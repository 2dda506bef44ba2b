"""Paper 001 Figure 2(b) analogue on MNIST-5k: uniform, k-center coreset
[SS18], loss- and gradient-based sensitivity sampling, and margin, at label
budgets k ∈ {250, 500, 1000, 2000} (configs/mnist5k_sensitivity.py).

  python experiments/sensitivity_mnist5k.py [--seeds 20] [--seeds-2000 100]

Each k is its own work dir (/tmp/sens_mnist5k_k<k>); reruns resume, and
more seeds extend a finished run. Within a seed every method starts from
the same k' uniform labels and the same M₀. Writes
experiments/results/sensitivity_mnist5k/results.md: the final test
accuracy (mean ± s.e.), each method minus uniform paired by seed (mean ±
s.e., wins/losses), and the mean selection seconds, next to the paper's
full-MNIST numbers at k = 2000.
"""

import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
# pylint: disable=g-import-not-at-top,wrong-import-position
from al_jax import config_check
from al_jax import report
from al_jax.loops import active

METRIC = 'test_accuracy'
PAPER_2000 = {'random': 0.9130, 'kcenter': 0.9134, 'sensitivity': 0.9203,
              'sensitivity_grad': 0.9207}  # Full MNIST, 100 runs.


def final(workdir, name, seeds, key):
  return np.array([report.read_metrics(os.path.join(
      workdir, name, f'seed_{s}'))[-1 if key == METRIC else 0][key]
                   for s in seeds], np.float64)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--ks', default='250,500,1000,2000')
  parser.add_argument('--seeds', type=int, default=20)
  parser.add_argument('--seeds-2000', type=int, default=100)
  args = parser.parse_args()
  ks = [int(k) for k in args.ks.split(',')]
  lines = ['# Sensitivity sampling on MNIST-5k (paper 001 Figure 2(b) '
           'analogue)', '',
           f'`python experiments/sensitivity_mnist5k.py --seeds {args.seeds} '
           f'--seeds-2000 {args.seeds_2000}`; protocol and settings: '
           '`configs/mnist5k_sensitivity.py` (k\' = 0.2k uniform, M₀, one '
           'selection of 0.8k, MLP-128, 10 epochs, batch 32, Adam 1e-3; '
           'pool 4,000, test 1,000).', '']
  total = 0.
  times, verdicts = {}, []
  for k in ks:
    seeds = args.seeds_2000 if k == 2000 else args.seeds
    config = config_check.load_file(
        os.path.join(ROOT, 'configs', 'mnist5k_sensitivity.py'),
        f'k={k},seeds={seeds}')
    workdir = f'/tmp/sens_mnist5k_k{k}'
    active.run(config, workdir)
    names = config.al.strategies
    total += sum(r['train_seconds'] + (r['selection_seconds'] or 0)
                 for n in names for s in config.seeds
                 for r in report.read_metrics(
                     os.path.join(workdir, n, f'seed_{s}')))
    lines += [f'## k = {k} ({seeds} seeds)', '',
              '| method | test accuracy | − uniform (paired) | wins/losses '
              '| selection s | paper (full MNIST) |', '|---|---|---|---|---|---|']
    base = final(workdir, 'random', config.seeds, METRIC)
    means = {}
    for n in names:
      acc = final(workdir, n, config.seeds, METRIC)
      d = acc - base
      sel = final(workdir, n, config.seeds, 'selection_seconds')
      times.setdefault(n, {})[k] = np.median(sel)
      means[n] = (acc.mean(), d.mean(), se(d) if n != 'random' else 0.)
      se = lambda a: a.std(ddof=1) / np.sqrt(len(a))
      paper = f'{PAPER_2000[n]:.4f}' if k == 2000 and n in PAPER_2000 else ''
      lines.append(
          f'| {n} | {acc.mean():.4f} ± {se(acc):.4f} | '
          + ('' if n == 'random' else f'{d.mean():+.4f} ± {se(d):.4f}')
          + f' | {"" if n == "random" else f"{(d > 0).sum()}/{(d < 0).sum()}"}'
          f' | {np.median(sel):.2f} | {paper} |')
    lines.append('')
    best = max(means, key=lambda n: means[n][0])
    above = [n for n in ('sensitivity', 'sensitivity_grad')
             if means[n][1] > 2 * means[n][2]]
    verdicts.append(
        f'- k = {k}: best {best}; beat uniform by more than 2 s.e.: '
        + (', '.join(above) or 'neither sensitivity variant')
        + '; gradient − loss: '
        f'{means["sensitivity_grad"][0] - means["sensitivity"][0]:+.4f}.')
  lines += ['## Computed claims', ''] + verdicts + ['']
  names = list(times)
  lines += ['## Selection seconds vs k (Figure 3 analogue; medians)', '',
            '| k | ' + ' | '.join(names) + ' |', '|---' * (len(names) + 1) + '|']
  lines += [f'| {k} | ' + ' | '.join(f'{times[n].get(k, np.nan):.2f}'
                                     for n in names) + ' |' for k in ks]
  lines.append('')
  lines.insert(3, f'{total:.0f} s of training and selection (2 shared CPU '
               'cores); selection seconds are medians over seeds and include '
               'the first call\'s compilation.')
  lines.insert(4, '')
  out = os.path.join(ROOT, 'experiments', 'results', 'sensitivity_mnist5k')
  os.makedirs(out, exist_ok=True)
  with open(os.path.join(out, 'results.md'), 'w') as f:
    f.write('\n'.join(lines) + '\n')
  print('\n'.join(lines))


if __name__ == '__main__':
  main()
