"""Cluster-Margin and its baselines (paper 000) on MNIST-5k, offline.

  python -m al_jax.main --config=configs/mnist5k_cm.py --workdir=/tmp/al_mnist5k_cm

The embedded default's set-up (pool 4,000, CNN of paper 004 Table 6, seed 100,
5 rounds of 100, 3 seeds) with all five strategies. Cluster-Margin uses the
small-batch settings of paper 000 section 3.3: k_m = 1.25 k_t and eps chosen
for an average cluster size of 1.25, exact HAC (the pool is small).
"""

import os

import ml_collections

from al_jax import config_check


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = config_check.load_file(
      os.path.join(os.path.dirname(os.path.abspath(__file__)), 'mnist5k.py'),
      arg)
  config.al.strategies = ('random', 'margin', 'coreset', 'badge',
                          'cluster_margin')
  config.al.cluster_margin = ml_collections.ConfigDict(dict(
      margin_factor=1.25, target_cluster_size=1.25, hac='exact'))
  return config
