"""Tests for al_jax.input.sources, synthetic and tfds_source."""

import hashlib
import time
import types

import ml_collections
import numpy as np
import pytest

from al_jax.input import sources
from al_jax.input import sparse_labels


def _cfg(**fields):
  return ml_collections.ConfigDict(fields)


def _row_hashes(x):
  return {hashlib.sha1(row.tobytes()).hexdigest() for row in x}


@pytest.fixture(scope='module')
def mnist5k():
  return sources.load(_cfg(source='mnist5k'))


# ---------------------------------------------------------------- built-ins


@pytest.mark.parametrize('source,shape,n_train,n_test', [
    ('digits', (8, 8, 1), 1438, 359),
    ('mnist5k', (28, 28, 1), 4000, 1000),
])
def test_image_sources(source, shape, n_train, n_test, mnist5k):
  ds = mnist5k if source == 'mnist5k' else sources.load(_cfg(source=source))
  assert ds.name == source and ds.num_classes == 10 and not ds.multilabel
  assert ds.is_image and ds.input_shape == shape
  assert ds.x_train.shape == (n_train,) + shape
  assert ds.x_test.shape == (n_test,) + shape
  assert ds.x_train.dtype == ds.x_test.dtype == np.uint8
  assert ds.x_train.min() == 0 and ds.x_train.max() == 255
  assert ds.y_train.dtype == np.int32 and ds.y_train.shape == (n_train,)
  assert set(np.unique(ds.y_train)) == set(range(10))
  # Disjoint: no test image also appears in train (all rows are unique).
  assert not _row_hashes(ds.x_train) & _row_hashes(ds.x_test)


def test_moons():
  ds = sources.load(_cfg(source='moons', num_examples=500, noise=0.1))
  assert ds.x_train.shape == (400, 2) and ds.x_test.shape == (100, 2)
  assert ds.x_train.dtype == np.float32 and not ds.is_image
  assert ds.input_shape == (2,) and ds.num_classes == 2
  assert set(np.unique(ds.y_train)) == {0, 1}
  assert np.abs(ds.x_train).max() < 3  # Moons live in [-1, 2] x [-0.5, 1].


@pytest.mark.parametrize('spacing', [None, 2.5])
def test_four_moons(spacing):
  """Paper 002 appendix D.1: 2,000 points, 4 moons, split 80/20."""
  ds = sources.load(_cfg(source='moons', num_classes=4, noise=0.1,
                         spacing=spacing))
  assert ds.num_classes == 4 and ds.x_train.shape == (1600, 2)
  y = np.concatenate([ds.y_train, ds.y_test])
  np.testing.assert_array_equal(np.bincount(y), [500] * 4)
  x = np.concatenate([ds.x_train, ds.x_test])
  # The second pair is the first shifted right by `spacing` (default 2).
  for c in (0, 1):
    np.testing.assert_allclose(x[y == c + 2].mean(0) - x[y == c].mean(0),
                               [spacing or 2.0, 0.0], atol=0.1)
  with pytest.raises(ValueError, match='even'):
    sources.load(_cfg(source='moons', num_classes=3))


def test_blobs():
  ds = sources.load(_cfg(source='blobs', num_examples=300, num_classes=3,
                         num_features=5, seed=1))
  assert ds.x_train.shape == (240, 5) and ds.x_train.dtype == np.float32
  assert ds.num_classes == 3 and set(np.unique(ds.y_train)) == {0, 1, 2}
  # Clusters are well separated: nearest class mean classifies test points.
  means = np.stack([ds.x_train[ds.y_train == c].mean(0) for c in range(3)])
  pred = np.argmin(((ds.x_test[:, None] - means)**2).sum(-1), axis=1)
  assert (pred == ds.y_test).mean() > 0.9


def test_multilabel():
  ds = sources.load(_cfg(source='multilabel', num_examples=1000,
                         num_classes=15, num_features=8,
                         annotated_per_example=6))
  assert ds.multilabel and ds.num_classes == 15
  assert ds.x_train.shape == (800, 8) and ds.x_train.dtype == np.float32
  assert ds.y_train.shape == (800, 15) and ds.y_train.dtype == np.int8
  assert isinstance(ds.y_train, sparse_labels.SparseLabels)  # Pair lists.
  y = np.concatenate([ds.y_train.dense(), ds.y_test.dense()])
  assert set(np.unique(y)) == {-1, 0, 1}
  assert abs((y >= 0).sum(1).mean() - 6) < 0.5
  positives, annotated = (y == 1).sum(), (y >= 0).sum()
  assert 0 < positives < 0.25 * annotated  # Present but rare, as in OI.


def test_seeded_splits():
  a = sources.load(_cfg(source='digits', seed=3))
  b = sources.load(_cfg(source='digits', seed=3))
  c = sources.load(_cfg(source='digits', seed=4))
  np.testing.assert_array_equal(a.x_test, b.x_test)
  np.testing.assert_array_equal(a.y_train, b.y_train)
  assert _row_hashes(a.x_test) != _row_hashes(c.x_test)
  m1 = sources.load(_cfg(source='moons', seed=1))
  m2 = sources.load(_cfg(source='moons', seed=2))
  assert not np.array_equal(m1.x_train, m2.x_train)


def test_test_fraction_and_max_train_examples():
  ds = sources.load(_cfg(source='digits', test_fraction=0.5,
                         max_train_examples=100, seed=7))
  assert ds.x_test.shape[0] == 898 and ds.x_train.shape[0] == 100
  again = sources.load(_cfg(source='digits', test_fraction=0.5,
                            max_train_examples=100, seed=7))
  np.testing.assert_array_equal(ds.x_train, again.x_train)


def test_plain_attribute_config():
  cfg = types.SimpleNamespace(source='blobs', num_examples=50, seed=0)
  assert sources.load(cfg).x_train.shape == (40, 2)


def test_unknown_source_lists_valid_names():
  with pytest.raises(ValueError, match='Unknown source') as info:
    sources.load(_cfg(source='cifar'))
  for name in ('digits', 'mnist5k', 'moons', 'blobs', 'multilabel', 'tfds:',
               'npz:', 'openimages_v6:'):
    assert name in str(info.value)


# ---------------------------------------------------------------- validation


def _features_ds(**overrides):
  fields = dict(x_train=np.zeros((10, 3), np.float32),
                y_train=np.zeros(10, np.int32),
                x_test=np.zeros((4, 3), np.float32),
                y_test=np.zeros(4, np.int32), num_classes=2, name='t')
  fields.update(overrides)
  return sources.Dataset(**fields)


def test_check_finite_rejects_nan_and_inf():
  x = np.zeros((10, 3), np.float32)
  x[[2, 7], 1] = [np.nan, np.inf]
  with pytest.raises(ValueError, match=r'x_test has 2 rows.*\[2, 7\]'):
    sources.check_finite(_features_ds(x_test=x, y_test=np.zeros(10, np.int32)))


def test_check_finite_rejects_bad_labels_and_empty_train():
  with pytest.raises(ValueError, match='outside'):
    sources.check_finite(_features_ds(y_train=np.full(10, 2, np.int32)))
  with pytest.raises(ValueError, match='outside'):
    sources.check_finite(_features_ds(y_test=np.full(4, -2, np.int32)))
  sources.check_finite(_features_ds(y_test=np.full(4, -1, np.int32)))  # Unknown.
  with pytest.raises(ValueError, match='empty'):
    sources.check_finite(_features_ds(x_train=np.zeros((0, 3), np.float32),
                                      y_train=np.zeros(0, np.int32)))
  with pytest.raises(ValueError, match='multilabel'):
    sources.check_finite(_features_ds(
        y_train=np.full((10, 2), 2, np.int8), y_test=np.zeros((4, 2), np.int8),
        multilabel=True))


# ---------------------------------------------------------------- npz


def test_npz_embeddings_round_trip(tmp_path):
  rng = np.random.default_rng(0)
  path = tmp_path / 'emb.npz'
  arrays = dict(x_train=rng.normal(size=(30, 16)), y_train=rng.integers(0, 5, 30),
                x_test=rng.normal(size=(6, 16)), y_test=rng.integers(0, 5, 6))
  np.savez(path, num_classes=7, **arrays)
  ds = sources.load(_cfg(source=f'npz:{path}'))
  assert ds.num_classes == 7 and ds.x_train.dtype == np.float32
  np.testing.assert_allclose(ds.x_train, arrays['x_train'], rtol=1e-6)
  np.testing.assert_array_equal(ds.y_test, arrays['y_test'])
  assert ds.y_train.dtype == np.int32


def test_npz_images_without_test_split(tmp_path):
  path = tmp_path / 'img.npz'
  x = np.arange(50 * 4 * 4 * 3).reshape(50, 4, 4, 3).astype(np.uint8)
  np.savez(path, x_train=x, y_train=np.arange(50) % 3)
  ds = sources.load(_cfg(source=f'npz:{path}', test_fraction=0.2))
  assert ds.is_image and ds.x_train.dtype == np.uint8
  assert ds.x_train.shape == (40, 4, 4, 3) and ds.x_test.shape == (10, 4, 4, 3)
  assert ds.num_classes == 3  # max label + 1


def test_npz_multilabel(tmp_path):
  path = tmp_path / 'ml.npz'
  y = np.array([[1, -1, 0], [0, 0, -1]] * 5)
  np.savez(path, x_train=np.ones((10, 2)), y_train=y, multilabel=True)
  ds = sources.load(_cfg(source=f'npz:{path}'))
  assert ds.multilabel and ds.num_classes == 3 and ds.y_train.dtype == np.int8


def test_npz_errors(tmp_path):
  missing = tmp_path / 'nope.npz'
  with pytest.raises(FileNotFoundError, match='nope.npz'):
    sources.load(_cfg(source=f'npz:{missing}'))
  path = tmp_path / 'partial.npz'
  np.savez(path, x_train=np.zeros((4, 2)), labels=np.zeros(4))
  with pytest.raises(KeyError, match=r"y_train.*keys found.*labels"):
    sources.load(_cfg(source=f'npz:{path}'))


def test_npz_nan_rejected_naming_array(tmp_path):
  x = np.zeros((20, 3))
  x[5, 0] = np.nan
  path = tmp_path / 'nan.npz'
  np.savez(path, x_train=x, y_train=np.zeros(20, int),
           x_test=np.zeros((2, 3)), y_test=np.zeros(2, int))
  with pytest.raises(ValueError, match=r'x_train has 1 rows.*\[5\]'):
    sources.load(_cfg(source=f'npz:{path}'))


# ---------------------------------------------------------------- tfds


@pytest.fixture(scope='module')
def tfds():
  return pytest.importorskip('tensorflow_datasets')


def test_tfds_mock_data(tfds):
  with tfds.testing.mock_data(num_examples=12):
    ds = sources.load(_cfg(source='tfds:mnist'))
  assert ds.name == 'tfds:mnist' and ds.num_classes == 10
  assert ds.x_train.shape == (12, 28, 28, 1) and ds.x_train.dtype == np.uint8
  assert ds.x_test.shape == (12, 28, 28, 1)
  assert ds.y_train.dtype == np.int32 and ds.y_train.max() < 10


def _build_tiny_dataset(tfds, data_dir):
  """Prepares a real 3-class ArrayRecord data set, as `tfds build` would."""

  # skip_registration: the reader must find it from the files alone, like a
  # data set prepared on another machine. Tensor, not Image: encoding PNGs
  # would need TensorFlow.
  class AlJaxTiny(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    VERSION = tfds.core.Version('1.0.0')

    def _info(self):
      return tfds.core.DatasetInfo(
          builder=self,
          features=tfds.features.FeaturesDict({
              'image': tfds.features.Tensor(shape=(5, 5, 3), dtype=np.uint8),
              'label': tfds.features.ClassLabel(num_classes=3)}))

    def _split_generators(self, dl_manager):
      return {'train': self._generate_examples(30),
              'test': self._generate_examples(9)}

    def _generate_examples(self, n):
      for i in range(n):
        yield i, {'image': np.full((5, 5, 3), i, np.uint8), 'label': i % 3}

  AlJaxTiny(data_dir=str(data_dir),
            file_format='array_record').download_and_prepare()


def test_tfds_real_array_record(tfds, tmp_path):
  _build_tiny_dataset(tfds, tmp_path)
  ds = sources.load(_cfg(source='tfds:al_jax_tiny', data_dir=str(tmp_path)))
  assert ds.num_classes == 3 and ds.input_shape == (5, 5, 3)
  assert ds.x_train.shape == (30, 5, 5, 3) and ds.x_test.shape == (9, 5, 5, 3)
  # Records keep their image/label pairing (image value i <-> label i % 3).
  np.testing.assert_array_equal(ds.x_train[:, 0, 0, 0] % 3, ds.y_train)
  assert sorted(ds.x_test[:, 0, 0, 0]) == list(range(9))

  small = sources.load(_cfg(source='tfds:al_jax_tiny', data_dir=str(tmp_path),
                            max_train_examples=10, test_split=''))
  assert small.x_train.shape[0] == 10
  # No test split: held out from train, disjoint.
  assert not _row_hashes(small.x_train) & _row_hashes(small.x_test)


@pytest.mark.parametrize('name', ['mnist', 'no_such_dataset_xyz'])
def test_tfds_not_prepared_fails_fast(tfds, tmp_path, name):
  del tfds
  from al_jax.input import tfds_source  # pylint: disable=g-import-not-at-top
  start = time.monotonic()
  with pytest.raises(FileNotFoundError) as info:
    sources.load(_cfg(source=f'tfds:{name}', data_dir=str(tmp_path)))
  assert time.monotonic() - start < 10
  assert isinstance(info.value, tfds_source.DatasetNotPreparedError)
  message = str(info.value)
  for part in (name, str(tmp_path), 'tfds build', 'array_record'):
    assert part in message


def test_tfds_non_random_access_format_is_explained(tfds, tmp_path):
  _build_tiny_dataset(tfds, tmp_path)
  # Relabel the files as tfrecord (writing real tfrecords needs TensorFlow).
  (info_path,) = tmp_path.glob('al_jax_tiny/*/dataset_info.json')
  info_path.write_text(info_path.read_text().replace(
      '"fileFormat": "array_record"', '"fileFormat": "tfrecord"'))
  with pytest.raises(ValueError, match="tfrecord.*file_format='array_record'"):
    sources.load(_cfg(source='tfds:al_jax_tiny', data_dir=str(tmp_path)))


def test_open_images_labels_keep_human_verified_only():
  """Audit 000 Bug 1: TFDS open_images_v4 `objects` mixes human-verified and
  machine-generated labels (source ids 0, 1 human, 2 machine; confidence
  int(conf * 10))."""
  from al_jax.input import tfds_source  # pylint: disable=g-import-not-at-top
  objects = {
      # class: 5 human NEGATIVE + machine 0.3; 7 machine-only 0.1;
      # 2 human positive (crowdsource) + machine 0.9; 3 human positive;
      # 4 human negative; 1 machine 1.0 only.
      'label': np.array([5, 5, 7, 2, 2, 3, 4, 1]),
      'confidence': np.array([0, 3, 1, 10, 9, 10, 0, 10]),
      'source': np.array([0, 2, 2, 1, 2, 0, 1, 2])}
  label = tfds_source._label  # pylint: disable=protected-access
  row = label(objects, 10)
  want = np.full(10, -1, np.int8)
  want[[5, 2, 3, 4]] = [0, 1, 1, 0]
  np.testing.assert_array_equal(row, want)
  assert row.dtype == np.int8
  # The human entry wins whatever the order of the entries.
  order = np.arange(8)[::-1]
  flipped = {k: v[order] for k, v in objects.items()}
  np.testing.assert_array_equal(label(flipped, 10), want)
  # Empty sequence: nothing annotated.
  empty = {k: np.zeros(0, int) for k in objects}
  np.testing.assert_array_equal(label(empty, 3), [-1, -1, -1])


def test_open_images_v4_feature_spec_gives_human_source_ids(tfds, tmp_path):
  """The ids come from the real open_images_v4 feature spec (no data)."""
  del tfds
  from al_jax.input import tfds_source  # pylint: disable=g-import-not-at-top
  label_feature = tfds_source._label_feature  # pylint: disable=protected-access
  for key in ('objects', 'objects_trainable'):
    num_classes, multilabel, human = label_feature('open_images_v4',
                                                   str(tmp_path), key)
    assert multilabel and human == (0, 1)
    assert num_classes == (19_995 if key == 'objects' else 7_186)


def _build_tiny_multilabel(tfds, data_dir, entry):
  """A tiny open_images_v4-like data set: variable-size images and
  image-level labels as a sequence `entry` of features."""

  class AlJaxTinyMultilabel(tfds.core.GeneratorBasedBuilder,
                            skip_registration=True):
    VERSION = tfds.core.Version('1.0.0')

    def _info(self):
      return tfds.core.DatasetInfo(
          builder=self,
          features=tfds.features.FeaturesDict({
              'image': tfds.features.Tensor(shape=(None, None, 3),
                                            dtype=np.uint8, encoding='zlib'),
              'objects': tfds.features.Sequence(entry)}))

    def _split_generators(self, dl_manager):
      return {'train': self._generate_examples(12),
              'test': self._generate_examples(4)}

    def _generate_examples(self, n):
      for i in range(n):
        # Image i: class i % 6 human positive ('verification' = id 1 here);
        # (i + 1) % 6 human negative ('crowdsource-verification' = 2) plus a
        # machine positive (0); (i + 2) % 6 machine-only; sizes vary.
        objects = {'label': [i % 6, (i + 1) % 6, (i + 1) % 6, (i + 2) % 6],
                   'confidence': [10, 0, 8, 9], 'source': [1, 2, 0, 0]}
        yield i, {'image': np.full((4 + i % 3, 6, 3), 10 * i, np.uint8),
                  'objects': {k: objects[k] for k in entry}}

  AlJaxTinyMultilabel(data_dir=str(data_dir),
                      file_format='array_record').download_and_prepare()


def test_tfds_multilabel_objects_and_resize(tfds, tmp_path):
  # Source names in another order than open_images_v4: the human ids are read
  # from the feature spec.
  _build_tiny_multilabel(tfds, tmp_path, {
      'label': tfds.features.ClassLabel(num_classes=6),
      'confidence': np.int32,
      'source': tfds.features.ClassLabel(
          names=['machine', 'verification', 'crowdsource-verification'])})
  cfg = _cfg(source='tfds:al_jax_tiny_multilabel', data_dir=str(tmp_path),
             label_key='objects')
  with pytest.raises(ValueError, match='image_size'):
    sources.load(cfg)
  cfg['image_size'] = 8
  ds = sources.load(cfg)
  assert ds.multilabel and ds.num_classes == 6
  assert ds.x_train.shape == (12, 8, 8, 3) and ds.y_train.shape == (12, 6)
  assert ds.y_test.shape == (4, 6)
  for x, row in zip(ds.x_train, ds.y_train):
    i = int(round(x[0, 0, 0] / 10))
    want = np.full(6, -1, np.int8)
    want[i % 6], want[(i + 1) % 6] = 1, 0  # Machine labels: not annotated.
    np.testing.assert_array_equal(row, want)


def test_tfds_multilabel_without_source_is_refused(tfds, tmp_path):
  _build_tiny_multilabel(tfds, tmp_path, {
      'label': tfds.features.ClassLabel(num_classes=6),
      'confidence': np.int32})
  with pytest.raises(ValueError, match="'source'.*human-verified"):
    sources.load(_cfg(source='tfds:al_jax_tiny_multilabel',
                      data_dir=str(tmp_path), label_key='objects',
                      image_size=8))
