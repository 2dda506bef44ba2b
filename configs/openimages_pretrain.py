"""The pre-trained model of paper 000 section 3.2, for openimages_cm.py.

  python -m al_jax.main --config=configs/openimages_pretrain.py --workdir=P
  python -m al_jax.main --config=configs/openimages_cm.py --workdir=W \
      --config.train.init_checkpoint=P/model

"All trials are initialized with a model pre-trained on the validation split
using 150K batch SGD steps": ResNet-101 with the 128-d embedding layer of
openimages_cm.py, every human-verified label of the validation split, the
same SGD (lr 1e-4, batch 6144, decayed every 5e8 examples), 150K steps; the
test split is scored with pooled AP. The checkpoint keeps its step count, so
the active-learning runs continue the decay where pre-training stopped
(150K steps = 9.2e8 examples: one decay before round 0).

Arguments: `v4` (default, TFDS open_images_v4) or `v6` (the official v6 CSVs,
see openimages_cm.py), as in openimages_cm.py.
"""

import os

import ml_collections

from al_jax import config_check


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  args = config_check.parse_arg(arg, {'v4': False, 'v6': False})
  config = config_check.load_file(
      os.path.join(os.path.dirname(os.path.abspath(__file__)),
                   'openimages_cm.py'), 'v6' if args.v6 else None)
  config.job = 'pretrain'
  config.seed = 0
  del config.seeds
  del config.al
  config.input.train_split = 'validation'
  config.train.steps = 150_000
  del config.train.init_checkpoint
  return config
