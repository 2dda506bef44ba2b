"""Cluster-Margin and its baselines on CIFAR-100 (paper 000 section 3.3).

  python -m al_jax.main --config=configs/cifar100_cm.py --workdir=DIR

configs/cifar10_cm.py with the 100 fine labels of TFDS `cifar100`: the same
VGG-16, whose top matches tf-keras (no dropout), and the same way to start
from keras' ImageNet weights (`train.init_checkpoint` set to the keras .h5
file, with `model.keras_inputs=True`; see there). BADGE runs on random
partitions of the pool (appendix A.1: with one partition it "was not able to
scale to this dataset"; the paper does not give the count, we use the ten of
its Figure 4).
"""

import os

import ml_collections

from al_jax import config_check


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = config_check.load_file(
      os.path.join(os.path.dirname(os.path.abspath(__file__)),
                   'cifar10_cm.py'), arg)
  config.input.source = 'tfds:cifar100'
  config.input.label_key = 'label'  # The fine labels.
  config.al.badge.partitions = 10
  return config
