"""Cluster-Margin and its baselines on CIFAR-10 (paper 000 section 3.3).

  python -m al_jax.main --config=configs/cifar10_cm.py --workdir=DIR

Needs the TFDS data set `cifar10` prepared in ArrayRecord format (the run
stops at once with the `tfds build` command if it is not).

Paper set-up: VGG-16 with two 4096-d FC layers, the embedding being the
penultimate layer; batch SGD, lr fixed at 1e-3, batch 100; a random seed set
of 10,000, then 4 rounds of 5,000; k_m = 1.25 k_t and eps for an average
cluster size of >= 1.25; multi-round HAC (appendix A.2, used "in all of the
experiments"); ten trials. The paper initializes from ImageNet weights: set
``config.train.init_checkpoint`` to an orbax checkpoint of them (none can be
downloaded here; without it training starts from random weights). The paper
does not give the number of epochs per round; we train 30 epochs from that
initialization every round.
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
