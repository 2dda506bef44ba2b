"""Cluster-Margin vs Margin, BADGE, CoreSet and Random on MNIST-5k (paper 000).

Runs the five strategies x seeds of the embedded config configs/mnist5k_cm.py
(pool 4,000; 100 random seed labels, then 5 rounds of 100) and writes to --out:
results.md (test accuracy vs labels, mean ± s.e.; paired per-round
differences; a computed verdict on Cluster-Margin >= Margin >= Random; the
selection times), learning_curve.png and summary.json (per-seed accuracies).
The committed results in experiments/results/cm_mnist5k/ come from

  python experiments/cm_mnist5k.py

Runs are resumable: rerunning with the same --workdir reuses finished runs.
"""

import argparse
import json
import os
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METRIC = 'test_accuracy'
CM, MARGIN, RANDOM = 'cluster_margin', 'margin', 'random'


def load_config(seeds):
  from al_jax import config_check  # pylint: disable=g-import-not-at-top
  config = config_check.load_file(
      os.path.join(ROOT, 'configs', 'mnist5k_cm.py'))
  config.seeds = tuple(seeds)
  return config


def per_seed(config, workdir, metric=METRIC):
  """{strategy: {'labels': [R], 'acc': [S, R], 'sel': [S, R - 1]}}: `acc`
  holds `metric`."""
  from al_jax import report  # pylint: disable=g-import-not-at-top
  out = {}
  for name in config.al.strategies:
    rows = [report.read_metrics(os.path.join(workdir, name, f'seed_{s}'))
            for s in config.seeds]
    n = min(len(r) for r in rows)
    labels = [row['labels'] for row in rows[0][:n]]
    assert all([row['labels'] for row in r[:n]] == labels for r in rows)
    out[name] = {
        'labels': labels,
        'acc': [[row[metric] for row in r[:n]] for r in rows],
        'sel': [[row['selection_seconds'] for row in r[:n]
                 if row['selection_seconds'] is not None] for r in rows]}
  return out


def compute_seconds(config, workdir):
  from al_jax import report  # pylint: disable=g-import-not-at-top
  return sum(row['train_seconds'] + (row['selection_seconds'] or 0)
             for n in config.al.strategies for s in config.seeds
             for row in report.read_metrics(
                 os.path.join(workdir, n, f'seed_{s}')))


def _diff(raw, a, b, cols):
  """Paired over seeds (same seed set): mean and s.e. of a - b."""
  d = np.asarray(raw[a]['acc'])[:, cols] - np.asarray(raw[b]['acc'])[:, cols]
  if d.ndim == 2:
    d = d.mean(1)  # Area under the curve: per-seed mean over rounds first.
  se = d.std(0, ddof=1) / np.sqrt(len(d)) if len(d) > 1 else 0 * d.mean(0)
  return d.mean(0), se


def _fmt_diff(m, se):
  z = abs(m) / se if se > 0 else float('inf')
  return f'{m:+.4f} ± {se:.4f} ({z:.1f} s.e.)'


def verdict(raw):
  """Markdown lines: per-round pairwise table, AUC, verdict (all computed)."""
  labels = raw[RANDOM]['labels']
  rounds = range(1, len(labels))  # After the seed round (same for all).
  mean = {n: np.mean(raw[n]['acc'], 0) for n in raw}
  lines = ['## Cluster-Margin vs Margin vs Random, per round', '',
           'Differences are paired over seeds (every strategy of a seed '
           'starts from the same seed set): mean ± s.e. of the per-seed '
           'difference, and |mean| / s.e.', '',
           '| labels | CM − Margin | Margin − Random | CM ≥ Margin ≥ Random |',
           '|---|---|---|---|']
  held = []
  for r in rounds:
    ok = mean[CM][r] >= mean[MARGIN][r] >= mean[RANDOM][r]
    held.append(ok)
    lines.append(f'| {labels[r]} | {_fmt_diff(*_diff(raw, CM, MARGIN, r))} | '
                 f'{_fmt_diff(*_diff(raw, MARGIN, RANDOM, r))} | '
                 f'{"yes" if ok else "no"} |')
  cols = list(rounds)
  auc = {}
  for n in raw:
    a = np.asarray(raw[n]['acc'])[:, cols].mean(1)
    auc[n] = (a.mean(), a.std(ddof=1) / np.sqrt(len(a)) if len(a) > 1 else 0.)
  lines += ['', f'## Area under the learning curve (mean test accuracy over '
            f'rounds 1–{cols[-1]}, {labels[1]}–{labels[-1]} labels)', '',
            '| strategy | AUC (mean ± s.e.) |', '|---|---|']
  lines += [f'| {n} | {auc[n][0]:.4f} ± {auc[n][1]:.4f} |'
            for n in sorted(auc, key=lambda n: -auc[n][0])]
  auc_ok = auc[CM][0] >= auc[MARGIN][0] >= auc[RANDOM][0]
  d_cm, d_mr = _diff(raw, CM, MARGIN, cols), _diff(raw, MARGIN, RANDOM, cols)
  failed = [str(labels[r]) for r, ok in zip(rounds, held) if not ok]
  n_seeds = len(raw[CM]['acc'])
  links = [sum(mean[a][r] >= mean[b][r] for r in rounds)
           for a, b in ((CM, MARGIN), (MARGIN, RANDOM))]
  text = [
      f'Cluster-Margin ≥ Margin ≥ Random (means over {n_seeds} seeds) held at '
      f'{sum(held)} of {len(held)} label counts after the seed round'
      + (f'; it failed at {", ".join(failed)} labels.' if failed else '.')
      + f' CM ≥ Margin held at {links[0]} of {len(held)}; Margin ≥ Random at '
      f'{links[1]} of {len(held)}.',
      f'On the area under the learning curve it '
      f'{"held" if auc_ok else "did not hold"} (CM '
      f'{"≥" if auc[CM][0] >= auc[MARGIN][0] else "<"} Margin '
      f'{"≥" if auc[MARGIN][0] >= auc[RANDOM][0] else "<"} Random): '
      f'CM − Margin = '
      f'{_fmt_diff(*d_cm)}, Margin − Random = {_fmt_diff(*d_mr)} (paired).',
      _significance('CM vs Margin', *d_cm) + ' '
      + _significance('Margin vs Random', *d_mr),
      f'With {n_seeds} seeds a 2 s.e. gap is weak evidence (the 95% '
      f't-interval is about ±{_t95(n_seeds):.1f} s.e.).']
  return lines + ['', '## Verdict', ''] + text, text


def _t95(n):
  return {2: 12.7, 3: 4.30, 4: 3.18, 5: 2.78}.get(n, 2.0 + 2.5 / max(n, 1))


def _significance(what, m, se):
  z = abs(m) / se if se > 0 else float('inf')
  size = ('within 1 s.e' if z < 1 else 'within 2 s.e' if z < 2
          else 'beyond 2 s.e')
  return f'{what}: the AUC difference is {size}.'


def selection_times(raw):
  """Markdown lines: mean selection seconds per strategy and round."""
  n_sel = len(raw[RANDOM]['sel'][0])
  lines = ['## Selection time (seconds, mean over seeds)', '',
           'Round 0 includes one-time work (strategy init, e.g. '
           'Cluster-Margin\'s HAC, and JIT compilation); growth is judged on '
           'rounds 1 onward: the slope of a least-squares line through the '
           'per-round means, and last / round-1 ratio.', '',
           '| strategy | mean | ' + ' | '.join(f'round {r}'
                                             for r in range(n_sel))
           + ' | slope (s/round) | last / round 1 | grows? |',
           '|---' * (n_sel + 5) + '|']
  grows = {}
  for n in raw:
    t = np.mean(raw[n]['sel'], 0)
    later = t[1:]
    slope = np.polyfit(np.arange(len(later)), later, 1)[0] if len(later) > 1 \
        else 0.
    ratio = later[-1] / later[0] if len(later) and later[0] > 0 else 1.
    # Grows: a positive trend of > 10% of round 1's time per round.
    grows[n] = bool(len(later) > 1 and slope > 0.1 * later[0])
    lines.append(f'| {n} | {t.mean():.3f} | '
                 + ' | '.join(f'{x:.3f}' for x in t)
                 + f' | {slope:+.4f} | {ratio:.2f} | '
                 f'{"yes" if grows[n] else "no"} |')
  g = [n for n in grows if grows[n]]
  text = ('Selection time grows with rounds for: ' + ', '.join(g) + '.'
          if g else 'Selection time does not grow with rounds for any '
          'strategy (slope after round 0 below 10% of round 1 per round).')
  return lines + ['', text], text


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--workdir', default='/tmp/al_cm_mnist5k')
  parser.add_argument('--seeds', default='0,1,2')
  parser.add_argument('--out', default=os.path.join(ROOT, 'experiments',
                                                    'results', 'cm_mnist5k'))
  args = parser.parse_args()
  from absl import logging  # pylint: disable=g-import-not-at-top
  logging.set_verbosity(logging.WARNING)  # Orbax logs each save at INFO.
  from al_jax import report  # pylint: disable=g-import-not-at-top
  from al_jax.loops import active  # pylint: disable=g-import-not-at-top

  config = load_config(int(s) for s in args.seeds.split(','))
  t0 = time.time()
  summary = active.run(config, args.workdir)
  wall = time.time() - t0
  summary = {n: summary[n] for n in config.al.strategies}
  if any(s['seeds'] != len(config.seeds) for s in summary.values()):
    raise SystemExit(f'{args.workdir} holds runs of other seeds than '
                     f'{config.seeds}: use a fresh --workdir.')
  raw = per_seed(config, args.workdir)

  os.makedirs(args.out, exist_ok=True)
  report.plot(summary, METRIC, os.path.join(args.out, 'learning_curve.png'),
              title='MNIST-5k, CNN: 100 seed + 5 x 100 labels')
  cmp_lines, text = verdict(raw)
  sel_lines, sel_text = selection_times(raw)
  md = ['# Cluster-Margin on MNIST-5k (configs/mnist5k_cm.py)', '',
        f'`python experiments/cm_mnist5k.py --seeds={args.seeds}`; '
        f'this invocation took {wall / 60:.1f} min (finished runs in the work '
        'dir are reused, not rerun); the metrics record '
        f'{compute_seconds(config, args.workdir) / 60:.1f} min of training '
        'and selection in all.', '', report.table(summary, METRIC), '',
        '![learning curve](learning_curve.png)', ''] + cmp_lines + [''] \
      + sel_lines
  with open(os.path.join(args.out, 'results.md'), 'w') as f:
    f.write('\n'.join(md) + '\n')
  with open(os.path.join(args.out, 'summary.json'), 'w') as f:
    json.dump({'metric': METRIC, 'seeds': list(config.seeds),
               'strategies': raw}, f, indent=1)
  print('\n'.join(['', 'Verdict:'] + text + [sel_text,
                                             f'Wall time {wall / 60:.1f} min.']))


if __name__ == '__main__':
  main()
