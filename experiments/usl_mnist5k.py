"""Paper 003's label-free comparison on MNIST-5k (or digits): USL against
random, k-means nearest-to-centroid and k-center at 10, 20, 40 and 100
labels, the kNN k of USL swept, and the poster's comparison with active
learning (Margin from a random start, at equal label counts).

  python experiments/usl_mnist5k.py --out experiments/results/usl_mnist5k
  python experiments/usl_mnist5k.py --dataset digits \
      --out experiments/results/usl_digits

Runs the label-free job (`loops.label_free`, resumable in --workdir) with
configs/mnist5k_usl.py (or digits_usl.py), then in the same features:
  * paired differences USL − each method (accuracy of the linear probe,
    classes hit, max − min count per class), over the seeds;
  * Margin active learning with the same probe: a random start of the
    smallest budget, then the lowest-margin pool items up to each next
    budget, one probe per step (seeded like the job);
  * the 10 lowest- and highest-density pool images (USL's density, k = 20).
Writes results.md and the plots to --out.
"""

import argparse
import os
import sys

import jax
import matplotlib
import numpy as np

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from al_jax import config_check  # pylint: disable=g-import-not-at-top,wrong-import-position
from al_jax import report  # pylint: disable=g-import-not-at-top,wrong-import-position
from al_jax import strategies  # pylint: disable=g-import-not-at-top,wrong-import-position
from al_jax.evaluators import linear_probe  # pylint: disable=g-import-not-at-top,wrong-import-position
from al_jax.input import sources  # pylint: disable=g-import-not-at-top,wrong-import-position
from al_jax.kernels import clusters  # pylint: disable=g-import-not-at-top,wrong-import-position
from al_jax.kernels import knn  # pylint: disable=g-import-not-at-top,wrong-import-position
from al_jax.loops import label_free  # pylint: disable=g-import-not-at-top,wrong-import-position

METRICS = ('test_accuracy', 'classes_hit', 'count_spread')
K_SWEEP = (32, 400)


def make_config(args):
  name = 'mnist5k_usl.py' if args.dataset == 'mnist5k' else 'digits_usl.py'
  arg = (f'features={args.features}' if args.dataset == 'mnist5k' else
         ('simclr' if args.features == 'simclr' else None))
  config = config_check.load_file(os.path.join(ROOT, 'configs', name), arg)
  config.seeds = tuple(range(args.seeds))
  config.label_free.budgets = (10, 20, 40, 100)
  entries = []
  for k in K_SWEEP:
    config.label_free[f'usl_k{k}'] = strategies.options('usl', knn_k=k)
    entries.append(f'usl_k{k}')
  config.label_free.methods = tuple(config.label_free.methods) + tuple(
      entries)
  if args.quick:
    config.seeds = (0, 1)
    config.label_free.budgets = (10, 40)
  return config


def margin_al(config, ds, feats) -> dict:
  """{seed: [accuracy at each budget]} of Margin AL with the job's probe."""
  budgets = [int(b) for b in config.label_free.budgets]
  probe = dict(config.label_free.get('probe') or {})
  out = {}
  for seed in config.seeds:
    key = jax.random.key(int(seed))
    first = np.asarray(jax.random.choice(
        jax.random.fold_in(jax.random.fold_in(key, 4), 0), len(ds.y_train),
        (budgets[0],), replace=False))
    labeled, accs, fitted = list(first), [], None
    for i, m in enumerate(budgets):
      if len(labeled) < m:  # Margin picks up to m with the last probe.
        logits = np.asarray(linear_probe.logits(fitted, feats[0]))
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        top2 = np.sort(p, 1)[:, -2:]
        margin = top2[:, 1] - top2[:, 0]
        margin[labeled] = np.inf
        labeled += list(np.argsort(margin, kind='stable')[:m - len(labeled)])
      idx = np.array(labeled)
      fitted = linear_probe.fit(
          feats[0][idx], ds.y_train[idx], ds.num_classes,
          jax.random.fold_in(jax.random.fold_in(key, 3), i), **probe)
      accs.append(linear_probe.accuracy(fitted, feats[1], ds.y_test))
    out[int(seed)] = accs
  return out


def paired(workdir, a, b, seeds, metric, budgets) -> list[str]:
  cells = []
  for i, (mean, se, wins, losses) in enumerate(report.paired_differences(
      workdir, a, b, seeds, metric)):
    cells.append(f'{mean:+.4f} ± {se:.4f} ({wins}/{losses})')
  return cells[:len(budgets)]


def density_figure(ds, feats, path: str):
  x = clusters.l2_normalized(feats[0])
  density = knn.knn_density(x, 20)[0]
  order = np.argsort(density, kind='stable')
  picks = [('lowest density', order[:10]), ('highest density', order[-10:])]
  fig, axes = plt.subplots(2, 10, figsize=(12, 3))
  for row, (title, idx) in enumerate(picks):
    for ax, i in zip(axes[row], idx):
      ax.imshow(np.squeeze(ds.x_train[i]), cmap='gray')
      ax.set_title(f'{ds.y_train[i]}: {density[i]:.3g}', fontsize=7)
      ax.axis('off')
    axes[row][0].text(-0.5, 0.5, title, transform=axes[row][0].transAxes,
                      ha='right', va='center', fontsize=8)
  fig.suptitle('USL density 1/D̄ (k = 20, L2-normalised features); '
               'title: label: density')
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)
  return density, order


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--dataset', default='mnist5k',
                      choices=('mnist5k', 'digits'))
  parser.add_argument('--features', default='simclr',
                      choices=('simclr', 'pca', 'pixels'))
  parser.add_argument('--seeds', type=int, default=10)
  parser.add_argument('--workdir', default=None)
  parser.add_argument('--out', default=None)
  parser.add_argument('--quick', action='store_true')
  args = parser.parse_args()
  tag = f'usl_{args.dataset}_{args.features}' + ('_quick' if args.quick
                                                  else '')
  workdir = args.workdir or os.path.join('/tmp', tag)
  out = args.out or workdir
  os.makedirs(out, exist_ok=True)
  config = make_config(args)
  label_free.run(config, workdir)
  ds = sources.load(config.input)
  with np.load(os.path.join(workdir, 'features', 'features.npz')) as z:
    feats = z['train'], z['test']
  budgets = [int(b) for b in config.label_free.budgets]
  seeds = [int(s) for s in config.seeds]
  methods = list(config.label_free.methods)

  lines = [f'# USL on {args.dataset} ({args.features} features)', '',
           f'`python experiments/usl_mnist5k.py --dataset {args.dataset} '
           f'--features {args.features} --seeds {args.seeds}'
           + (' --quick' if args.quick else '') + '`', '',
           f'Pool {len(ds.y_train)}, test {len(ds.y_test)}; linear probe on '
           'frozen features; mean ± s.e. over seeds.', '']
  for metric in METRICS:
    lines += [report.table(report.summarize(workdir, metric), metric), '']
  others = [m for m in methods if m != 'usl']
  for metric in METRICS:
    lines += [f'Paired by seed, usl − other, {metric} (wins/losses):', '',
              '| labels | ' + ' | '.join(others) + ' |',
              '|---' * (len(others) + 1) + '|']
    cols = {b: paired(workdir, 'usl', b, seeds, metric, budgets)
            for b in others}
    for i, m in enumerate(budgets):
      lines.append(f'| {m} | ' + ' | '.join(cols[b][i] for b in others) +
                   ' |')
    lines.append('')

  al = margin_al(config, ds, feats)
  usl_rows = {s: label_free_rows(workdir, 'usl', s) for s in seeds}
  lines += ['Margin active learning (same probe; random start of '
            f'{budgets[0]}, then lowest-margin picks) vs USL at equal label '
            'counts:', '', '| labels | margin AL | usl | usl − margin AL '
            '(wins/losses) |', '|---|---|---|---|']
  for i, m in enumerate(budgets):
    a = np.array([al[s][i] for s in seeds])
    u = np.array([usl_rows[s][i]['test_accuracy'] for s in seeds])
    d = u - a
    se = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else 0.
    lines.append(f'| {m} | {a.mean():.4f} | {u.mean():.4f} | '
                 f'{d.mean():+.4f} ± {se:.4f} ({(d > 0).sum()}/'
                 f'{(d < 0).sum()}) |')
  density, order = density_figure(ds, feats,
                                  os.path.join(out, 'density_extremes.png'))
  lines += ['', 'Density (k = 20): labels of the 10 lowest-density pool '
            f'images {ds.y_train[order[:10]].tolist()}, of the 10 highest '
            f'{ds.y_train[order[-10:]].tolist()} (density_extremes.png).']
  report.plot(report.summarize(workdir, 'test_accuracy'), 'test_accuracy',
              os.path.join(out, 'label_free_accuracy.png'),
              f'{args.dataset}: {args.features} features, linear probe')
  report.plot(report.summarize(workdir, 'classes_hit'), 'classes_hit',
              os.path.join(out, 'classes_hit.png'),
              f'{args.dataset}: classes hit')
  text = '\n'.join(lines) + '\n'
  print(text)
  with open(os.path.join(out, 'results.md'), 'w') as f:
    f.write(text)


def label_free_rows(workdir, entry, seed):
  return report.read_metrics(os.path.join(workdir, entry, f'seed_{seed}'))


if __name__ == '__main__':
  main()
