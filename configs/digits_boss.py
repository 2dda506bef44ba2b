"""Tiny one-shot subset config on scikit-learn's 8x8 digits (seconds on a CPU).

  python -m al_jax.main --config=configs/digits_boss.py --workdir=DIR

Data, model and training as configs/digits.py; the test suite drives the
subset loop with it, so its options stay fixed: BOSS's cutoff rate 0.1 up
to 5% and 0.05 above (`BETA`; CCS: 0.1), both cutoffs ranking by
'aum_prob' (`cutoff_score`). What a validation split chooses, per seed:
experiments/results/boss_valsel/digits_boss.md.
"""

import os

import ml_collections

from al_jax import config_check
from al_jax import strategies

# BOSS's cutoff rate by fraction (`ccs.beta_at`): 0.1 up to 5%, 0.05 above.
BETA = ((0.05, 0.1), (1.0, 0.05))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config_check.parse_arg(arg)  # No variants: any is an error.
  config = config_check.load_file(
      os.path.join(os.path.dirname(os.path.abspath(__file__)), 'digits.py'))
  del config['al']
  config.job = 'subset'
  config.subset = ml_collections.ConfigDict()
  config.subset.methods = ('random', 'ccs', 'moderate', 'craig', 'gradmatch',
                           'boss')
  config.subset.fractions = (0.05, 0.2)
  config.subset.initial_epochs = 4
  config.subset.el2n_epochs = 3
  for name in config.subset.methods:
    config.subset[name] = strategies.options(name)
  config.subset.boss = strategies.options('boss', beta=BETA)
  return config
