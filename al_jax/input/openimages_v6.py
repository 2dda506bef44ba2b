"""`openimages_v6:<dir>` source: Open Images v6 from its official CSV files.

Paper 000 (section 3.2, Table 1) uses Open Images v6 with human-verified
image-level labels only; TFDS has no v6 builder (only open_images_v4), so this
source reads the files Open Images publishes
(https://storage.googleapis.com/openimages/web/download_v6.html):

  <dir>/oidv6-class-descriptions.csv     LabelName,DisplayName: the classes
  <dir>/oidv6-classes-trainable.txt      one LabelName a line (optional)
  <dir>/oidv6-train-annotations-human-imagelabels.csv   the labels of a split:
  <dir>/validation-annotations-human-imagelabels.csv    ImageID,Source,
  <dir>/test-annotations-human-imagelabels.csv          LabelName,Confidence
  <images_dir>/<ImageID>.jpg             images; images_dir: '<dir>/{split}'

Labels: only rows with Source 'verification' or 'crowdsource-verification'
(human-verified) count; machine-generated rows ('machine', e.g. from
*-machine-imagelabels.csv appended by hand) are dropped. Confidence 1 is a
positive (1), 0 a negative (0); every class without a human answer for an
image is unannotated (-1). If two human rows disagree, positive wins. Images
with no human-verified label in the chosen classes are not in the data set.
Nothing is ever downloaded: a missing file stops the load at once, naming the
file and where to download it.
"""

import array
import concurrent.futures
import csv
import os

from absl import logging
import numpy as np

from al_jax.input import dataset
from al_jax.input import sparse_labels

HUMAN_SOURCES = ('verification', 'crowdsource-verification')
CLASS_DESCRIPTIONS = 'oidv6-class-descriptions.csv'
TRAINABLE_CLASSES = 'oidv6-classes-trainable.txt'
LABEL_FILES = {
    'train': 'oidv6-train-annotations-human-imagelabels.csv',
    'validation': 'validation-annotations-human-imagelabels.csv',
    'test': 'test-annotations-human-imagelabels.csv',
}
_URLS = {
    CLASS_DESCRIPTIONS: 'https://storage.googleapis.com/openimages/v6/',
    TRAINABLE_CLASSES: 'https://storage.googleapis.com/openimages/v6/',
    LABEL_FILES['train']: 'https://storage.googleapis.com/openimages/v6/',
    LABEL_FILES['validation']: 'https://storage.googleapis.com/openimages/v5/',
    LABEL_FILES['test']: 'https://storage.googleapis.com/openimages/v5/',
}
_IMAGES_HELP = (
    'Download the images of that split (e.g. with the AWS CLI, as described '
    'at https://github.com/cvdfoundation/open-images-dataset) and unpack '
    "them as <ImageID>.jpg into one folder per split, or set "
    "config.input.images_dir (a path; '{split}' in it is replaced by the "
    'split name).')
_COLUMNS = ('ImageID', 'Source', 'LabelName', 'Confidence')
_DECODE_CHUNK = 1024  # Images decoded per batch of thread-pool tasks.


def _require_file(root: str, name: str) -> str:
  """The path of `name` in `root`; FileNotFoundError naming what to fetch."""
  path = os.path.join(root, name)
  if not os.path.isfile(path):
    raise FileNotFoundError(
        f'openimages_v6: missing {path}. al_jax never downloads; on a machine '
        f'with internet download {_URLS[name]}{name} and put it in {root}.')
  return path


def read_classes(root: str, which: str = 'all') -> tuple[list[str], list[str]]:
  """The classes, in the order of the class-descriptions file.

  Args:
    root: folder holding oidv6-class-descriptions.csv (with or without its
      `LabelName,DisplayName` header) and, for 'trainable', the
      oidv6-classes-trainable.txt file.
    which: 'all' (every class of the descriptions file) or 'trainable' (only
      those listed in oidv6-classes-trainable.txt, in descriptions order).

  Returns:
    (label names [C], e.g. '/m/0dzct'; display names [C]).
  """
  if which not in ('all', 'trainable'):
    raise ValueError(f"openimages_v6: oi_classes must be 'all' or 'trainable', "
                     f'got {which!r}.')
  with open(_require_file(root, CLASS_DESCRIPTIONS), newline='',
            encoding='utf-8') as f:
    rows = [r for r in csv.reader(f) if r and r[0] != 'LabelName']
  mids = [r[0] for r in rows]
  names = [r[1] if len(r) > 1 else '' for r in rows]
  if len(set(mids)) != len(mids):
    raise ValueError(f'openimages_v6: {CLASS_DESCRIPTIONS} lists a class '
                     'twice.')
  if which == 'trainable':
    with open(_require_file(root, TRAINABLE_CLASSES), encoding='utf-8') as f:
      trainable = {line.strip() for line in f if line.strip()}
    unknown = trainable - set(mids)
    if unknown:
      raise ValueError(f'openimages_v6: {len(unknown)} classes of '
                       f'{TRAINABLE_CLASSES} are not in {CLASS_DESCRIPTIONS}, '
                       f'e.g. {sorted(unknown)[:3]}; are both from v6?')
    keep = [i for i, m in enumerate(mids) if m in trainable]
    mids, names = [mids[i] for i in keep], [names[i] for i in keep]
  return mids, names


def read_labels(path: str, class_index: dict[str, int]):
  """Reads the human-verified labels of one image-labels CSV file.

  Args:
    path: a *-annotations-human-imagelabels.csv file (columns ImageID,
      Source, LabelName, Confidence).
    class_index: LabelName -> class id; rows of other classes are dropped.

  Returns:
    image_ids: [N] sorted ImageIDs with >= 1 kept label; and the P kept
    labels as image [P] int64 (index into image_ids), label [P] int64 (class
    id) and value [P] int8 (1 positive, 0 negative).
  """
  ids = {}  # ImageID -> index in order of first appearance.
  # Compact typed arrays: the train file has 57.5M human-verified rows.
  image, label, value = array.array('q'), array.array('q'), array.array('b')
  dropped = {'not human-verified': 0, 'class not chosen': 0,
             'confidence not 0 or 1': 0}
  with open(path, newline='', encoding='utf-8') as f:
    reader = csv.reader(f)
    header = next(reader, [])
    if not set(_COLUMNS) <= set(header):
      raise ValueError(f'openimages_v6: {path} must have the columns '
                       f'{",".join(_COLUMNS)}; its header is {header}.')
    cols = [header.index(c) for c in _COLUMNS]
    for row in reader:
      image_id, source, mid, confidence = (row[c] for c in cols)
      if source not in HUMAN_SOURCES:
        dropped['not human-verified'] += 1
        continue
      c = class_index.get(mid)
      if c is None:
        dropped['class not chosen'] += 1
        continue
      answer = float(confidence)
      if answer not in (0.0, 1.0):
        dropped['confidence not 0 or 1'] += 1
        continue
      image.append(ids.setdefault(image_id, len(ids)))
      label.append(c)
      value.append(int(answer))
  logging.info('openimages_v6: %s: kept %d labels on %d images; dropped %s',
               path, len(value), len(ids), dropped)
  if not ids:
    raise ValueError(f'openimages_v6: {path} has no human-verified label of '
                     f'the chosen classes (rows dropped: {dropped}).')
  first_seen = np.asarray(list(ids))  # ImageIDs in order of appearance.
  order = np.argsort(first_seen, kind='stable')
  rank = np.empty(len(order), np.int64)
  rank[order] = np.arange(len(order))  # Appearance index -> sorted index.
  return (first_seen[order].tolist(), rank[np.frombuffer(image, np.int64)],
          np.frombuffer(label, np.int64), np.frombuffer(value, np.int8))


def row_labels(image, label, value, rows: np.ndarray,
               num_classes: int) -> sparse_labels.SparseLabels:
  """[K, C] labels (-1 unannotated) of the images `rows` [K], as their pair
  list; a pair verified both ways counts as positive."""
  where = np.full(int(image.max()) + 1, -1, np.int64)
  where[rows] = np.arange(len(rows))
  sel = where[image] >= 0
  row, cls, val = where[image[sel]], label[sel], value[sel]
  order = np.lexsort((val, cls, row))  # The largest value of a pair last.
  row, cls, val = row[order], cls[order], val[order]
  last = np.r_[(np.diff(row) != 0) | (np.diff(cls) != 0), True]
  return sparse_labels.SparseLabels.from_pairs(
      row[last], cls[last], val[last], len(rows), num_classes)


def _decode(path: str, size: int) -> np.ndarray:
  """A JPEG file -> [size, size, 3] uint8 RGB (bilinear, like tfds_source)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  try:
    with Image.open(path) as im:
      im.draft('RGB', (size, size))  # JPEG: decode at a reduced scale >= size.
      im = im.convert('RGB')
      return np.asarray(im.resize((size, size), Image.Resampling.BILINEAR))
  except OSError as error:
    raise ValueError(f'cannot decode the image {path}: {error}') from error


def read_images(paths: list[str], size: int) -> np.ndarray:
  """Decodes images [K] in threads (PIL releases the GIL) -> [K, S, S, 3]."""
  x = np.empty((len(paths), size, size, 3), np.uint8)
  workers = min(32, os.cpu_count() or 1)
  with concurrent.futures.ThreadPoolExecutor(workers) as ex:
    for start in range(0, len(paths), _DECODE_CHUNK):
      chunk = paths[start:start + _DECODE_CHUNK]
      for i, image in enumerate(ex.map(_decode, chunk, [size] * len(chunk))):
        x[start + i] = image
  return x


def _image_folder(images_dir: str, split: str) -> str:
  """The image folder of `split`; FileNotFoundError if there is none."""
  folder = images_dir.replace('{split}', split)
  if not os.path.isdir(folder):
    raise FileNotFoundError(f'openimages_v6: no image folder {folder} for '
                            f'split {split!r}. {_IMAGES_HELP}')
  return folder


def _image_paths(folder: str, split: str, ids: list[str]) -> list[str]:
  """The image files of `ids`; FileNotFoundError if any is missing."""
  paths = [os.path.join(folder, f'{i}.jpg') for i in ids]
  missing = [p for p in paths if not os.path.isfile(p)]
  if missing:
    raise FileNotFoundError(
        f'openimages_v6: {len(missing)} of the {len(paths)} labeled images of '
        f'split {split!r} are missing, e.g. {missing[:3]}. {_IMAGES_HELP}')
  return paths


def load_openimages_v6(cfg, root: str) -> dataset.Dataset:
  """Loads Open Images v6 (human-verified image-level labels) into memory.

  Args:
    cfg: config; fields `image_size` (required: images are resized to this
      square), `train_split` ('train'), `test_split` ('test'; 'validation'
      also works; empty: split train by `test_fraction`), `oi_classes`
      ('all': every class of oidv6-class-descriptions.csv, in its order;
      the paper counts the 19,957 with a human-verified label, and a class
      never labeled stays -1 everywhere; 'trainable': only the 9,605
      classes of oidv6-classes-trainable.txt), `images_dir`
      ('<root>/{split}'), `seed`, `max_train_examples` (a seeded subset of
      the labeled train images; only those are decoded). All images are held
      in memory: subsample the 9M train images with `max_train_examples`.
    root: the folder holding the CSV files listed in the module docstring.

  Returns:
    multilabel Dataset: uint8 [N, S, S, 3] images, [N, C] int8 labels in
    {-1 unannotated, 0 negative, 1 positive} held as their pair list
    (`sparse_labels`); rows in sorted ImageID order.

  Raises:
    FileNotFoundError: a CSV file, an image folder or an image is missing
      (all checked before the CSV files are read, except the images, checked
      before decoding); the message names the file and where to download it.
    ValueError: no image_size, an unknown split or oi_classes, a CSV file
      without the expected columns or without any human-verified label.
  """
  size = dataset.config_value(cfg, 'image_size')
  if size is None:
    raise ValueError('openimages_v6: set config.input.image_size (Open Images '
                     'images vary in size).')
  splits = [dataset.config_value(cfg, 'train_split', 'train')]
  test_split = dataset.config_value(cfg, 'test_split', 'test')
  splits += [test_split] if test_split else []
  unknown = [s for s in splits if s not in LABEL_FILES]
  if unknown:
    raise ValueError(f'openimages_v6: unknown split {unknown[0]!r}; valid: '
                     f'{sorted(LABEL_FILES)}.')
  images_dir = dataset.config_value(cfg, 'images_dir',
                                    os.path.join(root, '{split}'))
  mids, _ = read_classes(root, dataset.config_value(cfg, 'oi_classes', 'all'))
  label_paths = [_require_file(root, LABEL_FILES[s]) for s in splits]
  # Fail before the slow reading of the CSV files.
  folders = [_image_folder(images_dir, s) for s in splits]
  class_index = {m: c for c, m in enumerate(mids)}
  seed = dataset.config_value(cfg, 'seed', 0)
  parts = []
  for i, (split, path, folder) in enumerate(zip(splits, label_paths,
                                                folders)):
    ids, image, label, value = read_labels(path, class_index)
    rows = np.arange(len(ids))
    if i == 0 and test_split:  # Subsample before decoding, as tfds_source.
      rows = dataset.subsample_indices(
          len(ids), dataset.config_value(cfg, 'max_train_examples'), seed)
    if i == 0:
      train_ids = [ids[r] for r in rows]  # Open Images' own image IDs.
    paths = _image_paths(folder, split, [ids[r] for r in rows])
    parts += [read_images(paths, size),
              row_labels(image, label, value, rows, len(mids))]
  fields = dict(num_classes=len(mids), name=f'openimages_v6:{root}',
                multilabel=True)
  if not test_split:
    return dataset.split_train_test(cfg, *parts,
                                    ids_train=np.asarray(train_ids), **fields)
  return dataset.Dataset(*parts, ids_train=np.asarray(train_ids), **fields)
