"""Cluster-Margin where paper 000 says it wins: large batches (k_m = 10 k_t-ish).

Paper 000's claim is about large batches: k_m = 10 k_t and eps for an average
cluster size >= 10 (section 3.2). With small batches and k_m = 1.25 k_t the
candidates fall in as many clusters as there are candidates and
Cluster-Margin is "a random k_t of Margin's k_m" (audit r4). Two settings,
each with k_m at most half of the unlabeled pool in every round (asserted):

  --setting=synthetic  the synthetic multi-label pool of openimages_cm.py
                       grown to 50,000 pool images; k_t = 1,000 pairs,
                       k_m = 10 k_t images, target cluster size 10 (multi-
                       round HAC); pooled AP.
  --setting=mnist      MNIST-5k (configs/mnist5k_cm.py), 200 seed labels and
                       5 rounds of 200, k_m in {2.5, 5} k_t, target cluster
                       size 10 (exact HAC); test accuracy.

Reports per strategy the learning curve (mean ± s.e.), the paired AUC
differences CM − Margin and Margin − Random (± s.e., over seeds: every
strategy of a seed starts from the same seed set), whether CM > Margin >
Random held at 2 s.e., and the analogue of the paper's Table 2: the labels
Cluster-Margin needs to reach each baseline's best mean score (linear
interpolation of CM's mean curve), as a percentage of the labels the
baseline used. The committed results come from

  python experiments/cm_large_batch.py --setting=mnist --seeds=0-9
  python experiments/cm_large_batch.py --setting=synthetic --seeds=0-9
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
import cm_mnist5k

MARGIN, RANDOM = 'margin', 'random'


def _seeds(text):
  lo, _, hi = text.partition('-')
  return tuple(range(int(lo), int(hi) + 1)) if hi else tuple(
      int(s) for s in text.split(','))


def mnist_config(seeds):
  from al_jax import config_check, strategies
  config = config_check.load_file(os.path.join(ROOT, 'configs',
                                               'mnist5k_cm.py'))
  config.seeds = seeds
  config.al.seed_examples = 200
  config.al.budget_examples = 200
  config.al.rounds = 5
  del config.al.cluster_margin
  cms = []
  for factor in (2.5, 5.0):
    name = f'cm_km{factor:g}'.replace('.', '_')
    config.al[name] = strategies.options(
        'cluster_margin', margin_factor=factor, target_cluster_size=10.0,
        hac='exact')
    cms.append(name)
  config.al.strategies = (RANDOM, MARGIN) + tuple(cms)
  return config, cms, 'test_accuracy'


def synthetic_config(seeds):
  from al_jax import config_check
  config = config_check.load_file(
      os.path.join(ROOT, 'configs', 'openimages_cm.py'), 'synthetic')
  config.seeds = seeds
  config.input.num_examples = 62_500  # 50,000 pool images at 20% test.
  config.al.budget_examples = 1000
  config.al.strategies = (RANDOM, MARGIN, 'cluster_margin')
  return config, ['cluster_margin'], 'test_pooled_ap'


SETTINGS = {'mnist': mnist_config, 'synthetic': synthetic_config}


def check_km_at_most_half(config, cms):
  """k_m <= half the unlabeled pool at every selection. Multi-label: pool
  items are images with an unlabeled pair; each bought pair removes at most
  one image, so images - bought is a lower bound on them."""
  from al_jax.input import sources
  ds = sources.load(config.input)
  items = (int(np.sum((ds.y_train >= 0).any(1))) if ds.multilabel
           else len(ds.y_train))
  al = config.al
  for name in cms:
    k_m = al[name].margin_factor * al.budget_examples
    for r in range(al.rounds):
      unlabeled = items - al.seed_examples - r * al.budget_examples
      assert k_m <= unlabeled / 2, (name, r, k_m, unlabeled)
  return items


def crossing(labels, curve, target):
  """Labels at which the piecewise-linear `curve` first reaches `target`,
  or None."""
  for i, v in enumerate(curve):
    if v >= target:
      if i == 0:
        return float(labels[0])
      a, b = curve[i - 1], curve[i]
      return float(labels[i - 1] + (target - a) / (b - a)
                   * (labels[i] - labels[i - 1]))
  return None


def auc_diff(raw, a, b):
  """Paired mean ± s.e. of the per-seed difference of mean score over rounds
  1.. (after the common seed round)."""
  d = (np.asarray(raw[a]['acc'])[:, 1:].mean(1)
       - np.asarray(raw[b]['acc'])[:, 1:].mean(1))
  return d.mean(), d.std(ddof=1) / np.sqrt(len(d))


def cluster_spread(workdir, config, cms):
  """Markdown lines: how many distinct clusters of C_X (each CM entry's own
  HAC, strategy_state.pkl) the k_t picks of a round fall in, for the CM entry
  and for Margin's picks under the same clustering (mean over seeds and
  rounds). Multi-label runs count the images of the picked pairs."""
  import pickle
  from al_jax.input import ledger as ledger_lib
  from al_jax.input import pairs as pairs_lib
  from al_jax.input import sources
  ds = sources.load(config.input)
  image = (pairs_lib.PairPool.from_labels(ds.y_train).image if ds.multilabel
           else None)
  lines = ['| Cluster-Margin entry | clusters in C_X (mean size) | distinct '
           'clusters among CM\'s picks | among Margin\'s picks |',
           '|---|---|---|---|']
  for cm in cms:
    spread = {cm: [], MARGIN: []}
    sizes = []
    for seed in config.seeds:
      run = lambda n: os.path.join(workdir, n, f'seed_{seed}')
      with open(os.path.join(run(cm), 'strategy_state.pkl'), 'rb') as f:
        clusters = pickle.load(f)
      sizes.append(len(clusters) / (clusters.max() + 1))
      for name in spread:
        led = ledger_lib.Ledger.load(os.path.join(run(name), 'ledger.npz'))
        for r in range(1, config.al.rounds + 1):
          items = led.indices[led.rounds == r]
          items = items if image is None else np.unique(image[items])
          spread[name].append(len(np.unique(clusters[items])) / len(items))
    lines.append(f'| {cm} | {np.mean(sizes):.2f} | '
                 f'{100 * np.mean(spread[cm]):.1f}% | '
                 f'{100 * np.mean(spread[MARGIN]):.1f}% |')
  return lines


def analyse(raw, cms, metric):
  """Markdown lines and the verdict text."""
  labels = raw[RANDOM]['labels']
  mean = {n: np.mean(raw[n]['acc'], 0) for n in raw}
  n_seeds = len(raw[RANDOM]['acc'])
  lines = [f'## Area under the curve, paired ({n_seeds} seeds)', '',
           f'AUC = mean {metric} over rounds 1–{len(labels) - 1} '
           f'({labels[1]}–{labels[-1]} labels); differences are paired by '
           'seed.', '',
           '| Cluster-Margin entry | CM − Margin | Margin − Random | '
           'CM > Margin > Random at 2 s.e. |', '|---|---|---|---|']
  text = []
  d_mr = auc_diff(raw, MARGIN, RANDOM)
  for cm in cms:
    d_cm = auc_diff(raw, cm, MARGIN)
    held = d_cm[0] > 2 * d_cm[1] and d_mr[0] > 2 * d_mr[1]
    lines.append(f'| {cm} | {cm_mnist5k._fmt_diff(*d_cm)} | '  # pylint: disable=protected-access
                 f'{cm_mnist5k._fmt_diff(*d_mr)} | '  # pylint: disable=protected-access
                 f'{"yes" if held else "no"} |')
    text.append(
        f'{cm}: CM − Margin AUC {d_cm[0]:+.4f} ± {d_cm[1]:.4f}, Margin − '
        f'Random {d_mr[0]:+.4f} ± {d_mr[1]:.4f}: CM > Margin > Random '
        f'{"held" if held else "did not hold"} at 2 s.e.')
  lines += ['', '## Table 2 analogue: labels Cluster-Margin needs to reach '
            "each baseline's best mean score", '',
            '| Cluster-Margin entry | baseline | best mean (at labels) | '
            'CM reaches it at | % of the baseline\'s labels |',
            '|---|---|---|---|---|']
  for cm in cms:
    for base in (MARGIN, RANDOM):
      best = int(np.argmax(mean[base]))
      at = crossing(labels, mean[cm], mean[base][best])
      pct = (f'{100 * at / labels[best]:.0f}%' if at is not None
             else 'not reached')
      lines.append(f'| {cm} | {base} | {mean[base][best]:.4f} '
                   f'({labels[best]}) | '
                   f'{"—" if at is None else f"{at:.0f}"} | {pct} |')
  return lines, text


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--setting', choices=sorted(SETTINGS), required=True)
  parser.add_argument('--seeds', default='0-9')
  parser.add_argument('--workdir', default=None)
  parser.add_argument('--out', default=None)
  args = parser.parse_args()
  from absl import logging
  logging.set_verbosity(logging.WARNING)
  from al_jax import report
  from al_jax.loops import active

  config, cms, metric = SETTINGS[args.setting](_seeds(args.seeds))
  workdir = args.workdir or f'/tmp/al_cm_large_batch_{args.setting}'
  out = args.out or os.path.join(ROOT, 'experiments', 'results',
                                 f'cm_large_batch_{args.setting}')
  items = check_km_at_most_half(config, cms)
  t0 = time.time()
  summary = active.run(config, workdir)
  wall = time.time() - t0
  summary = {n: summary[n] for n in config.al.strategies}
  raw = cm_mnist5k.per_seed(config, workdir, metric)
  os.makedirs(out, exist_ok=True)
  al = config.al
  report.plot(summary, metric, os.path.join(out, 'learning_curve.png'),
              title=f'{args.setting}: {al.seed_examples} seed + '
              f'{al.rounds} x {al.budget_examples}')
  lines, text = analyse(raw, cms, metric)
  lines += ['', '## How far the clustering spreads the picks', '',
            'Distinct clusters per pick (100% = every pick from its own '
            'cluster; for multi-label runs, per picked image).', ''
            ] + cluster_spread(workdir, config, cms)
  kms = ', '.join(f'{cm}: k_m = {al[cm].margin_factor:g} k_t'
                  for cm in cms)
  md = [f'# Cluster-Margin at large batches: {args.setting}', '',
        f'`python experiments/cm_large_batch.py --setting={args.setting} '
        f'--seeds={args.seeds}`; this invocation took {wall / 60:.1f} min '
        '(finished runs in the work dir are reused); the metrics record '
        f'{cm_mnist5k.compute_seconds(config, workdir) / 60:.1f} min of '
        'training and selection.', '',
        f'Pool: {items} items; seed {al.seed_examples}, {al.rounds} rounds of '
        f'k_t = {al.budget_examples}; {kms}; target cluster size '
        f'{al[cms[0]].target_cluster_size:g}. k_m is at most half the '
        'unlabeled pool in every round (asserted).', '',
        report.table(summary, metric), '',
        '![learning curve](learning_curve.png)', ''] + lines + [
            '', '## Verdict', ''] + text
  with open(os.path.join(out, 'results.md'), 'w') as f:
    f.write('\n'.join(md) + '\n')
  with open(os.path.join(out, 'summary.json'), 'w') as f:
    json.dump({'metric': metric, 'seeds': list(config.seeds),
               'strategies': raw}, f, indent=1)
  print('\n'.join(text + [f'Wall time {wall / 60:.1f} min.']))


if __name__ == '__main__':
  main()
