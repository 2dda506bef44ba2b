"""Paper 001 section 5.2 / Figure 2 as the paper ran it: MNIST,
Fashion-MNIST and CIFAR-10 (TFDS), 100 runs per point.

  python -m al_jax.main --config=configs/sensitivity_tfds.py:mnist,k=2000 \
      --workdir=DIR

Needs the TFDS data set prepared (`tfds build mnist`, `fashion_mnist`,
`cifar10`); without it the run stops at once with that command. The
protocol, methods and training are those of configs/mnist5k_sensitivity.py
(k' = 0.2k uniform labels, M₀, one selection of 0.8k, a fresh model on all
k; 10 epochs, batch 32, Adam 1e-3); the validation accuracy the paper plots
is the data set's test split. Models (appendix C): the MLP with one hidden
layer of 128 units for MNIST and Fashion-MNIST, a CNN with three conv and
three dense layers for CIFAR-10 (sizes ours: `models/conv3_dense3.py`).

Variants: ``mnist`` (default), ``fashion_mnist``, ``cifar10``; ``k=N``
(default 2000; the paper's Figure 2(a) sweeps k), ``seeds=N`` (default 100).
Paper, k = 2000 (Figure 2(b)): uniform 0.9130 / 0.8091 / 0.4587, [SS18]
0.9134 / 0.7692 / 0.4491, loss 0.9203 / 0.8140 / 0.4590, gradient 0.9207 /
0.8107 / 0.4598 (MNIST / Fashion-MNIST / CIFAR-10).
"""

import os

import ml_collections

from al_jax import config_check

DATASETS = ('mnist', 'fashion_mnist', 'cifar10')


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  v = config_check.parse_arg(arg, mnist=False, fashion_mnist=False,
                             cifar10=False, k=2000, seeds=100)
  chosen = [d for d in DATASETS if v[d]] or ['mnist']
  if len(chosen) > 1:
    raise ValueError(f'Pick one data set of {DATASETS}, got {chosen}.')
  name = chosen[0]
  config = config_check.load_file(
      os.path.join(os.path.dirname(os.path.abspath(__file__)),
                   'mnist5k_sensitivity.py'), f'k={v.k},seeds={v.seeds}')
  config.input = ml_collections.ConfigDict()
  config.input.source = f'tfds:{name}'
  config.input.seed = 0
  if name == 'cifar10':
    config.model = ml_collections.ConfigDict({'name': 'conv3_dense3'})
  return config
