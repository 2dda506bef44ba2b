"""Cluster-Margin and its baselines on SVHN (paper 000 section 3.3).

  python -m al_jax.main --config=configs/svhn_cm.py --workdir=DIR

configs/cifar10_cm.py on TFDS `svhn_cropped` (73,257 train, 26,032 test
digits; the `extra` split is not used): the same VGG-16, whose top matches
tf-keras (no dropout), and the same way to start from keras' ImageNet weights
(`train.init_checkpoint` set to the keras .h5 file, with
`model.keras_inputs=True`; see there).
"""

import os

import ml_collections

from al_jax import config_check


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config = config_check.load_file(
      os.path.join(os.path.dirname(os.path.abspath(__file__)),
                   'cifar10_cm.py'), arg)
  config.input.source = 'tfds:svhn_cropped'
  return config
