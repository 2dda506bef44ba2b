"""Paper 002 Table 1: BOSS and its baselines on SVHN, CIFAR-10/100 and
Tiny-ImageNet.

  python -m al_jax.main --config=configs/boss_table1.py:cifar10 --workdir=DIR

Variants: cifar10 (default), cifar100, svhn, tinyimagenet. CIFAR and SVHN
need the TFDS data sets `cifar10`, `cifar100`, `svhn_cropped` prepared in
ArrayRecord format (without them the run stops at once with the `tfds build`
command). TFDS has no Tiny-ImageNet builder: pass an .npz holding x_train
[100000, 64, 64, 3] uint8, y_train, x_test (the official validation set),
y_test with ``--config.input.source=npz:/path/tiny_imagenet.npz``.

Section 5 set-up: ResNet-18 (ResNet-34 for Tiny-ImageNet), SGD with momentum
0.9, initial lr 0.1, weight decay 5e-4, batch 256; EL2N over the first 10
epochs of the initial run, features and logits at epoch 10; five runs.
Appendix D: 200 epochs for CIFAR-10/100, 100 for SVHN and Tiny-ImageNet,
both for the initial run (full length, for the AUM of the cutoff:
subset.initial_epochs) and for each subset (train.epochs).
The ResNets use the CIFAR stem (3x3 stride-1 conv, no max-pool;
small_inputs=True) on 32x32 and 64x64 images alike, as the authors' and the
CCS code's ResNets (core/model_generator/resnet.py) do.

Cutoff (BOSS and CCS): ranks by 'aum_prob', the probability-margin AUM of
the full-length initial run (appendix D; `cutoff_score`), with β per data
set and fraction from the authors' code (ritmininglab/BOSS train.py, mode
'boss'): `BETA` below. The authors' CCS ('stratified' mode) uses the same
values for CIFAR-10/100; for SVHN and Tiny-ImageNet its table is commented
out (its --mis-ratio applies; the commented-out Tiny row reads
0.3/0.2/0.2/0.1), so giving CCS BOSS's values there is our choice, for the
same cutoff on both sides. CCS cuts over the whole pool, BOSS per class, as
their codes do.
Not stated, our choice: a cosine schedule, random crops (padding 4) with
flips (no flips for SVHN digits), and BOSS's c (peak) and alpha from
`boss.default_params` (appendix D.1's 10% values, c = 0.8 and alpha = 1, at
10%; c = 0.8, alpha = 2 above 15%).
Fractions 10/20/30/50% (SVHN: 8/12/16/20%). Adacore and LCMat as in
LCMat's DeepCore fork, which paper 002's pipeline builds on: both train their
subsets unweighted (`adacore.weighted=False`).
"""

import ml_collections

from al_jax import config_check
from al_jax import strategies

METHODS = ('random', 'craig', 'gradmatch', 'adacore', 'lcmat', 'moderate',
           'ccs', 'boss')
DATASETS = {
    # name: (source, model, epochs, fractions, flip)
    'cifar10': ('tfds:cifar10', 'resnet18', 200, (0.1, 0.2, 0.3, 0.5), True),
    'cifar100': ('tfds:cifar100', 'resnet18', 200, (0.1, 0.2, 0.3, 0.5),
                 True),
    'svhn': ('tfds:svhn_cropped', 'resnet18', 100, (0.08, 0.12, 0.16, 0.2),
             False),
    'tinyimagenet': ('npz:tiny_imagenet.npz', 'resnet34', 100,
                     (0.1, 0.2, 0.3, 0.5), True),
}
# The cutoff rate β per fraction (`ccs.beta_at`), as the authors' train.py.
BETA = {
    'cifar10': ((0.1, 0.3), (0.2, 0.1), (0.3, 0.1), (0.5, 0.0)),
    'cifar100': ((0.1, 0.5), (0.2, 0.4), (0.3, 0.2), (0.5, 0.2)),
    'svhn': ((0.08, 0.2), (0.12, 0.1), (0.16, 0.1), (0.2, 0.1)),
    'tinyimagenet': ((0.1, 0.7), (0.2, 0.6), (0.3, 0.5), (0.5, 0.4)),
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  args = config_check.parse_arg(arg, dict.fromkeys(DATASETS, False))
  chosen = [name for name in DATASETS if args[name]] or ['cifar10']
  if len(chosen) > 1:
    raise ValueError(f'Choose one data set, not {", ".join(chosen)}.')
  source, model, epochs, fractions, flip = DATASETS[chosen[0]]
  config = ml_collections.ConfigDict()
  config.job = 'subset'
  config.seeds = (0, 1, 2, 3, 4)

  config.input = ml_collections.ConfigDict()
  config.input.source = source
  config.input.seed = 0

  config.model = ml_collections.ConfigDict()
  config.model.name = model
  config.model.small_inputs = True  # The CIFAR stem, as the authors' ResNets.

  config.train = ml_collections.ConfigDict()
  config.train.optimizer = 'momentum'
  config.train.learning_rate = 0.1
  config.train.momentum = 0.9
  config.train.weight_decay = 5e-4
  config.train.schedule = 'cosine'
  config.train.batch_size = 256
  config.train.epochs = epochs
  config.train.crop_padding = 4
  config.train.flip = flip
  config.train.predict_batch_size = 1024

  config.subset = ml_collections.ConfigDict()
  config.subset.methods = METHODS
  config.subset.fractions = fractions
  config.subset.initial_epochs = epochs  # The full-length run (app. D).
  config.subset.el2n_epochs = 10
  beta = BETA[chosen[0]]
  for name in METHODS:  # Every option, so that overrides find their key.
    config.subset[name] = strategies.options(
        name, **(dict(beta=beta) if name in ('boss', 'ccs') else {}))
  config.subset.adacore.weighted = False
  return config
