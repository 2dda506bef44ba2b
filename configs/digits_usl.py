"""USL (paper 003) in the label-free job on scikit-learn's 8x8 digits:
seconds on a CPU; the test suite runs it.

  python -m al_jax.main --config=configs/digits_usl.py --workdir=DIR

Pool 1,438 / test 359 (seeded split). Each method picks 10, 20 and 40
images from the unlabelled pool's features; their labels are bought and a
linear probe on the frozen features is scored on the test set.
``:simclr`` trains SimCLR-style features here first instead of using
PCA-32 of the pixels (the options were tuned on MNIST-5k, not digits). MNIST-5k: configs/mnist5k_usl.py.
"""

import ml_collections

from al_jax import config_check
from al_jax import strategies


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = config_check.parse_arg(arg, simclr=False)
  config = ml_collections.ConfigDict()
  config.job = 'label_free'
  config.seeds = (0, 1)

  config.input = ml_collections.ConfigDict()
  config.input.source = 'digits'
  config.input.seed = 0
  config.input.test_fraction = 0.2

  config.features = ml_collections.ConfigDict()
  config.features.source = 'simclr' if variant.simclr else 'pca'
  config.features.dims = 32
  config.features.seed = 0

  config.label_free = ml_collections.ConfigDict()
  config.label_free.methods = ('random', 'kcenter', 'kmeans_nearest', 'usl')
  config.label_free.budgets = (10, 20, 40)
  config.label_free.downstream = 'linear_probe'
  # CIFAR-10's settings (the module defaults), k = 20 neighbours.
  config.label_free.usl = strategies.options('usl')
  return config
