"""Paper 002's Tables 4, 7 and 8 as analogues on MNIST-5k.

  python experiments/boss_tables_mnist5k.py --table=4 [--seeds 5]
  python experiments/boss_tables_mnist5k.py --table=7 [--seeds 5]
  python experiments/boss_tables_mnist5k.py --table=8 [--seeds 5]

Table 4: CCS and BOSS with the difficulty score EL2N (first T0 epochs),
forgetting or AUM (the full initial run) - run in experiments/boss_mnist5k.py's
work dir (default) to reuse its initial runs.
Table 7: Random, Moderate, CCS, BOSS on an exponentially imbalanced pool
(class i keeps e^(−0.11 i) of its examples: on 10 classes the paper's
largest/smallest ratio e^0.99 for CIFAR-100's rate 0.01 over 100 classes).
Table 8: the same on a step-imbalanced pool (80% of the examples of the last
20% of the classes pruned, as the paper).
Every cell: test accuracy, mean ± s.e. over seeds, with BOSS's paired
differences. Writes experiments/results/boss_mnist5k/table<k>.md.
"""

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
# pylint: disable=g-import-not-at-top,wrong-import-position
from al_jax import config_check
from al_jax import report
from al_jax import strategies
from al_jax.loops import subset as subset_loop

OUT = os.path.join(ROOT, 'experiments', 'results', 'boss_mnist5k')
SCORES = ('el2n', 'forgetting', 'aum')
IMBALANCE = {'7': dict(imbalance='exponential', imbalance_rate=0.11),
             '8': dict(imbalance='step', imbalance_classes=0.2,
                       imbalance_prune=0.8)}


def load_config(table, seeds):
  # The ablation variant holds every entry section of boss_mnist5k.py's
  # work dir, which Table 4 shares (a resumed config may add entries).
  config = config_check.load_file(
      os.path.join(ROOT, 'configs', 'mnist5k_boss.py'),
      'ablation' if table == '4' else None)
  with config.unlocked():
    config.seeds = tuple(range(seeds))
    if table == '4':
      names = []
      for method in ('ccs', 'boss'):
        for score in SCORES:
          name = f'{method}_{score}'
          options = dict(config.subset[method])
          options.pop('method', None)
          config.subset[name] = strategies.options(
              method, **dict(options, score=score))
          names.append(name)
      # Finished entries of the shared work dir resume without training.
      config.subset.methods = tuple(config.subset.methods) + tuple(names)
    else:
      config.subset.methods = ('random', 'moderate', 'ccs', 'boss')
      config.input.update(IMBALANCE[table])
  return config


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--table', choices=('4', '7', '8'), required=True)
  parser.add_argument('--seeds', type=int, default=5)
  parser.add_argument('--workdir', default=None)
  args = parser.parse_args()
  workdir = args.workdir or ('/tmp/boss_mnist5k' if args.table == '4' else
                             f'/tmp/boss_mnist5k_table{args.table}')
  config = load_config(args.table, args.seeds)
  subset_loop.run(config, workdir)
  entries = (tuple(f'{m}_{s}' for m in ('ccs', 'boss') for s in SCORES)
             if args.table == '4' else tuple(config.subset.methods))
  summary = {k: v for k, v in report.summarize(
      workdir, subset_loop.METRIC, x='fraction').items() if k in entries}
  if args.table == '4':
    pairs = [(f'boss_{s}', (f'ccs_{s}',)) for s in SCORES]
    title = 'Table 4 analogue: CCS and BOSS by difficulty score'
  else:
    pairs = [('boss', ('random', 'moderate', 'ccs'))]
    title = (f'Table {args.table} analogue: imbalanced pool '
             f'({", ".join(f"{k}={v}" for k, v in IMBALANCE[args.table].items())})')
  lines = [f'# {title}, {args.seeds} seeds', '',
           f'`python experiments/boss_tables_mnist5k.py --table={args.table} '
           f'--seeds {args.seeds}`; configs/mnist5k_boss.py otherwise. Test '
           'accuracy, mean ± s.e.', '',
           report.table(summary, subset_loop.METRIC, x='fraction'), '']
  for a, others in pairs:
    lines += [f'{a} minus each, paired by seed (wins/losses):', '',
              report.paired_table(workdir, a, others, config.seeds,
                                  subset_loop.METRIC, config.subset.fractions,
                                  'fraction'), '']
  os.makedirs(OUT, exist_ok=True)
  with open(os.path.join(OUT, f'table{args.table}.md'), 'w') as f:
    f.write('\n'.join(lines))
  print('\n'.join(lines))


if __name__ == '__main__':
  main()
