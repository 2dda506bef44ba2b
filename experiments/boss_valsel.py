"""BOSS's and CCS's options chosen on a validation split (paper 002, no test
set in the loop).

  python experiments/boss_valsel.py --config=mnist5k_boss [--seeds 3]
  python experiments/boss_valsel.py --config=moons_boss [--seeds 5]
  python experiments/boss_valsel.py --config=digits_boss [--seeds 5]

Runs the config with ``subset.select_on='validation'`` (20% of the pool held
out before the initial run) and sweeps, per fraction: BOSS over the cutoff
beta x the importance peak c x alpha, CCS over beta (the same tuning budget
for the cutoff, as the audit asks for fairness); Random as the floor. Only
the chosen point's test accuracy is reported. Writes
experiments/results/boss_valsel/<config>.md: test accuracy (mean ± s.e.),
BOSS − CCS paired by seed, and the options chosen in each seed - the values
the configs' defaults are then set from.
"""

import argparse
import collections
import os
import sys

import ml_collections
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
# pylint: disable=g-import-not-at-top,wrong-import-position
from al_jax import config_check
from al_jax import report
from al_jax import strategies
from al_jax.loops import subset as subset_loop

BETAS = (0.0, 0.1, 0.3)
PEAKS = (0.5, 0.8)
ALPHAS = (0.0, 0.5, 1.0)  # 0: diversity only (D.1 at 1%).


def load_config(name, seeds):
  config = config_check.load_file(os.path.join(ROOT, 'configs', f'{name}.py'))
  with config.unlocked():
    config.seeds = tuple(range(seeds))
    for entry in set(config.subset.methods) - {'random', 'ccs', 'boss'}:
      if entry in config.subset and entry not in strategies.names():
        del config.subset[entry]  # An entry's own section (e.g. 'diverse').
    config.subset.methods = ('random', 'ccs', 'boss')
    config.subset.select_on = 'validation'
    config.subset.validation_fraction = 0.2
    config.subset.sweeps = ml_collections.ConfigDict({
        'boss': {'beta': BETAS, 'c': PEAKS, 'alpha': ALPHAS},
        'ccs': {'beta': BETAS}})
  return config


def chosen_table(workdir, config):
  """Markdown: the options each seed chose, per entry and fraction, and
  each option's most chosen value with its count (ties: the smaller)."""
  lines = ['| entry | fraction | chosen options (one per seed) | each '
           "option's most chosen value (seeds) |", '|---|---|---|---|']
  for entry in config.subset.sweeps:
    runs = [report.read_metrics(os.path.join(workdir, entry, f'seed_{s}'))
            for s in config.seeds]
    for i, fraction in enumerate(config.subset.fractions):
      picks = [rows[i]['options'] for rows in runs]
      modes = []
      for name in sorted(picks[0]):
        counts = collections.Counter(p[name] for p in picks)
        value = min(counts, key=lambda v: (-counts[v], v))
        modes.append(f'{name}={value:g} ({counts[value]}/{len(picks)})')
      lines.append(f'| {entry} | {fraction:g} | ' + '; '.join(
          ', '.join(f'{k}={v:g}' for k, v in sorted(p.items()))
          for p in picks) + f' | {", ".join(modes)} |')
  return lines


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--config', required=True,
                      choices=('mnist5k_boss', 'moons_boss', 'digits_boss'))
  parser.add_argument('--seeds', type=int, default=3)
  parser.add_argument('--workdir', default=None)
  args = parser.parse_args()
  workdir = args.workdir or f'/tmp/boss_valsel_{args.config}'
  config = load_config(args.config, args.seeds)
  subset_loop.run(config, workdir)
  summary = report.summarize(workdir, subset_loop.METRIC, x='fraction')
  val = report.summarize(workdir, 'validation_accuracy', x='fraction')
  grid = np.prod([len(v) for v in config.subset.sweeps.boss.values()])
  text = '\n'.join([
      f'# Options chosen on validation: {args.config}, {args.seeds} seeds', '',
      f'`python experiments/boss_valsel.py --config={args.config} --seeds '
      f'{args.seeds}`: {subset_loop.compute_seconds(workdir):.0f} s of '
      'training and selection (2 shared CPU cores). 20% of the pool is held '
      'out before the initial run; BOSS tries '
      f'{grid} points (beta {BETAS} x c {PEAKS} x alpha {ALPHAS}), CCS '
      f'beta {BETAS}; each keeps its best point on validation.', '',
      '## Test accuracy at the chosen options', '',
      report.table(summary, subset_loop.METRIC, x='fraction'), '',
      'BOSS minus each, paired by seed:', '',
      report.paired_table(workdir, 'boss', ('ccs', 'random'), config.seeds,
                          subset_loop.METRIC, config.subset.fractions,
                          'fraction'), '',
      '## Validation accuracy at the chosen options', '',
      report.table(val, 'validation_accuracy', x='fraction'), '',
      '## Chosen options', ''] + chosen_table(workdir, config) + [''])
  out = os.path.join(ROOT, 'experiments', 'results', 'boss_valsel')
  os.makedirs(out, exist_ok=True)
  with open(os.path.join(out, f'{args.config}.md'), 'w') as f:
    f.write(text)
  print(text)


if __name__ == '__main__':
  main()
