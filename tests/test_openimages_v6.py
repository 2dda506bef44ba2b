"""Tests for al_jax.input.openimages_v6 on a tiny Open Images v6 fixture."""

import os

import ml_collections
import numpy as np
from PIL import Image
import pytest

from al_jax.input import openimages_v6
from al_jax.input import sources

CLASSES = ('LabelName,DisplayName\n/m/a,Cat\n/m/b,"Dog, domestic"\n'
           '/m/c,Car\n/m/d,Tree\n/m/e,Unused\n')
# Train: b2 before a1 (rows come out in sorted ImageID order); a1 has a human
# NEGATIVE for /m/a beside a machine positive; b2 a machine-only /m/b; c3 only
# machine rows and e5 only an unknown class (both left out); d4 two human rows
# that disagree (positive wins); f6.jpg has no label at all.
TRAIN = """ImageID,Source,LabelName,Confidence
b2,verification,/m/a,1
b2,machine,/m/b,0.8
a1,verification,/m/a,0
a1,machine,/m/a,0.9
a1,crowdsource-verification,/m/c,1
a1,verification,/m/d,1.0
c3,machine,/m/a,0.7
d4,verification,/m/b,0
d4,crowdsource-verification,/m/b,1
e5,verification,/m/zzz,1
"""
TEST = """ImageID,Source,LabelName,Confidence
t1,verification,/m/b,1
t1,verification,/m/c,0.0
t2,crowdsource-verification,/m/e,0
"""
WANT_TRAIN = {'a1': [0, -1, 1, 1, -1], 'b2': [1, -1, -1, -1, -1],
              'd4': [-1, 1, -1, -1, -1]}
WANT_TEST = {'t1': [-1, 1, 0, -1, -1], 't2': [-1, -1, -1, -1, 0]}
# A distinct gray level and shape per image, to check the image/label pairing.
IMAGES = {'train': {'a1': (40, (20, 30)), 'b2': (80, (30, 20)),
                    'c3': (120, (16, 16)), 'd4': (160, (24, 24)),
                    'e5': (200, (16, 16)), 'f6': (240, (16, 16))},
          'test': {'t1': (60, (18, 26)), 't2': (100, (26, 18))}}


@pytest.fixture
def root(tmp_path):
  (tmp_path / openimages_v6.CLASS_DESCRIPTIONS).write_text(CLASSES)
  (tmp_path / openimages_v6.TRAINABLE_CLASSES).write_text('/m/c\n/m/a\n')
  (tmp_path / openimages_v6.LABEL_FILES['train']).write_text(TRAIN)
  (tmp_path / openimages_v6.LABEL_FILES['test']).write_text(TEST)
  for split, images in IMAGES.items():
    os.makedirs(tmp_path / split)
    for image_id, (gray, (h, w)) in images.items():
      Image.fromarray(np.full((h, w, 3), gray, np.uint8)).save(
          tmp_path / split / f'{image_id}.jpg')
  return tmp_path


def _cfg(root, **fields):
  return ml_collections.ConfigDict(
      {'source': f'openimages_v6:{root}', 'image_size': 8, **fields})


def _ids(x, split):
  """The ImageIDs of images [K, S, S, 3], from their gray levels."""
  by_gray = {gray: i for i, (gray, _) in IMAGES[split].items()}
  out = []
  for image in x:
    gray = min(by_gray, key=lambda g: abs(g - float(image.mean())))
    assert np.abs(image.astype(int) - gray).max() <= 4
    out.append(by_gray[gray])
  return out


def test_human_verified_labels_shapes_and_order(root):
  ds = sources.load(_cfg(root))
  assert ds.multilabel and ds.num_classes == 5 and ds.is_image
  assert ds.name == f'openimages_v6:{root}'
  assert ds.x_train.shape == (3, 8, 8, 3) and ds.x_train.dtype == np.uint8
  assert ds.x_test.shape == (2, 8, 8, 3)
  assert ds.y_train.dtype == ds.y_test.dtype == np.int8
  assert _ids(ds.x_train, 'train') == ['a1', 'b2', 'd4']  # Sorted ImageIDs.
  np.testing.assert_array_equal(ds.y_train.dense(), list(WANT_TRAIN.values()))
  assert _ids(ds.x_test, 'test') == ['t1', 't2']
  np.testing.assert_array_equal(ds.y_test.dense(), list(WANT_TEST.values()))


def test_read_classes(root):
  mids, names = openimages_v6.read_classes(str(root))
  assert mids == ['/m/a', '/m/b', '/m/c', '/m/d', '/m/e']
  assert names[1] == 'Dog, domestic'
  # The trainable subset keeps the descriptions order; no header is needed.
  (root / openimages_v6.CLASS_DESCRIPTIONS).write_text(
      CLASSES.split('\n', 1)[1])
  assert openimages_v6.read_classes(str(root), 'trainable') == (
      ['/m/a', '/m/c'], ['Cat', 'Car'])


def test_trainable_classes(root):
  ds = sources.load(_cfg(root, oi_classes='trainable'))
  assert ds.num_classes == 2
  # d4 (only /m/b) and t2 (only /m/e) have no label left: left out.
  assert _ids(ds.x_train, 'train') == ['a1', 'b2']
  np.testing.assert_array_equal(ds.y_train.dense(), [[0, 1], [1, -1]])
  assert _ids(ds.x_test, 'test') == ['t1']
  np.testing.assert_array_equal(ds.y_test.dense(), [[-1, 0]])


def test_max_train_examples_and_no_test_split(root):
  small = sources.load(_cfg(root, max_train_examples=2, seed=3))
  ids = _ids(small.x_train, 'train')
  assert len(ids) == 2 and ids == sorted(ids)
  np.testing.assert_array_equal(small.y_train.dense(), [WANT_TRAIN[i] for i in ids])
  again = sources.load(_cfg(root, max_train_examples=2, seed=3))
  np.testing.assert_array_equal(small.x_train, again.x_train)
  # Without a test split, train is split by test_fraction.
  split = sources.load(_cfg(root, test_split='', test_fraction=0.34))
  train, test = _ids(split.x_train, 'train'), _ids(split.x_test, 'train')
  assert len(train) == 2 and len(test) == 1
  assert sorted(train + test) == sorted(WANT_TRAIN)
  np.testing.assert_array_equal(split.y_test.dense(), [WANT_TRAIN[test[0]]])


def test_images_dir_with_split_placeholder(root):
  os.rename(root / 'train', root / 'images_train')
  os.rename(root / 'test', root / 'images_test')
  ds = sources.load(_cfg(root, images_dir=str(root / 'images_{split}')))
  assert _ids(ds.x_train, 'train') == ['a1', 'b2', 'd4']


@pytest.mark.parametrize('missing, match', [
    (openimages_v6.CLASS_DESCRIPTIONS,
     'oidv6-class-descriptions.csv.*storage.googleapis.com/openimages/v6/'),
    (openimages_v6.LABEL_FILES['train'],
     'oidv6-train-annotations-human-imagelabels.csv.*download'),
    (openimages_v6.LABEL_FILES['test'],
     'v5/test-annotations-human-imagelabels.csv'),
    ('test', r'no image folder .*test.*cvdfoundation'),
    ('train/a1.jpg', r"1 of the 3 labeled images of split 'train' are "
                     r'missing.*a1\.jpg'),
])
def test_missing_files_fail_fast(root, missing, match):
  path = root / missing
  if path.is_dir():
    for f in path.iterdir():
      f.unlink()
    path.rmdir()
  else:
    path.unlink()
  with pytest.raises(FileNotFoundError, match=match):
    sources.load(_cfg(root))


def test_bad_options_and_files(root):
  with pytest.raises(ValueError, match='image_size'):
    sources.load(_cfg(root, image_size=None))
  with pytest.raises(ValueError, match='oi_classes'):
    sources.load(_cfg(root, oi_classes='boxable'))
  with pytest.raises(ValueError, match="unknown split 'val'"):
    sources.load(_cfg(root, test_split='val'))
  with pytest.raises(FileNotFoundError, match='validation-annotations'):
    sources.load(_cfg(root, test_split='validation'))
  (root / openimages_v6.TRAINABLE_CLASSES).unlink()
  with pytest.raises(FileNotFoundError, match='oidv6-classes-trainable.txt'):
    sources.load(_cfg(root, oi_classes='trainable'))
  (root / openimages_v6.LABEL_FILES['test']).write_text('ImageID,Label\nt1,x\n')
  with pytest.raises(ValueError, match='columns ImageID,Source'):
    sources.load(_cfg(root))
  (root / openimages_v6.LABEL_FILES['test']).write_text(
      'ImageID,Source,LabelName,Confidence\nt1,machine,/m/a,1\n')
  with pytest.raises(ValueError, match='no human-verified label'):
    sources.load(_cfg(root))
