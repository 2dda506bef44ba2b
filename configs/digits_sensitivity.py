"""Sensitivity sampling (paper 001 Algorithm 1) as one-shot selection on
scikit-learn's 8x8 digits: seconds on a CPU; the test suite runs it.

  python -m al_jax.main --config=configs/digits_sensitivity.py --workdir=DIR

The subset job's initial model gives the embeddings and the losses at the
centres; each method picks a fraction of the pool and a fresh model trains
on it. Sensitivity sampling buys its centres' labels through the job (in a
one-shot job every label is known, so this only counts them in the budget).
Data, model and training as configs/digits.py. The same strategy in the
active-learning job: configs/mnist5k_sensitivity.py.
"""

import os

import ml_collections

from al_jax import config_check
from al_jax import strategies


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config_check.parse_arg(arg)  # No variants: any is an error.
  config = config_check.load_file(
      os.path.join(os.path.dirname(os.path.abspath(__file__)), 'digits.py'))
  del config['al']
  config.job = 'subset'
  config.subset = ml_collections.ConfigDict()
  config.subset.methods = ('random', 'kcenter', 'sensitivity',
                           'sensitivity_iid')
  config.subset.fractions = (0.05, 0.2)
  config.subset.initial_epochs = 4
  config.subset.el2n_epochs = 3
  config.subset.sensitivity = strategies.options('sensitivity')
  # Algorithm 1 as the theorem states it: i.i.d. draws, weights 1/(s p)
  # in training, λ balancing the two terms.
  config.subset.sensitivity_iid = strategies.options(
      'sensitivity', sampling='iid', weighted=True, lam='balanced')
  return config
