"""Paper 002 on MNIST-5k: the Table 1 comparison and the Table 2 ablation.

  python experiments/boss_mnist5k.py [--workdir DIR] [--seeds 5]

Runs configs/mnist5k_boss.py (Random, CCS, Moderate, CRAIG, GradMatch,
BOSS) and its `ablation` variant (diversity only, difficulty only, both,
both + cutoff = BOSS) in one work dir, so both share each seed's initial
model and BOSS's runs. Writes experiments/results/boss_mnist5k/results.md:
test accuracy per method and fraction (mean ± s.e. over seeds) and BOSS's
paired differences to every other entry, and the analogue of Table 9: the
selection seconds of every method at every fraction (mean over seeds; the
initial run, shared by all, is not counted).
"""

import argparse
import os
import sys

import jax

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
# pylint: disable=g-import-not-at-top,wrong-import-position
from al_jax import config_check
from al_jax import report
from al_jax.loops import subset as subset_loop

OUT = os.path.join(ROOT, 'experiments', 'results', 'boss_mnist5k')


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--workdir', default='/tmp/boss_mnist5k')
  parser.add_argument('--seeds', type=int, default=5)
  args = parser.parse_args()
  path = os.path.join(ROOT, 'configs', 'mnist5k_boss.py')
  sections = []
  for arg, title in ((None, 'Table 1 methods'),
                     ('ablation', 'Table 2 ablation')):
    config = config_check.load_file(path, arg)
    with config.unlocked():
      config.seeds = tuple(range(args.seeds))
    subset_loop.run(config, args.workdir)
    entries = tuple(config.subset.methods)
    summary = report.summarize(args.workdir, subset_loop.METRIC, x='fraction')
    summary = {k: v for k, v in summary.items() if k in entries}
    others = tuple(e for e in entries if e != 'boss')
    sections += [
        f'## {title} (`mnist5k_boss.py{":" + arg if arg else ""}`)', '',
        report.table(summary, subset_loop.METRIC, x='fraction'), '',
        'BOSS minus each, paired by seed (mean ± s.e.; wins/losses):', '',
        report.paired_table(args.workdir, 'boss', others, config.seeds,
                            subset_loop.METRIC, config.subset.fractions,
                            'fraction'), '']
  times = report.summarize(args.workdir, 'selection_seconds', x='fraction')
  sections += ['## Table 9 analogue: selection seconds (mean ± s.e. over '
               'seeds; 2 shared CPU cores, compare within this table only)',
               '', report.table(times, 'selection_seconds', x='fraction'), '']
  text = '\n'.join(
      [f'# One-shot subsets on MNIST-5k, {args.seeds} seeds', '',
       f'`python experiments/boss_mnist5k.py --seeds {args.seeds}`: '
       f'{subset_loop.compute_seconds(args.workdir):.0f} s of training and '
       f'selection on {jax.device_count()} {jax.default_backend()} '
       'device(s), 2-core CPU.', ''] + sections)
  os.makedirs(OUT, exist_ok=True)
  with open(os.path.join(OUT, 'results.md'), 'w') as f:
    f.write(text)
  print(text)


if __name__ == '__main__':
  main()
