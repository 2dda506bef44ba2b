"""Every config in configs/ is valid; the paper configs that need data stop at
once, with instructions, where the data are missing."""

import os
import time

import pytest

from al_jax import models
from al_jax.input import tfds_source
from al_jax.loops import active
from al_jax.loops import label_free
from al_jax.loops import pretrain
from al_jax.loops import subset as subset_loop
from conftest import ROOT, load_config

CONFIGS = [('digits', None), ('mnist5k', None), ('mnist5k', 'quick'),
           ('mnist5k_cm', None), ('cifar10_cm', None), ('cifar100_cm', None),
           ('svhn_cm', None), ('openimages_cm', None), ('openimages_cm', '1m'),
           ('openimages_cm', 'npz'), ('openimages_cm', 'synthetic'),
           ('openimages_cm', 'v6'), ('openimages_cm', 'arrayrecord_synthetic'),
           ('openimages_pretrain', None),
           ('openimages_pretrain', 'v6'), ('mnist5k_sensitivity', None),
           ('mnist5k_sensitivity', 'k=250,quick'), ('sensitivity_tfds', None),
           ('sensitivity_tfds', 'fashion_mnist'), ('sensitivity_tfds', 'cifar10'),
           ('adult_fi_active', None), ('mnist5k_fi_active', None),
           ('mnist5k_fi_active', 'unbalanced'),
           ('mnist5k_fi_active', 'redundant')]
TRIM_CONFIGS = [('trim_2d', None), ('trim_2d', 'moons'), ('trim_2d', 'chhabra'),
                ('trim_adult', None), ('trim_adult', 'noisy'),
                ('trim_adult', 'cv'), ('trim_adult', 'perturb')]


SUBSET_CONFIGS = [('digits_boss', None), ('mnist5k_boss', None),
                  ('mnist5k_boss', 'ablation'), ('mnist5k_boss', 'quick'),
                  ('moons_boss', None), ('boss_table1', None),
                  ('boss_table1', 'cifar100'), ('boss_table1', 'svhn'),
                  ('boss_table1', 'tinyimagenet'), ('digits_sensitivity', None)]


LABEL_FREE_CONFIGS = [('digits_usl', None), ('digits_usl', 'simclr'),
                      ('mnist5k_usl', None), ('mnist5k_usl', 'quick'),
                      ('mnist5k_usl', 'features=pca'),
                      ('mnist5k_usl', 'features=pixels')]
USL_TFDS = ('cifar10', 'cifar100', 'imagenet_moco', 'imagenet_clip')


@pytest.mark.parametrize('name, arg', LABEL_FREE_CONFIGS)
def test_label_free_config_is_valid(name, arg):
  label_free.check_config(load_config(name, arg))


@pytest.mark.parametrize('preset', USL_TFDS)
def test_usl_tfds_without_features_stops_at_once(preset, tmp_path):
  """No embeddings file: a clear error before TFDS is touched."""
  config = load_config('usl_tfds', f'{preset},features={tmp_path}/none.npz')
  start = time.monotonic()
  with pytest.raises(FileNotFoundError, match='no such embeddings file'):
    label_free.run(config, str(tmp_path / 'run'))
  assert time.monotonic() - start < 5
  assert config.label_free.usl.knn_k == (400 if 'cifar' in preset else 20)


@pytest.mark.parametrize('name, arg', TRIM_CONFIGS)
def test_trim_config_is_valid(name, arg):
  from al_jax.loops import trim  # pylint: disable=g-import-not-at-top
  trim.check_config(load_config(name, arg))


@pytest.mark.parametrize('name, arg', CONFIGS + SUBSET_CONFIGS)
def test_config_is_valid(name, arg):
  config = load_config(name, arg)
  loop = {'subset': subset_loop, 'pretrain': pretrain}.get(config.job, active)
  loop.check_config(config)
  models.from_config(config.model, 10)


def test_paper_settings():
  cifar = load_config('cifar10_cm')
  assert (cifar.al.seed_examples, cifar.al.budget_examples,
          cifar.al.rounds, len(cifar.seeds)) == (10_000, 5_000, 4, 10)
  assert cifar.al.cluster_margin.margin_factor == 1.25
  assert (cifar.train.learning_rate, cifar.train.batch_size) == (1e-3, 100)
  assert load_config('cifar100_cm').input.source == 'tfds:cifar100'
  oi = load_config('openimages_cm')
  assert (oi.al.seed_examples, oi.al.budget_examples, oi.al.rounds) == (
      300_000, 100_000, 10)
  assert load_config('openimages_cm', '1m').al.budget_examples == 1_000_000
  assert oi.al.cluster_margin.margin_factor == 10
  assert oi.model.embedding_dim == 128 and oi.al.retrain == 'finetune'
  with pytest.raises(ValueError, match='10m'):
    load_config('openimages_cm', '10m')
  assert load_config('openimages_cm', 'v6').input.source.startswith(
      'openimages_v6:')
  assert 'momentum' not in oi.train  # Plain SGD (section 3.2).
  pre = load_config('openimages_pretrain')
  assert (pre.job, pre.input.train_split, pre.train.steps) == (
      'pretrain', 'validation', 150_000)


def test_synthetic_open_images_margin_filter_acts():
  """k_m = 10 k_t images is at most half the pool images, so Cluster-Margin
  filters by margin before it clusters (audit r6)."""
  config = load_config('openimages_cm', 'synthetic')
  images = config.input.num_examples * (1 - config.input.test_fraction)
  k_m = config.al.cluster_margin.margin_factor * config.al.budget_examples
  assert k_m <= images / 2


@pytest.mark.parametrize('name, arg', [('cifar10_cm', None),
                                       ('svhn_cm', None),
                                       ('openimages_cm', None),
                                       ('sensitivity_tfds', 'cifar10')])
def test_missing_tfds_data_stops_at_once(name, arg, tmp_path):
  config = load_config(name, arg)
  config.input.data_dir = str(tmp_path / 'tfds')
  start = time.monotonic()
  with pytest.raises(tfds_source.DatasetNotPreparedError, match='tfds build'):
    active.run(config, str(tmp_path / 'run'))
  assert time.monotonic() - start < 10


def test_missing_open_images_v6_stops_at_once(tmp_path):
  config = load_config('openimages_cm', 'v6')
  config.input.source = f'openimages_v6:{tmp_path / "oidv6"}'
  start = time.monotonic()
  with pytest.raises(FileNotFoundError, match='class-descriptions'):
    active.run(config, str(tmp_path / 'run'))
  assert time.monotonic() - start < 10


def test_boss_paper_settings():
  cifar = load_config('boss_table1')
  assert cifar.subset.fractions == (0.1, 0.2, 0.3, 0.5)
  assert (cifar.model.name, cifar.train.learning_rate, cifar.train.momentum,
          cifar.train.batch_size, cifar.train.epochs) == (
              'resnet18', 0.1, 0.9, 256, 200)
  assert cifar.subset.el2n_epochs == 10 and len(cifar.seeds) == 5
  assert load_config('boss_table1', 'tinyimagenet').model.name == 'resnet34'
  assert load_config('boss_table1', 'svhn').subset.fractions == (
      0.08, 0.12, 0.16, 0.2)
  with pytest.raises(ValueError, match='imagenet1k'):
    load_config('boss_table1', 'imagenet1k')


@pytest.mark.parametrize('arg', ['cifar10', 'svhn'])
def test_boss_missing_tfds_data_stops_at_once(arg, tmp_path):
  config = load_config('boss_table1', arg)
  config.input.data_dir = str(tmp_path / 'tfds')
  start = time.monotonic()
  with pytest.raises(tfds_source.DatasetNotPreparedError, match='tfds build'):
    subset_loop.run(config, str(tmp_path / 'run'))
  assert time.monotonic() - start < 10


def test_missing_npz_stops_at_once(tmp_path):
  config = load_config('boss_table1', 'tinyimagenet')
  with pytest.raises(FileNotFoundError, match='tiny_imagenet.npz'):
    subset_loop.run(config, str(tmp_path))

  config = load_config('openimages_cm', 'npz')
  with pytest.raises(FileNotFoundError, match='openimages_embeddings.npz'):
    active.run(config, str(tmp_path))


@pytest.mark.parametrize('name', sorted(
    f[:-3] for f in os.listdir(os.path.join(ROOT, 'configs'))
    if f.endswith('.py')))
def test_an_unknown_variant_is_an_error_listing_the_valid_ones(name):
  with pytest.raises(ValueError, match="Unknown config variant 'bogus'; valid"):
    load_config(name, 'bogus')


def test_sensitivity_budget_split():
  """Section 5.2: k' = 0.2k uniform, then 0.8k of which k'' = 0.2k centres."""
  config = load_config('mnist5k_sensitivity', 'k=500')
  assert (config.al.seed_examples, config.al.budget_examples) == (100, 400)
  assert config.al.sensitivity.centre_fraction * 400 == 100
  with pytest.raises(ValueError, match='multiple of 5'):
    load_config('mnist5k_sensitivity', 'k=252')
  with pytest.raises(ValueError, match='Pick one data set'):
    load_config('sensitivity_tfds', 'mnist,cifar10')
