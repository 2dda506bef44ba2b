"""Tiny embedded config: Random vs Margin on scikit-learn's 8x8 digits.

Runs in seconds on one CPU core; the test suite drives the CLI with it.

  python -m al_jax.main --config=configs/digits.py --workdir=/tmp/al_digits
"""

import ml_collections

from al_jax import config_check


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config_check.parse_arg(arg)  # No variants: any is an error.
  config = ml_collections.ConfigDict()
  config.job = 'active'
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

  config.al = ml_collections.ConfigDict()
  config.al.strategies = ('random', 'margin')
  config.al.seed_examples = 40
  config.al.budget_examples = 40
  config.al.rounds = 2
  config.al.retrain = 'scratch'
  return config
