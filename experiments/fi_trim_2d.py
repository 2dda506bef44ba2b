"""Paper 004 Tables 1–2 and Figs. 1, 9: FI-util vs IV trimming on 2-D data.

  python experiments/fi_trim_2d.py --workdir /tmp/fi_trim_2d \
      --out experiments/results/fi_trim_2d [--only gaussians|chhabra|moons]

Runs the trimming job (configs/trim_2d.py; resumable in --workdir) for
Table 1 (two Gaussians, logistic regression, 30 seeds; again with the
Gaussians placed as Chhabra et al.'s toy set, `:chhabra`) and Table 2 (two
crescents, MLP, 20 seeds), then writes to --out, per data set: the job's
results.md and plot, a table in the paper's form ("# better" = seeds where
FI's test accuracy beats IV's, strictly; mean ± s.d. over seeds) for both
Jacobian scales beside the paper's numbers, and the decision boundaries of
seed 0 after removing b = 20 rows by FI-util and by IV (Figs. 1, 9).
"""

import argparse
import json
import os
import shutil
import sys

import jax
import matplotlib
import numpy as np

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import al_jax  # pylint: disable=g-import-not-at-top,wrong-import-position
from al_jax import config_check  # pylint: disable=g-import-not-at-top,wrong-import-position
from al_jax.influence import tabular  # pylint: disable=g-import-not-at-top,wrong-import-position
from al_jax.input import trim_data  # pylint: disable=g-import-not-at-top,wrong-import-position
from al_jax.loops import trim  # pylint: disable=g-import-not-at-top,wrong-import-position

TABLE1 = {5: (23, '96.22 ± 0.65', '95.77 ± 0.76'),
          10: (28, '96.20 ± 0.65', '94.84 ± 1.07'),
          20: (30, '96.23 ± 0.64', '93.36 ± 2.21')}
PAPER = {  # b: (# better, Acc_FI, Acc_IV) as printed.
    'gaussians': ('Table 1', 30, TABLE1),
    'chhabra': ('Table 1, Gaussians placed as Chhabra et al.\'s toy set', 30,
                TABLE1),
    'moons': ('Table 2', 20, {5: (17, '89.90 ± 2.16', '87.50 ± 2.46'),
                              10: (17, '90.24 ± 2.05', '88.02 ± 2.62'),
                              20: (15, '90.32 ± 1.67', '87.80 ± 2.54')}),
}
FI_ENTRIES = {'fi_util': 'appendix A scale', 'fi_algorithm': 'Algorithm 1 scale'}


def paper_table(workdir: str, which: str) -> str:
  """The paper's table form, for each FI scale, beside the paper."""
  title, seeds, paper = PAPER[which]
  acc_iv = trim.accuracies(workdir, 'iv')
  acc_rand = trim.accuracies(workdir, 'random')
  lines = [f'### {title} ({which}), {len(acc_iv)} seeds (paper: {seeds})', '',
           'Test accuracy (%), mean ± s.d. over seeds; "# better": seeds '
           'where FI-util beats IV (strictly); b = 0 is the untrimmed model.',
           '']
  for entry, scale in FI_ENTRIES.items():
    acc_fi = trim.accuracies(workdir, entry)
    seeds_ = sorted(set(acc_fi) & set(acc_iv))
    lines += [f'FI-util, {scale} (`{entry}`):', '',
              '| b | # better | Acc_FI | Acc_IV | Acc_random | paper # better '
              '| paper Acc_FI | paper Acc_IV |', '|---|---|---|---|---|---|---|---|']
    for b in sorted(acc_fi[seeds_[0]]):
      f = np.array([acc_fi[s][b] for s in seeds_]) * 100
      v = np.array([acc_iv[s][b] for s in seeds_]) * 100
      r = np.array([acc_rand[s][b] for s in seeds_ if s in acc_rand]) * 100
      ms = lambda a: f'{a.mean():.2f} ± {a.std(ddof=1):.2f}'
      p = paper.get(b, ('–', '–', '–'))
      lines.append(f'| {b} | {int(np.sum(f > v))}/{len(seeds_)} | {ms(f)} | '
                   f'{ms(v)} | {ms(r)} | {p[0]}/{seeds} | {p[1]} | {p[2]} |')
    lines.append('')
  return '\n'.join(lines)


def boundaries(config, path: str, b: int = 20, seed: int = 0):
  """Seed 0's data and the decision boundary after removing b rows by FI-util
  and by IV (the removed rows circled)."""
  data = trim_data.load(config.input, seed)
  model = trim.make_model(config.model, 2, data.num_classes)
  wd = float(config.trim.weight_decay)
  init_key = jax.random.fold_in(jax.random.key(seed), 0)
  theta, _ = tabular.fit(model, data.x_train, data.y_train, wd, init_key)
  apply_fn = tabular.apply_function(model)
  lo, hi = data.x_train.min(0) - 0.5, data.x_train.max(0) + 0.5
  gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 200),
                       np.linspace(lo[1], hi[1], 200))
  grid = np.stack([gx.ravel(), gy.ravel()], 1)
  fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
  panels = [('untrimmed', np.zeros(0, np.int64), theta)]
  for entry in ('fi_util', 'iv'):
    removed = al_jax.select(
        entry, b, key=jax.random.key(0), labels=data.y_train,
        apply_fn=apply_fn, params={'params': theta}, inputs=data.x_train,
        weight_decay=wd, validation=(data.x_val, data.y_val),
        **dict(config.trim[entry])).indices
    keep = np.setdiff1d(np.arange(len(data.y_train)), removed)
    th, _ = tabular.fit(model, data.x_train[keep], data.y_train[keep], wd,
                        init_key)
    panels.append((f'{entry}: {b} removed', removed, th))
  for ax, (name, removed, th) in zip(axes, panels):
    z = np.asarray(apply_fn({'params': th}, grid)[0])
    z = (z[:, 1] - z[:, 0]).reshape(gx.shape)
    ax.contourf(gx, gy, z > 0, alpha=0.15, cmap='coolwarm')
    ax.contour(gx, gy, z, levels=[0], colors='k')
    ax.scatter(*data.x_train.T, c=data.y_train, cmap='coolwarm', s=9)
    ax.scatter(*data.x_train[removed].T, s=70, facecolors='none',
               edgecolors='g', linewidths=1.5)
    acc = trim.accuracy(model, th, data.x_test, data.y_test)
    ax.set_title(f'{name}: test acc {acc:.3f}')
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def run_variant(config_file: str, variant, workdir: str, out: str,
                seeds: int | None = None):
  """Runs (or resumes) one config variant in workdir; copies its results.md
  and plot to out; returns the config."""
  config = config_check.load_file(os.path.join(ROOT, 'configs', config_file),
                                  variant)
  if seeds:
    config.seeds = tuple(range(seeds))
  trim.run(config, workdir)
  os.makedirs(out, exist_ok=True)
  for name in ('results.md', 'trim_accuracy.png'):
    shutil.copy(os.path.join(workdir, name), out)
  return config


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--workdir', required=True)
  parser.add_argument('--out', required=True)
  parser.add_argument('--only', choices=tuple(PAPER))
  parser.add_argument('--seeds', type=int, help='fewer seeds (a quick look)')
  args = parser.parse_args()
  for which, arg in (('gaussians', None), ('chhabra', 'chhabra'),
                     ('moons', 'moons')):
    if args.only not in (None, which):
      continue
    workdir = os.path.join(args.workdir, which)
    out = os.path.join(args.out, which)
    config = run_variant('trim_2d.py', arg, workdir, out, args.seeds)
    with open(os.path.join(out, 'paper_table.md'), 'w') as f:
      f.write(paper_table(workdir, which) + '\n')
    boundaries(config, os.path.join(out, 'boundaries.png'))
    print(open(os.path.join(out, 'paper_table.md')).read())
    with open(os.path.join(out, 'config.json'), 'w') as f:
      f.write(json.dumps(config.to_dict(), indent=1, default=str))


if __name__ == '__main__':
  main()
