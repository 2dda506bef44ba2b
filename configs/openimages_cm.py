"""Cluster-Margin on Open Images, multi-label (paper 000 section 3.2).

  python -m al_jax.main --config=configs/openimages_cm.py --workdir=DIR
  python -m al_jax.main --config=configs/openimages_cm.py:1m --workdir=DIR
  python -m al_jax.main --config=configs/openimages_cm.py:synthetic --workdir=DIR
  python -m al_jax.main --config=configs/openimages_cm.py:arrayrecord_synthetic \
      --workdir=DIR
  python -m al_jax.main --config=configs/openimages_cm.py:v6 --workdir=DIR \
      --config.input.source=openimages_v6:/path/to/oidv6

Arguments (comma-separated): `100k` (default) or `1m` pairs bought per round;
`v4` (default) or `v6` for the data set (below);
`npz` reads precomputed inputs from ``config.input.source='npz:<path>'``
(x_train/y_train/x_test/y_test with multilabel=True; the model becomes an MLP
head on those features); `synthetic` is a synthetic multi-label pool of the
same shape of problem (a few annotated classes per image, long-tailed
positives; 20,000 pool images, so k_m = 10 k_t = 10,000 images is at most
half the pool and the margin filter acts) that runs on a laptop CPU in
minutes. `arrayrecord_synthetic` is the same kind of pool as JPEG
images in ArrayRecord files with the labels as their pair list
(`al_jax.input.multilabel_records`, written to
~/.cache/al_jax/multilabel_records on first use; 100,000 96 x 96 images,
2.8 GB decoded): the run streams it, as it would stream Open Images, with a
small CNN, Cluster-Margin and random, 2 rounds.

Paper set-up: the pool is the image-class pairs of the train fold with a
human-verified label; ResNet-101 with a 128-d embedding layer; plain SGD
with lr 1e-4, batch 6144, decayed every 5e8 examples of the whole run
(pre-training included: the 'exponential' schedule reads the model's global
step, which fine-tuning carries from round to round and the pre-trained
checkpoint carries in; "logarithmically" is read as a staircase x0.1, the
paper gives no factor); a model pre-trained on the validation split (150K
steps: configs/openimages_pretrain.py writes it, give its ``model/``
directory as ``config.train.init_checkpoint``; without one training starts
from random weights), a seed set of
300K pairs, 15K fine-tuning steps after every round; 10 rounds of 100K or 1M
pairs; k_m = 10 k_t; eps for an average cluster size of >= 10 (multi-round
HAC, appendix A.2); BADGE and CoreSet on random partitions (appendix A.1: 20
for BADGE at 100K; 20 / 200 for CoreSet / BADGE at 1M); 3 trials; pooled AP.

Data set: the paper uses Open Images v6 (19,957 classes; 19,856,086
positive and 37,668,266 negative human-verified train labels, Table 1).
`v6` reads the official v6 CSVs and images from a folder
(`al_jax.input.openimages_v6`). TFDS has no v6 builder; the default `v4`
reads TFDS ``open_images_v4``, whose human-verified train pool is about half
as large (13.4M positive / 14.4M negative labels, 19,794 classes), so a batch
of 100K or 1M pairs is about twice the paper's fraction of the pool. Both
keep human-verified labels only: positive iff verified positive, never a
machine-generated label. Without the data the run stops at once and says
what to prepare or download.
"""

import ml_collections
from ml_collections import config_dict

from al_jax import config_check

STRATEGIES = ('random', 'margin', 'coreset', 'badge', 'cluster_margin')


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  args = config_check.parse_arg(
      arg, {'100k': False, '1m': False, 'v4': False, 'v6': False,
            'npz': False, 'synthetic': False,
            'arrayrecord_synthetic': False})
  big = args['1m']
  config = ml_collections.ConfigDict()
  config.job = 'active'
  config.seeds = (0, 1, 2)

  config.input = ml_collections.ConfigDict()
  config.input.source = 'tfds:open_images_v4'
  config.input.label_key = 'objects'
  config.input.image_size = 224
  config.input.test_split = 'test'
  config.input.seed = 0

  config.model = ml_collections.ConfigDict()
  config.model.name = 'resnet101'
  config.model.embedding_dim = 128

  if args.v6:
    config.input = ml_collections.ConfigDict(dict(
        source='openimages_v6:/path/to/oidv6', image_size=224,
        test_split='test', seed=0))

  config.train = ml_collections.ConfigDict()
  config.train.optimizer = 'sgd'  # Plain SGD: the paper names no momentum.
  config.train.learning_rate = 1e-4
  # "decays the learning rate logarithmically after every 5e8 examples".
  config.train.schedule = 'exponential'
  config.train.decay_every_steps = 500_000_000 // 6144
  config.train.decay_factor = 0.1
  config.train.batch_size = 6144
  config.train.steps = 15_000
  config.train.init_checkpoint = config_dict.placeholder(str)
  config.train.predict_batch_size = 8192

  config.al = ml_collections.ConfigDict()
  config.al.strategies = STRATEGIES
  config.al.seed_examples = 300_000
  config.al.budget_examples = 1_000_000 if big else 100_000
  config.al.rounds = 10
  config.al.retrain = 'finetune'
  config.al.cluster_margin = ml_collections.ConfigDict(dict(
      margin_factor=10.0, target_cluster_size=10.0, hac='multiround'))
  config.al.coreset = ml_collections.ConfigDict(dict(
      partitions=20 if big else 1))
  config.al.badge = ml_collections.ConfigDict(dict(
      partitions=200 if big else 20))

  if args.npz:
    config.input = ml_collections.ConfigDict(dict(
        source='npz:/path/to/openimages_embeddings.npz', seed=0))
    config.model = ml_collections.ConfigDict(dict(
        name='mlp', hidden_sizes=(128,)))
  if args.synthetic:
    config.input = ml_collections.ConfigDict(dict(
        source='multilabel', num_examples=25_000, num_classes=50,
        num_features=32, annotated_per_example=6, seed=0,
        test_fraction=0.2))
    config.model = ml_collections.ConfigDict(dict(
        name='mlp', hidden_sizes=(128,)))
    config.train = ml_collections.ConfigDict(dict(
        optimizer='adam', learning_rate=1e-3, batch_size=128, steps=300,
        predict_batch_size=2048))
    config.al.seed_examples = 3000
    config.al.budget_examples = 1000
    config.al.rounds = 4
    config.al.cluster_margin.hac = 'multiround'  # Exact needs 3 GB here.
    config.al.coreset.partitions = 1
    config.al.badge.partitions = 1
  if args.arrayrecord_synthetic:
    config.input = ml_collections.ConfigDict(dict(
        source='multilabel_records:', num_examples=100_000, num_classes=20,
        num_features=32, annotated_per_example=6, image_size=96, seed=0,
        test_fraction=0.1))
    config.model = ml_collections.ConfigDict(dict(name='cnn'))
    config.train = ml_collections.ConfigDict(dict(
        optimizer='adam', learning_rate=1e-3, batch_size=256, steps=300,
        predict_batch_size=512))  # Activations of 4096 96 x 96 images: 2 GB.
    config.seeds = (0,)
    config.al.strategies = ('random', 'cluster_margin')
    config.al.seed_examples = 20_000
    config.al.budget_examples = 10_000
    config.al.rounds = 2
  return config
