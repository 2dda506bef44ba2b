"""`tfds:<name>` source: a prepared TFDS data set read without TensorFlow.

Records are read through `tfds.data_source` (random-access ArrayRecord files)
into numpy arrays. Nothing is ever downloaded: on machines without internet a
download attempt would only fail late or hang, so an unprepared data set is
reported at once with instructions to prepare it elsewhere.
"""

import numpy as np
import tensorflow_datasets as tfds
from tensorflow_datasets.core import constants

from al_jax.input import dataset
from al_jax.input import sparse_labels

# Records decoded per stacking step: bounds the list of decoded dicts in memory.
_READ_CHUNK = 1024
_RANDOM_ACCESS_FORMATS = ('array_record', 'parquet')


class DatasetNotPreparedError(FileNotFoundError):
  """The TFDS data set is not prepared in the data directory."""


def _not_prepared_message(name: str, data_dir: str) -> str:
  return (
      f'TFDS data set {name!r} is not prepared in data_dir={data_dir!r}, and '
      'al_jax never downloads (download=False). On a machine with internet '
      '(and TensorFlow, which most builders need to encode data), prepare it '
      'in ArrayRecord format, the random-access format tfds.data_source '
      'reads, and copy the result into data_dir:\n'
      f'  tfds build {name} --data_dir={data_dir} --file_format=array_record\n'
      f'or in Python: tfds.builder({name!r}, data_dir={data_dir!r}, '
      "file_format='array_record').download_and_prepare()")


def _explain_open_failure(name: str, data_dir: str | None,
                          error: Exception) -> None:
  """Raises a clear error if `error` comes from a missing or unusable build.

  tfds reports a missing data set misleadingly (e.g. as an unsupported
  TFRECORD format), so the builder is inspected after the fact. Returns
  normally when the data set looks fine, so the caller re-raises `error`.
  """
  where = data_dir or constants.DATA_DIR
  try:
    builder = tfds.builder(name, data_dir=data_dir)
    prepared = builder.is_prepared()
  except ValueError:  # DatasetNotFoundError: no code and no files by that name.
    prepared = False
  if not prepared:
    raise DatasetNotPreparedError(_not_prepared_message(name, where)) from error
  file_format = builder.info.file_format
  if file_format and file_format.value not in _RANDOM_ACCESS_FORMATS:
    raise ValueError(
        f'TFDS data set {name!r} in data_dir={where!r} is prepared as '
        f'{file_format.value}, which has no random access. Rebuild it with '
        f'file_format=\'array_record\':\n  tfds build {name} '
        f'--data_dir={where} --file_format=array_record') from error


def _open(name: str, split: str, data_dir: str | None):
  """Returns the random-access data source of one split."""
  try:
    return tfds.data_source(name, split=split, data_dir=data_dir,
                            download=False)
  # tfds signals a missing data set in many ways (NotImplementedError,
  # KeyError on empty splits, DatasetNotFoundError, ...) depending on the data
  # dir, so any error is diagnosed; genuine ones are re-raised unchanged.
  except Exception as error:  # pylint: disable=broad-exception-caught
    _explain_open_failure(name, data_dir, error)
    raise


# Open Images image-level labels as TFDS open_images_v4 stores them (see its
# builder, `open_images_v4_dataset_builder.py`): `objects` merges the
# human-verified CSV rows with the machine-generated ones. Each entry has a
# `label` (ClassLabel), a `confidence` stored as int(conf * 10), so 0..10, and
# a `source` ClassLabel whose names are ['verification',
# 'crowdsource-verification', 'machine', 'freeform', 'xclick', 'activemil'].
HUMAN_SOURCES = ('verification', 'crowdsource-verification')
# Ids of HUMAN_SOURCES in that ClassLabel; `_label_feature` reads the real ids
# from the data set's own feature spec.
_OPEN_IMAGES_HUMAN_IDS = (0, 1)
_VERIFIED_POSITIVE = 10  # Confidence 1.0 on the int(conf * 10) scale.


def _label(value, num_classes: int,
           human_sources: tuple[int, ...] = _OPEN_IMAGES_HUMAN_IDS
           ) -> np.ndarray:
  """A record's label: a class id, or a [C] int8 multi-label row.

  Multi-label features are sequences of {'label', 'confidence', 'source'} in
  the Open Images layout above (the image-level `objects` of
  open_images_v4). Only human-verified entries count, as in the paper
  (paper 000 section 3.2, Table 1): an entry whose source is in
  `human_sources` is positive (1) when its confidence is 10 (1.0) and
  negative (0) when it is 0. Machine-generated entries are ignored, so a
  class only the machine listed stays unannotated (-1), and a human answer
  for a class always wins over a machine entry for the same class. Every
  other class is unannotated (-1). If two human entries disagree, positive
  wins.

  Args:
    value: a class id, or a dict of [K] arrays 'label', 'confidence' and
      'source'.
    num_classes: C.
    human_sources: the `source` ids of human-verified entries.

  Returns:
    np.int32 class id, or [C] int8 in {-1, 0, 1}.
  """
  if not isinstance(value, dict):
    return np.int32(value)
  row = np.full(num_classes, -1, np.int8)
  labels = np.asarray(value['label'], np.int64)
  confidence = np.asarray(value['confidence'])
  human = np.isin(np.asarray(value['source']), human_sources)
  answered = human & ((confidence == 0) | (confidence == _VERIFIED_POSITIVE))
  positive = confidence[answered] == _VERIFIED_POSITIVE
  np.maximum.at(row, labels[answered], positive.astype(np.int8))
  return row


def _resize(image: np.ndarray, size: int | None) -> np.ndarray:
  """[H, W, C] uint8 -> [size, size, C] (bilinear, antialiased); None keeps."""
  if size is None or image.shape[:2] == (size, size):
    return np.asarray(image)
  from PIL import Image  # pylint: disable=g-import-not-at-top
  squeeze = image.shape[-1] == 1
  pil = Image.fromarray(image[..., 0] if squeeze else image)
  out = np.asarray(pil.resize((size, size), Image.Resampling.BILINEAR))
  return out[..., None] if squeeze else out


def _read(source, indices: np.ndarray, keys: tuple[str, str],
          num_classes: int, human_sources: tuple[int, ...],
          image_size: int | None, where: str):
  """Reads records into arrays.

  Args:
    source: a data source (Sequence of feature dicts).
    indices: [K] record indices to read.
    keys: (image_key, label_key): the feature holding [H, W, C] images (or
      [F] feature vectors) and the one holding the label (see `_label`).
    num_classes: C.
    human_sources: `source` ids of human-verified multi-label entries.
    image_size: resize images to this square size (None: keep; then all
      images must have the same shape).
    where: description for error messages.

  Returns:
    x: [K, H, W, C] (or [K, F]) stacked inputs, y: [K] int32 labels (or
    [K, C] int8 multi-label rows as `sparse_labels.SparseLabels`).
  """
  if len(indices) == 0:
    raise ValueError(f'{where} is empty.')
  image_key, label_key = keys
  xs, ys = [], []
  for start in range(0, len(indices), _READ_CHUNK):
    # One record at a time: the batched `__getitems__` reads ~2x faster but is
    # broken under `tfds.testing.mock_data` (tfds 4.9) and absent from
    # list-like sources; reading stays a small one-off cost (~60 us/record).
    examples = [source[int(i)] for i in indices[start:start + _READ_CHUNK]]
    for key in keys:
      if key not in examples[0]:
        raise KeyError(f'{where}: no feature {key!r}; features: '
                       f'{sorted(examples[0])}')
    images = [_resize(np.asarray(ex[image_key]), image_size)
              for ex in examples]
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
      raise ValueError(f'{where}: {image_key!r} has varying shapes '
                       f'{sorted(shapes)[:3]}...; set config.input.image_size '
                       'to resize them.')
    xs.append(np.stack(images))
    y = np.stack([_label(ex[label_key], num_classes, human_sources)
                  for ex in examples])
    # Multi-label rows are kept as their pairs: [N, C] may not fit.
    ys.append(y if y.ndim == 1 else sparse_labels.SparseLabels.from_dense(y))
  if ys[0].ndim == 2:
    return np.concatenate(xs), sparse_labels.concatenate(ys)
  return np.concatenate(xs), np.concatenate(ys)


def _label_feature(name: str, data_dir: str | None, label_key: str):
  """(num_classes, multilabel, human source ids) of the label feature."""
  features = tfds.builder(name, data_dir=data_dir).info.features
  if label_key not in features:
    raise KeyError(f'TFDS data set {name!r}: no feature {label_key!r}; '
                   f'features: {sorted(features.keys())}')
  feature = features[label_key]
  multilabel = isinstance(feature, tfds.features.Sequence)
  human_sources = ()
  if multilabel:  # Sequence({'label', 'confidence', 'source'}).
    human_sources = _human_source_ids(name, label_key, feature.feature)
    feature = feature.feature['label']
  num_classes = getattr(feature, 'num_classes', None)
  if num_classes is None:
    raise ValueError(f'TFDS data set {name!r}: feature {label_key!r} is not a '
                     'ClassLabel (or a sequence of them), so the number of '
                     'classes is unknown.')
  return int(num_classes), multilabel, human_sources


def _human_source_ids(name: str, label_key: str, entry) -> tuple[int, ...]:
  """Ids of HUMAN_SOURCES in the `source` ClassLabel of a multi-label entry."""
  keys = set(entry.keys()) if hasattr(entry, 'keys') else set()
  if not {'label', 'confidence', 'source'} <= keys:
    raise ValueError(
        f'TFDS data set {name!r}: multi-label feature {label_key!r} must be a '
        "sequence of {'label', 'confidence', 'source'} as in open_images_v4 "
        f'(only human-verified entries are kept); it has {sorted(keys)}.')
  names = list(getattr(entry['source'], 'names', None) or ())
  ids = tuple(names.index(s) for s in HUMAN_SOURCES if s in names)
  if not ids:
    raise ValueError(
        f'TFDS data set {name!r}: the `source` of {label_key!r} names none of '
        f'the human-verified sources {HUMAN_SOURCES}; names: {names}.')
  return ids


def load_tfds(cfg, name: str) -> dataset.Dataset:
  """Loads a prepared TFDS data set into memory.

  Args:
    cfg: config; fields `data_dir` (None: TFDS default), `train_split`
      ('train'), `test_split` ('test'; empty: split train by `test_fraction`),
      `image_key` ('image'), `label_key` ('label'; a sequence of {label,
      confidence} makes a multi-label data set), `image_size` (None; resize
      images to a square of this size), `seed`, `max_train_examples` (only
      those records are read). All images are held in memory: for data sets
      larger than RAM subsample with `max_train_examples`.
    name: TFDS name, e.g. 'mnist' or 'cifar10:3.0.2'.

  Returns:
    Dataset with uint8 [N, H, W, C] images and [N] int32 labels (multi-label:
    [N, C] int8 in {-1, 0, 1}).

  Raises:
    DatasetNotPreparedError: (a FileNotFoundError) the data set is not in
      data_dir; raised immediately, without any network access.
    ValueError: prepared in a format without random access (e.g. tfrecord).
  """
  data_dir = dataset.config_value(cfg, 'data_dir')
  image_key = dataset.config_value(cfg, 'image_key', 'image')
  label_key = dataset.config_value(cfg, 'label_key', 'label')
  train_split = dataset.config_value(cfg, 'train_split', 'train')
  test_split = dataset.config_value(cfg, 'test_split', 'test')
  seed = dataset.config_value(cfg, 'seed', 0)

  train = _open(name, train_split, data_dir)
  num_classes, multilabel, human_sources = _label_feature(name, data_dir,
                                                          label_key)
  read = dict(keys=(image_key, label_key), num_classes=num_classes,
              human_sources=human_sources,
              image_size=dataset.config_value(cfg, 'image_size'))
  # Subsample before reading, as decoding is the slow part of big splits
  # (not when train is split further: `load` subsamples after the split).
  max_train = dataset.config_value(cfg, 'max_train_examples')
  keep = dataset.subsample_indices(len(train), max_train if test_split else None,
                                   seed)
  x, y = _read(train, keep, where=f'tfds:{name}[{train_split}]', **read)
  if test_split:
    test = _open(name, test_split, data_dir)
    x_test, y_test = _read(test, np.arange(len(test)),
                           where=f'tfds:{name}[{test_split}]', **read)
  where = f'tfds:{name}'
  fields = dict(num_classes=num_classes, name=where, multilabel=multilabel,
                version=str(train.dataset_info.version)
                if hasattr(train, 'dataset_info') else '')
  if test_split:
    return dataset.Dataset(
        dataset.as_model_inputs(x, where), y,
        dataset.as_model_inputs(x_test, where), y_test,
        ids_train=keep.astype(str), **fields)
  return dataset.split_train_test(cfg, dataset.as_model_inputs(x, where), y,
                                  **fields)
