"""USL (paper 003) with the paper's data sets and its presets, on features
the user brings: CIFAR-10 / CIFAR-100 (TFDS) and ImageNet (TFDS
``imagenet2012``, prepared by hand).

  python -m al_jax.main \
      --config=configs/usl_tfds.py:cifar10,features=/data/cifar10_cld.npz \
      --workdir=DIR

The features the paper selects on (wave2.md 2.1) need pretrained networks
we cannot train here: CLD ResNet-18 128-d projections (CIFAR), MoCo v2 +
EMAN ResNet-50 128-d (ImageNet-MoCo), CLIP ViT-B/16 512-d (ImageNet-CLIP),
all L2-normalised. Compute them for the TFDS train and test splits, in
TFDS order, and save ``np.savez(path, train=[N, D], test=[T, D])``; a
missing file stops the run before any data loads. ``checkpoint=PATH``
instead uses an encoder saved by `al_jax.features.simclr.save`; with it,
CIFAR-10 and CIFAR-100 also run USL-T with the authors' recipe
(`usl_t.PRESETS`: the encoder and 3 heads trained 200 epochs of batch
1,024, RandAugment views; GPU-sized).

Variants: ``cifar10`` (default: 40 labels, k-means seeds 1–5 as the code),
``cifar100`` (400 labels), ``imagenet_moco`` / ``imagenet_clip`` (2,911
labels = 0.2%, k-means seed 0); ``budgets`` as ``budgets=40`` (one value);
``features=PATH`` / ``checkpoint=PATH``. Paper (README of the official code,
SimCLR-CLD linear fine-tune with USL-T selections): CIFAR-10 76.1%,
CIFAR-100 36.9%; our linear probe is the scaled-down frozen-feature
version (`evaluators.linear_probe`).
"""

import ml_collections

from al_jax import config_check
from al_jax import strategies
from al_jax.strategies import usl
from al_jax.strategies import usl_t

DATASETS = {  # preset: (tfds name, budget, k-means seeds)
    'cifar10': ('cifar10', 40, (1, 2, 3, 4, 5)),
    'cifar100': ('cifar100', 400, (1, 2, 3, 4, 5)),
    'imagenet_moco': ('imagenet2012', 2911, (0,)),
    'imagenet_clip': ('imagenet2012', 2911, (0,)),
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  v = config_check.parse_arg(arg, **{d: False for d in DATASETS},
                             budgets=0, features='', checkpoint='')
  chosen = [d for d in DATASETS if v[d]] or ['cifar10']
  if len(chosen) > 1:
    raise ValueError(f'Pick one data set of {tuple(DATASETS)}, got {chosen}.')
  preset = chosen[0]
  name, budget, seeds = DATASETS[preset]
  config = ml_collections.ConfigDict()
  config.job = 'label_free'
  config.seeds = seeds

  config.input = ml_collections.ConfigDict()
  config.input.source = f'tfds:{name}'
  config.input.seed = 0
  if name == 'imagenet2012':
    config.input.image_size = 224
    config.input.test_split = 'validation'

  config.features = ml_collections.ConfigDict()
  if v.checkpoint:
    config.features.source = 'simclr'
    config.features.checkpoint = v.checkpoint
    config.features.which = 'projection'
  else:
    config.features.source = 'npz'
    config.features.path = v.features or f'features/{preset}.npz'

  config.label_free = ml_collections.ConfigDict()
  config.label_free.methods = ('random', 'usl')
  config.label_free.budgets = (v.budgets or budget,)
  config.label_free.downstream = 'linear_probe'
  config.label_free.usl = strategies.options('usl', **usl.PRESETS[preset])
  if v.checkpoint and preset in usl_t.PRESETS:  # USL-T tunes the encoder.
    config.label_free.methods += ('usl_t',)
    config.label_free.usl_t = strategies.options('usl_t',
                                                 **usl_t.PRESETS[preset])
  return config
