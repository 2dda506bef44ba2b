"""BOSS's c and alpha on MNIST-5k (paper 002 Figure 5, on our data).

  python experiments/boss_sensitivity_mnist5k.py [--workdir DIR] [--seeds 3]

BOSS at 3% and 10% of MNIST-5k over a grid of the importance function's
peak c (the normalised difficulty where importance peaks, as the authors'
code reads c; Eq. 4's parameter is c + 1.5) and sharpness alpha, with the
config's beta (`mnist5k_boss.BETA`), in a work dir of its own (its
fractions differ from experiments/boss_mnist5k.py's). This is
a sensitivity study on test accuracy, as the paper's Figure 5; picking
defaults from it would be tuning on the test set. Writes
experiments/results/boss_mnist5k/sensitivity.md.
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
from al_jax import strategies
from al_jax.loops import subset as subset_loop

OUT = os.path.join(ROOT, 'experiments', 'results', 'boss_mnist5k')
PEAKS = (0.0, 0.3, 0.5, 0.8, 1.0)  # c: where the importance peaks.
ALPHAS = (0.5, 1.0, 2.0, 4.0)
FRACTIONS = (0.03, 0.1)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--workdir', default='/tmp/boss_sensitivity_mnist5k')
  parser.add_argument('--seeds', type=int, default=3)
  args = parser.parse_args()
  config = config_check.load_file(
      os.path.join(ROOT, 'configs', 'mnist5k_boss.py'))
  entries = {}
  with config.unlocked():
    config.seeds = tuple(range(args.seeds))
    config.subset.fractions = FRACTIONS
    for peak in PEAKS:
      for alpha in ALPHAS:
        name = f'peak{int(peak * 10)}_a{int(alpha * 10)}'
        entries[peak, alpha] = name
        config.subset[name] = strategies.options(
            'boss', c=peak, alpha=alpha, beta=config.subset.boss.beta)
    config.subset.methods = tuple(entries.values())
  subset_loop.run(config, args.workdir)
  summary = report.summarize(args.workdir,
                             subset_loop.METRIC, x='fraction')
  lines = [f'# BOSS importance parameters on MNIST-5k, {args.seeds} seeds',
           '', f'`python experiments/boss_sensitivity_mnist5k.py --seeds '
           f'{args.seeds}`. Test accuracy, mean ± s.e.; rows: the importance '
           'peak c, columns: alpha; beta as configs/mnist5k_boss.py. For '
           'reference, alpha = 0 is the "diversity" column of results.md.',
           '']
  for i, f in enumerate(FRACTIONS):
    lines += [f'## fraction {f:g}', '',
              '| c \\ alpha | ' + ' | '.join(f'{a:g}' for a in ALPHAS) + ' |',
              '|---' * (len(ALPHAS) + 1) + '|']
    for peak in PEAKS:
      cells = [summary[entries[peak, a]] for a in ALPHAS]
      lines.append(f'| {peak:g} | ' + ' | '.join(
          f'{s["mean"][i]:.4f} ± {s["se"][i]:.4f}' for s in cells) + ' |')
    best = max(((np.round(summary[n]['mean'][i], 4), k)
                for k, n in entries.items()))
    lines += ['', f'Best: c = {best[1][0]:g}, alpha = {best[1][1]:g} '
              f'({best[0]:.4f}).', '']
  text = '\n'.join(lines)
  os.makedirs(OUT, exist_ok=True)
  with open(os.path.join(OUT, 'sensitivity.md'), 'w') as f:
    f.write(text)
  print(text)


if __name__ == '__main__':
  main()
