"""Paper 000 appendix A.1 on MNIST-5k: BADGE and CoreSet on 1 vs 10 random
partitions of the pool.

Appendix A.1 runs BADGE and CoreSet "independently with a target batch size
of k/m in each" of m random partitions to make them affordable at scale.
This measures what partitioning costs in accuracy and buys in selection
time, paired by seed (the same seed set for every entry), on the set-up of
configs/mnist5k_cm.py (pool 4,000; 100 seed labels, 5 rounds of 100). The
committed results come from

  python experiments/cm_partitions_mnist5k.py --seeds=0-9
"""

import argparse
import json
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# pylint: disable=g-import-not-at-top,wrong-import-position
import cm_large_batch
import cm_mnist5k

METHODS = ('badge', 'kcenter')
PARTS = 10


def load_config(seeds):
  from al_jax import config_check, strategies
  config = config_check.load_file(os.path.join(ROOT, 'configs',
                                               'mnist5k_cm.py'))
  config.seeds = seeds
  del config.al.cluster_margin
  names = []
  for method in METHODS:
    names.append(method)
    config.al[f'{method}_p{PARTS}'] = strategies.options(method,
                                                         partitions=PARTS)
    names.append(f'{method}_p{PARTS}')
  config.al.strategies = tuple(names)
  return config


def compare(raw):
  """Markdown lines: paired accuracy and selection-time differences."""
  labels = raw[METHODS[0]]['labels']
  lines = ['| method | labels | 1 partition | 10 partitions | '
           '10 − 1 (paired) |', '|---|---|---|---|---|']
  text = []
  for method in METHODS:
    one, ten = (np.asarray(raw[n]['acc']) for n in
                (method, f'{method}_p{PARTS}'))
    for r in range(1, len(labels)):
      d = ten[:, r] - one[:, r]
      lines.append(
          f'| {method} | {labels[r]} | {one[:, r].mean():.4f} | '
          f'{ten[:, r].mean():.4f} | '
          f'{cm_mnist5k._fmt_diff(d.mean(), d.std(ddof=1) / np.sqrt(len(d)))} |')  # pylint: disable=protected-access
    d_auc = cm_large_batch.auc_diff(raw, f'{method}_p{PARTS}', method)
    t1, t10 = (np.asarray(raw[n]['sel'])[:, 1:].mean() for n in
               (method, f'{method}_p{PARTS}'))
    text.append(
        f'{method}: AUC (10 − 1 partitions) {d_auc[0]:+.4f} ± {d_auc[1]:.4f} '
        f'({abs(d_auc[0]) / d_auc[1]:.1f} s.e.); selection {t1:.3f} s with '
        f'1 partition, {t10:.3f} s with 10 (rounds 1+, mean; ratio '
        f'{t1 / t10:.2f}x).')
  return lines, text


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--workdir', default='/tmp/al_cm_partitions')
  parser.add_argument('--seeds', default='0-9')
  parser.add_argument('--out', default=os.path.join(
      ROOT, 'experiments', 'results', 'cm_partitions_mnist5k'))
  args = parser.parse_args()
  from absl import logging
  logging.set_verbosity(logging.WARNING)
  from al_jax import report
  from al_jax.loops import active

  config = load_config(cm_large_batch._seeds(args.seeds))  # pylint: disable=protected-access
  t0 = time.time()
  summary = active.run(config, args.workdir)
  wall = time.time() - t0
  summary = {n: summary[n] for n in config.al.strategies}
  raw = cm_mnist5k.per_seed(config, args.workdir)
  os.makedirs(args.out, exist_ok=True)
  report.plot(summary, cm_mnist5k.METRIC,
              os.path.join(args.out, 'learning_curve.png'),
              title='MNIST-5k: BADGE / CoreSet on 1 vs 10 partitions')
  lines, text = compare(raw)
  md = ['# Appendix A.1 analogue: 1 vs 10 partitions on MNIST-5k', '',
        f'`python experiments/cm_partitions_mnist5k.py --seeds={args.seeds}`;'
        f' this invocation took {wall / 60:.1f} min (finished runs in the '
        'work dir are reused); the metrics record '
        f'{cm_mnist5k.compute_seconds(config, args.workdir) / 60:.1f} min of '
        'training and selection.', '',
        report.table(summary, cm_mnist5k.METRIC), '',
        '![learning curve](learning_curve.png)', '',
        '## Paired differences per round', ''] + lines + [
            '', '## Verdict', ''] + text + [
                '', 'Selection times are wall-clock on a shared 2-core '
                'machine; compare them within this run only.']
  with open(os.path.join(args.out, 'results.md'), 'w') as f:
    f.write('\n'.join(md) + '\n')
  with open(os.path.join(args.out, 'summary.json'), 'w') as f:
    json.dump({'metric': cm_mnist5k.METRIC, 'seeds': list(config.seeds),
               'strategies': raw}, f, indent=1)
  print('\n'.join(text + [f'Wall time {wall / 60:.1f} min.']))


if __name__ == '__main__':
  main()
