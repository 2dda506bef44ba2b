"""Paper 002 appendix D.1: BOSS vs CCS (and Random, Diverse) on four moons.

  python experiments/boss_moons.py [--workdir DIR] [--seeds 10]

Runs configs/moons_boss.py through the one-shot subset loop, then writes to
experiments/results/boss_moons/:
  table.md     test accuracy per method and subset size (mean ± s.e. over
               seeds) and BOSS's paired differences to CCS and Random
  subsets.png  the subsets picked for seed 0 (red circles) over the training
               set, with the decision boundary of the model trained on each
               (Figures 10-12); that model is retrained with the loop's own
               key, so it is the model the table scored.
"""

import argparse
import os
import sys

import jax
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import ml_collections
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
# pylint: disable=g-import-not-at-top,wrong-import-position
from al_jax import config_check
from al_jax import models
from al_jax import report
from al_jax import sharding
from al_jax import train
from al_jax.evaluators import accuracy
from al_jax.input import sources
from al_jax.loops import subset as subset_loop

OUT = os.path.join(ROOT, 'experiments', 'results', 'boss_moons')
FIGURE_METHODS = ('ccs', 'diverse', 'boss')


def setup(config):
  ds = sources.load(config.input)
  model = models.from_config(config.model, ds.num_classes)
  return ds, model, sharding.make_mesh()


def full_set_accuracy(config, seeds, ds, model, mesh):
  """[S] test accuracy of the model trained 100 epochs on the full set
  (the paper's reference, 98.25%)."""
  cfg = ml_collections.ConfigDict(config.train.to_dict())
  cfg.steps, cfg.epochs = None, 100
  out = []
  for s in seeds:
    state = train.fit(cfg, model, ds.x_train, ds.y_train,
                      np.arange(len(ds.y_train)), jax.random.key(s), mesh)
    logits, _ = train.predict(state, ds.x_test, mesh, 1000)
    out.append(accuracy.accuracy(logits, ds.y_test))
  return np.array(out)


def figure(config, workdir, path, ds, model, mesh):
  fractions = config.subset.fractions
  lo, hi = ds.x_train.min(0) - 0.5, ds.x_train.max(0) + 0.5
  gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 300),
                       np.linspace(lo[1], hi[1], 150))
  grid = np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32)
  fig, axes = plt.subplots(len(FIGURE_METHODS), len(fractions),
                           figsize=(5 * len(fractions),
                                    2.6 * len(FIGURE_METHODS)))
  for r, entry in enumerate(FIGURE_METHODS):
    rows = report.read_metrics(os.path.join(workdir, entry, 'seed_0'))
    for i, fraction in enumerate(fractions):
      with np.load(os.path.join(workdir, entry, 'seed_0',
                                f'subset_{i}.npz')) as f:
        idx = f['indices']
        w = f['weights'] if len(f['weights']) else None
      state = subset_loop.train_subset(config, ds, model, mesh, idx, w, 0, i)
      logits, _ = train.predict(state, grid, mesh, 1000)
      ax = axes[r, i]
      ax.contourf(gx, gy, logits.argmax(1).reshape(gx.shape),
                  levels=np.arange(ds.num_classes + 1) - 0.5, cmap='Pastel1',
                  alpha=0.8)
      ax.scatter(*ds.x_train.T, c=ds.y_train, cmap='Set1', s=3, alpha=0.35,
                 vmin=0, vmax=8)
      ax.scatter(*ds.x_train[idx].T, s=40, facecolors='none',
                 edgecolors='red', linewidths=1.2)
      ax.set_title(f'{entry} {fraction:.0%} ({len(idx)} points): test acc '
                   f'{rows[i]["test_accuracy"]:.3f}', fontsize=9)
      ax.set_xticks([])
      ax.set_yticks([])
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--workdir', default='/tmp/boss_moons')
  parser.add_argument('--seeds', type=int, default=10)
  args = parser.parse_args()
  config = config_check.load_file(
      os.path.join(ROOT, 'configs', 'moons_boss.py'))
  with config.unlocked():
    config.seeds = tuple(range(args.seeds))
  subset_loop.run(config, args.workdir)
  seconds = subset_loop.compute_seconds(args.workdir)
  fractions, seeds = config.subset.fractions, config.seeds
  data = setup(config)
  full = full_set_accuracy(config, seeds, *data)
  summary = report.summarize(args.workdir, subset_loop.METRIC, x='fraction')
  lines = [f'# Four moons (paper 002 app. D.1), {len(seeds)} seeds',
           '', f'`python experiments/boss_moons.py --seeds {args.seeds}` '
           f'({seconds:.0f} s of training and selection on '
           f'{jax.device_count()} {jax.default_backend()} device(s)).', '',
           report.table(summary, subset_loop.METRIC, x='fraction'), '',
           f'Full training set, 100 epochs: {full.mean():.4f} ± '
           f'{full.std(ddof=1) / np.sqrt(len(full)):.4f}.', '',
           '## BOSS minus baseline, paired by seed (mean ± s.e.; wins/losses)',
           '', report.paired_table(args.workdir, 'boss',
                                   ('ccs', 'random', 'diverse'), seeds,
                                   subset_loop.METRIC, fractions, 'fraction')]
  os.makedirs(OUT, exist_ok=True)
  text = '\n'.join(lines) + '\n'
  with open(os.path.join(OUT, 'table.md'), 'w') as f:
    f.write(text)
  print(text)
  figure(config, args.workdir, os.path.join(OUT, 'subsets.png'), *data)
  print('wrote', OUT)


if __name__ == '__main__':
  main()
