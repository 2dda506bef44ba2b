"""Paper 004 Fig. 5 on MNIST-5k: the candidates of the first active-learning
round with the highest (and, for contrast, the lowest) FI-active, with the
model's predicted class and probability.

  python experiments/fi_active_images.py --out experiments/results/fi_active_al

Table 5's first round: 60 random labels (seed 0), the CNN of Table 6
trained on them, 420 random unlabelled candidates, FI-active on the last
layer (configs/mnist5k_fi_active.py). Writes fi_active_images.png and
fi_active_images.md (the rows behind the figure).
"""

import argparse
import os
import sys

import jax
import matplotlib
import numpy as np

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_fi_active  # pylint: disable=g-import-not-at-top,wrong-import-position
from al_jax.strategies import fi_active  # pylint: disable=g-import-not-at-top,wrong-import-position


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--out', required=True)
  parser.add_argument('--show', type=int, default=10)
  args = parser.parse_args()
  config, ds, ctx = bench_fi_active.setup(60, 420, epochs=30)
  options = {k: v for k, v in config.al.fi_active.items()
             if k in fi_active.OPTIONS}
  rows, scores, note = fi_active.candidate_scores(ctx, jax.random.key(0),
                                                  **options)
  model = ctx.model()
  logits = np.asarray(model.apply_fn(model.variables, fi_active.model_inputs(
      model, rows), train=False)[0])
  prob = np.exp(logits - logits.max(1, keepdims=True))
  prob /= prob.sum(1, keepdims=True)
  order = np.argsort(-scores, kind='stable')
  picks = [('highest FI-active', order[:args.show]),
           ('lowest FI-active', order[::-1][:args.show])]
  fig, axes = plt.subplots(2, args.show, figsize=(1.3 * args.show, 3.4))
  lines = ['# FI-active, first round on MNIST-5k (60 labels, 420 candidates)',
           '', f'H: {note}', '',
           '| which | pool row | true label | predicted | probability | '
           'FI-active |', '|---|---|---|---|---|---|']
  for ax_row, (title, idx) in zip(axes, picks):
    for ax, i in zip(ax_row, idx):
      ax.imshow(ds.x_train[rows[i], ..., 0], cmap='gray')
      ax.set_title(f'{prob[i].argmax()} ({prob[i].max():.2f})', fontsize=8)
      ax.axis('off')
      lines.append(f'| {title} | {rows[i]} | {ds.y_train[rows[i]]} | '
                   f'{prob[i].argmax()} | {prob[i].max():.3f} | '
                   f'{scores[i]:.3g} |')
    ax_row[0].text(-0.3, 0.5, title, transform=ax_row[0].transAxes,
                   ha='right', va='center', fontsize=9)
  fig.suptitle('First round on MNIST-5k: prediction (probability)')
  fig.tight_layout()
  os.makedirs(args.out, exist_ok=True)
  fig.savefig(os.path.join(args.out, 'fi_active_images.png'), dpi=110,
              bbox_inches='tight')
  high = prob[order[:args.show]].max(1).mean()
  low = prob[order[::-1][:args.show]].max(1).mean()
  lines += ['', f'Mean top probability: {high:.3f} (highest FI-active) vs '
            f'{low:.3f} (lowest).']
  with open(os.path.join(args.out, 'fi_active_images.md'), 'w') as f:
    f.write('\n'.join(lines) + '\n')
  print('\n'.join(lines))


if __name__ == '__main__':
  main()
