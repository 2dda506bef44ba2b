"""One MNIST-5k FI-active round at Table 5's largest size, in one fresh
process (issue: ≤ 30 s on this machine including compilation): 480 labelled
images, 420 candidates, FI on the last layer of the CNN of Table 6 (256 →
10: p = 2,570), exact and with paper 004's approximations (Table 8: K-FAC,
subsampling, KFSVD), beside BALD (T = 20 MC-dropout passes) and random.

  python experiments/bench_fi_active.py [--out experiments/results/bench_fi_active.md]

The CNN trains on the 480 labels first (Adam 1e-3, 10 epochs: not timed).
Times per repeat (median of the rest; the first includes compilation).
Memory-stream bound for reading the 420 × 480 × 10 float64 projections
once at ~30 GB/s is printed beside them.
"""

import argparse
import os
import sys
import time

import jax
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from al_jax import config_check  # pylint: disable=g-import-not-at-top,wrong-import-position
from al_jax import models  # pylint: disable=g-import-not-at-top,wrong-import-position
from al_jax import sharding  # pylint: disable=g-import-not-at-top,wrong-import-position
from al_jax import strategies  # pylint: disable=g-import-not-at-top,wrong-import-position
from al_jax import train  # pylint: disable=g-import-not-at-top,wrong-import-position
from al_jax.input import sources  # pylint: disable=g-import-not-at-top,wrong-import-position
from al_jax.strategies import base  # pylint: disable=g-import-not-at-top,wrong-import-position

BANDWIDTH = 30e9
METHODS = (  # (label, method, options): Table 8's exact vs approximations.
    ('fi_active (exact)', 'fi_active', {}),
    ('fi_active K-FAC', 'fi_active', dict(curvature='kfac')),
    ('fi_active K-FAC + subsample 0.2', 'fi_active',
     dict(curvature='kfac', subsample=0.2)),
    ('fi_active KFSVD (K-FAC + rank-10 SVD of C)', 'fi_active',
     dict(curvature='kfac', svd_rank=10)),
    ('bald (MC dropout, T = 20)', 'bald', {}),
    ('random', 'random', {}),
)


def setup(n_labelled: int, n_candidates: int, epochs: int = 10, seed: int = 0):
  """(config, data set, Context): the CNN of Table 6 trained on n_labelled
  random MNIST-5k images (Adam 1e-3, `epochs`), n_candidates others."""
  config = config_check.load_file(os.path.join(ROOT, 'configs',
                                               'mnist5k_fi_active.py'))
  config.train.epochs = epochs
  ds = sources.load(config.input)
  order = np.random.default_rng(seed).permutation(len(ds.y_train))
  labelled = np.sort(order[:n_labelled])
  candidates = np.sort(order[n_labelled:n_labelled + n_candidates])
  mesh = sharding.make_mesh()
  known = np.full(len(ds.y_train), -1, ds.y_train.dtype)
  known[labelled] = ds.y_train[labelled]
  state = train.fit(config.train, models.get_model('cnn', ds.num_classes),
                    ds.x_train, known, labelled, jax.random.key(seed), mesh)
  chosen = np.zeros(len(ds.y_train), bool)
  chosen[labelled] = True
  cand = np.zeros(len(ds.y_train), bool)
  cand[candidates] = True
  ctx = base.Context(
      cand, chosen=chosen, labels=known, num_classes=ds.num_classes,
      model=lambda: base.Model(
          state.apply_fn, {'params': state.params,
                           'batch_stats': state.batch_stats},
          lambda idx: ds.x_train[idx], config.train.weight_decay),
      mesh=mesh)
  return config, ds, ctx


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--labelled', type=int, default=480)
  parser.add_argument('--candidates', type=int, default=420)
  parser.add_argument('--repeats', type=int, default=3)
  parser.add_argument('--out')
  args = parser.parse_args()
  _, ds, ctx = setup(args.labelled, args.candidates)
  lines = [f'MNIST-5k, CNN of Table 6: {args.labelled} labelled, '
           f'{args.candidates} candidates, batch 30; '
           f'{jax.device_count()} {jax.devices()[0].platform} device(s).', '',
           '| method | first call (s, with compile) | median of the rest (s) '
           '| notes |', '|---|---|---|---|']
  for name, method, options in METHODS:
    strategy = strategies.get(method, None, 'bench', **options)
    times, notes = [], ()
    for r in range(args.repeats):
      t = time.perf_counter()
      sel, _ = strategy.select(strategy.init(ctx), ctx, 30,
                               jax.random.key(r))
      times.append(time.perf_counter() - t)
      notes = sel.notes
    lines.append(f'| {name} | {times[0]:.2f} | {np.median(times[1:]):.2f} | '
                 f'{"; ".join(notes)} |')
  bound = args.candidates * args.labelled * ds.num_classes * 8 / BANDWIDTH
  lines += ['', f'Stream bound of the [U, n, K] float64 projections: '
            f'{bound * 1e3:.2f} ms.']
  text = '\n'.join(lines)
  print(text)
  if args.out:
    with open(args.out, 'w') as f:
      f.write(text + '\n')


if __name__ == '__main__':
  main()
