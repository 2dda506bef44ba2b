"""Paper 002's label-variability figures (2, 7, 8, 9) on the four moons.

  python experiments/boss_moons_variability.py [--workdir DIR] [--seed 0]

On the initial run of configs/moons_boss.py (seed 0; `loops.initial`):
  Fig. 2 / 7  EL2N at epoch 10; the label variability of each point j,
              mean_{i ∈ N_j} ||y_i − y_j|| over a 10-sample neighbourhood
              N_j (10 points drawn at random from j's 20 nearest in the input
              plane: three draws, as Fig. 7 (c)-(d) re-draw N_j), and the
              mean feature distance ||x_i − x_j|| over N_j (penultimate
              features of the epoch-10 model). Theorem 2 says EL2N tracks
              the label variability near the boundary: we report their
              Spearman correlation, overall and on the hardest 10%.
  Fig. 8      1(y_i ≠ y_j(i)), j(i) the most similar subset member (Sim of
              BOSS's objective), for a diverse subset (BOSS with alpha = 0)
              and two biased ones (the hardest and the easiest by EL2N), 3%.
  Fig. 9      the two terms of the balanced core-set bound (Eq. 1),
              Σ_i ||x_i − x_j(i)|| and Σ_i ||y_i − y_j(i)||, as the subset
              grows, for picks in order of label variability (hardest
              first) and in facility-location (diversity) order.
Writes experiments/results/boss_moons/variability.png and variability.md.
"""

import argparse
import os
import sys

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np
from scipy import stats

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
# pylint: disable=g-import-not-at-top,wrong-import-position
from al_jax import config_check
from al_jax import models
from al_jax import sharding
from al_jax.input import sources
from al_jax.kernels import facility_location as fl
from al_jax.loops import initial

OUT = os.path.join(ROOT, 'experiments', 'results', 'boss_moons')
NEIGHBOURS, POOL_OF = 10, 20


def neighbourhoods(x, rng, draws=3):
  """[draws, N, 10] random 10 of each point's 20 nearest (itself excluded)."""
  d = ((x[:, None] - x[None]) ** 2).sum(-1)
  np.fill_diagonal(d, np.inf)
  near = np.argsort(d, 1)[:, :POOL_OF]
  return np.stack([np.take_along_axis(
      near, np.argsort(rng.random(near.shape), 1)[:, :NEIGHBOURS], 1)
                   for _ in range(draws)])


def nearest_member(sim, subset):
  """[N] the subset member most similar to each point."""
  return np.asarray(subset)[np.argmax(sim[:, subset], 1)]


def bound_terms(feat, onehot, sim, order, sizes):
  """([len(sizes)] feature term, label term) of the first k of `order`."""
  f, l = [], []
  for k in sizes:
    j = nearest_member(sim, order[:k])
    f.append(np.linalg.norm(feat - feat[j], axis=1).sum())
    l.append(np.linalg.norm(onehot - onehot[j], axis=1).sum())
  return np.array(f), np.array(l)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--workdir', default='/tmp/boss_moons_variability')
  parser.add_argument('--seed', type=int, default=0)
  args = parser.parse_args()
  config = config_check.load_file(os.path.join(ROOT, 'configs',
                                               'moons_boss.py'))
  ds = sources.load(config.input)
  model = models.from_config(config.model, ds.num_classes)
  ctx = initial.initial_model(
      config, ds, model, sharding.make_mesh(), args.seed,
      os.path.join(args.workdir, 'initial', f'seed_{args.seed}'))
  x, y = ds.x_train, ds.y_train
  el2n = np.asarray(ctx.scores('el2n'))
  feat = np.asarray(ctx.embeddings())
  onehot = np.eye(ds.num_classes)[y]
  rng = np.random.default_rng(args.seed)
  hoods = neighbourhoods(x, rng)
  variability = (y[hoods] != y[None, :, None]).mean(-1) * np.sqrt(2)
  feat_dist = np.linalg.norm(feat[hoods[0]] - feat[:, None], axis=-1).mean(1)
  hard = el2n >= np.quantile(el2n, 0.9)
  rho = [stats.spearmanr(el2n, v)[0] for v in variability]
  rho_hard = [stats.spearmanr(el2n[hard], v[hard])[0] for v in variability]
  rho_feat = stats.spearmanr(el2n, feat_dist)[0]

  unit = feat / np.maximum(np.linalg.norm(feat, axis=1, keepdims=True),
                          1e-12)
  sim = 0.5 + 0.5 * unit @ unit.T  # BOSS's Sim (`facility_location`).
  k = int(round(0.03 * len(y)))
  by_el2n = np.argsort(-el2n, kind='stable')
  # Diversity order: plain facility location, pick by pick.
  diverse = np.asarray(fl.facility_location(feat, len(y) // 4).indices)
  subsets = {'diverse (alpha = 0)': diverse[:k], 'hardest': by_el2n[:k],
             'easiest': by_el2n[::-1][:k]}
  mismatch = {n: y != y[nearest_member(sim, s)] for n, s in subsets.items()}
  sizes = np.unique(np.geomspace(4, len(y) // 4, 12).astype(int))
  by_var = np.argsort(-variability[0], kind='stable')
  terms = {'label variability first': bound_terms(feat, onehot, sim, by_var,
                                                   sizes),
           'diversity first': bound_terms(feat, onehot, sim, diverse, sizes)}

  fig, ax = plt.subplots(3, 4, figsize=(17, 11))
  panels = [('EL2N, epoch 10 (Fig. 2a)', el2n),
            ('label variability (Fig. 2b)', variability[0]),
            ('label variability, re-drawn N_j (Fig. 7c)', variability[1]),
            ('label variability, re-drawn N_j (Fig. 7d)', variability[2]),
            ('feature distance over N_j (Fig. 7b)', feat_dist)]
  for a, (title, v) in zip(ax.flat[:5], panels):
    a.scatter(*x.T, c=v, cmap='viridis', s=4)
    a.set_title(title, fontsize=9)
  for a, (name, miss) in zip(ax.flat[5:8], mismatch.items()):
    a.scatter(*x.T, c=miss, cmap='coolwarm', s=4, vmin=0, vmax=1)
    a.scatter(*x[subsets[name]].T, marker='^', c='red', s=25)
    a.set_title(f'Fig. 8: 1(y_i != y_nearest in S), {name}, {k} points\n'
                f'mismatched: {miss.mean():.1%}', fontsize=9)
  for col, (name, (f, l)) in enumerate(terms.items()):
    a = ax.flat[8 + 2 * col]
    a.plot(sizes, f / f[0], 'o-', label='feature term')
    a.plot(sizes, l / max(l[0], 1e-12), 's-', label='label term')
    a.set_xscale('log')
    a.set_title(f'Fig. 9: bound terms, {name}', fontsize=9)
    a.set_xlabel('subset size')
    a.legend(fontsize=8)
    order = by_var if col == 0 else diverse
    b = ax.flat[9 + 2 * col]
    b.scatter(*x.T, c=y, cmap='Set1', s=3, alpha=0.3, vmin=0, vmax=8)
    b.scatter(*x[order[:16]].T, marker='^', c='black', s=30)
    b.set_title(f'Fig. 9: first 16 picks, {name}', fontsize=9)
  for a in ax.flat:
    if not a.get_xlabel():
      a.set_xticks([])
      a.set_yticks([])
  fig.tight_layout()
  os.makedirs(OUT, exist_ok=True)
  fig.savefig(os.path.join(OUT, 'variability.png'), dpi=100)
  fmt = lambda v: ', '.join(f'{r:.3f}' for r in v)
  lines = [
      '# Label variability on the four moons (paper 002 Figs. 2, 7-9)', '',
      f'`python experiments/boss_moons_variability.py --seed {args.seed}`; '
      'the initial run of configs/moons_boss.py, EL2N over its first 10 '
      'epochs, features of its epoch-10 state.', '',
      '![variability](variability.png)', '',
      f'- Spearman(EL2N, label variability), three draws of N_j: {fmt(rho)};'
      f' on the hardest 10% by EL2N: {fmt(rho_hard)}.',
      f'- Spearman(EL2N, feature distance over N_j): {rho_feat:.3f}.',
      f'- Fig. 8, share of points whose most similar subset member has '
      'another label (3%): ' + '; '.join(
          f'{n} {m.mean():.1%}' for n, m in mismatch.items()) + '.',
      '- Fig. 9, at the largest size shown '
      f'({sizes[-1]}): ' + '; '.join(
          f'{n}: feature term {f[-1]:.1f}, label term {l[-1]:.1f}'
          for n, (f, l) in terms.items()) + '.', '']
  with open(os.path.join(OUT, 'variability.md'), 'w') as f:
    f.write('\n'.join(lines))
  print('\n'.join(lines))


if __name__ == '__main__':
  main()
