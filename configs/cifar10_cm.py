"""Cluster-Margin and its baselines on CIFAR-10 (paper 000 section 3.3).

  python -m al_jax.main --config=configs/cifar10_cm.py --workdir=DIR

Needs the TFDS data set `cifar10` prepared in ArrayRecord format (the run
stops at once with the `tfds build` command if it is not).

Paper set-up: tf-keras VGG-16 with two 4096-d FC layers and a prediction
layer, the embedding being the penultimate layer; the top matches keras (no
dropout); batch SGD, lr fixed at 1e-3, batch 100; a random seed set of 10,000,
then 4 rounds of 5,000; k_m = 1.25 k_t and eps for an average cluster size of
>= 1.25; multi-round HAC (appendix A.2, used "in all of the experiments");
ten trials. The paper does not give the number of epochs per round; we train
30 epochs from the initialization every round.

The paper initializes from keras' ImageNet weights. None can be downloaded
here, so by default training starts from random weights. With keras' weight
file (where keras keeps it:
H5=~/.keras/models/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5), add

  --config.train.init_checkpoint=$H5 --config.model.keras_inputs=True

The 13 conv layers are imported (al_jax/models/keras_vgg16.py); fc1, fc2 and
the prediction layer, new in the paper, start fresh, and the run logs which
layers did. `keras_inputs` makes the model feed the weights keras'
`vgg16.preprocess_input` (caffe: BGR, 0-255, ImageNet mean subtracted), which
they were trained on; the import refuses to run without it. An orbax
checkpoint of our own VGG16 also works as `init_checkpoint`.
"""

import ml_collections
from ml_collections import config_dict

from al_jax import config_check

STRATEGIES = ('random', 'margin', 'coreset', 'badge', 'cluster_margin')


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  config_check.parse_arg(arg)  # No variants: any is an error.
  config = ml_collections.ConfigDict()
  config.job = 'active'
  config.seeds = tuple(range(10))

  config.input = ml_collections.ConfigDict()
  config.input.source = 'tfds:cifar10'
  config.input.seed = 0

  config.model = ml_collections.ConfigDict()
  config.model.name = 'vgg16'
  config.model.dropout_rate = 0.0  # As keras: no dropout in the top.
  config.model.keras_inputs = False  # True with keras' ImageNet weights.

  config.train = ml_collections.ConfigDict()
  config.train.optimizer = 'sgd'
  config.train.learning_rate = 1e-3
  config.train.schedule = 'constant'
  config.train.batch_size = 100
  config.train.epochs = 30
  config.train.init_checkpoint = config_dict.placeholder(str)
  config.train.predict_batch_size = 1000

  config.al = ml_collections.ConfigDict()
  config.al.strategies = STRATEGIES
  config.al.seed_examples = 10_000
  config.al.budget_examples = 5_000
  config.al.rounds = 4
  config.al.retrain = 'scratch'
  config.al.cluster_margin = ml_collections.ConfigDict(dict(
      margin_factor=1.25, target_cluster_size=1.25, hac='multiround'))
  config.al.badge = ml_collections.ConfigDict(dict(partitions=1))
  return config
