"""Tiny one-shot subset config on scikit-learn's 8x8 digits (seconds on a CPU).

  python -m al_jax.main --config=configs/digits_boss.py --workdir=DIR

The test suite drives the subset loop with it.
"""

import ml_collections

from al_jax import subset


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  del arg
  config = ml_collections.ConfigDict()
  config.job = 'subset'
  config.seeds = (0,)

  config.input = ml_collections.ConfigDict()
  config.input.source = 'digits'
  config.input.seed = 0
  config.input.test_fraction = 0.2

  config.model = ml_collections.ConfigDict()
  config.model.name = 'mlp'
  config.model.hidden_sizes = (64,)

  config.train = ml_collections.ConfigDict()
  config.train.optimizer = 'adam'
  config.train.learning_rate = 3e-3
  config.train.batch_size = 32
  config.train.epochs = 10
  config.train.predict_batch_size = 256

  config.subset = ml_collections.ConfigDict()
  config.subset.methods = ('random', 'ccs', 'moderate', 'craig', 'gradmatch',
                           'boss')
  config.subset.fractions = (0.05, 0.2)
  config.subset.initial_epochs = 4
  config.subset.el2n_epochs = 3
  for name in config.subset.methods:
    config.subset[name] = subset.options(name)
  return config
