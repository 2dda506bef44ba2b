"""`tfds:<name>` source: a prepared TFDS data set read without TensorFlow.

Records are read through `tfds.data_source` (random-access ArrayRecord files)
into numpy arrays. Nothing is ever downloaded: on machines without internet a
download attempt would only fail late or hang, so an unprepared data set is
reported at once with instructions to prepare it elsewhere.
"""

import numpy as np
import tensorflow_datasets as tfds
from tensorflow_datasets.core import constants

from al_jax.input import sources

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


def _read(source, indices: np.ndarray, image_key: str, label_key: str,
          where: str):
  """Reads records into arrays.

  Args:
    source: a data source (Sequence of feature dicts).
    indices: [K] record indices to read.
    image_key: feature holding [H, W, C] images (or [F] feature vectors).
    label_key: feature holding the scalar class id.
    where: description for error messages.

  Returns:
    x: [K, H, W, C] (or [K, F]) stacked inputs, y: [K] int32 labels.
  """
  if len(indices) == 0:
    raise ValueError(f'{where} is empty.')
  xs, ys = [], []
  for start in range(0, len(indices), _READ_CHUNK):
    # One record at a time: the batched `__getitems__` reads ~2x faster but is
    # broken under `tfds.testing.mock_data` (tfds 4.9) and absent from
    # list-like sources; reading stays a small one-off cost (~60 us/record).
    examples = [source[int(i)] for i in indices[start:start + _READ_CHUNK]]
    for key in (image_key, label_key):
      if key not in examples[0]:
        raise KeyError(f'{where}: no feature {key!r}; features: '
                       f'{sorted(examples[0])}')
    shapes = {np.shape(ex[image_key]) for ex in examples}
    if len(shapes) > 1:
      raise ValueError(f'{where}: {image_key!r} has varying shapes '
                       f'{sorted(shapes)[:3]}...; only fixed-size inputs are '
                       'supported.')
    xs.append(np.stack([np.asarray(ex[image_key]) for ex in examples]))
    ys.append(np.asarray([ex[label_key] for ex in examples], np.int32))
  return np.concatenate(xs), np.concatenate(ys)


def _num_classes(name: str, data_dir: str | None, label_key: str) -> int:
  features = tfds.builder(name, data_dir=data_dir).info.features
  if label_key not in features:
    raise KeyError(f'TFDS data set {name!r}: no feature {label_key!r}; '
                   f'features: {sorted(features.keys())}')
  num_classes = getattr(features[label_key], 'num_classes', None)
  if num_classes is None:
    raise ValueError(f'TFDS data set {name!r}: feature {label_key!r} is not a '
                     'ClassLabel, so the number of classes is unknown.')
  return int(num_classes)


def load_tfds(cfg, name: str) -> sources.Dataset:
  """Loads a prepared TFDS data set into memory.

  Args:
    cfg: config; fields `data_dir` (None: TFDS default), `train_split`
      ('train'), `test_split` ('test'; empty: split train by `test_fraction`),
      `image_key` ('image'), `label_key` ('label'), `seed`,
      `max_train_examples` (only those records are read).
    name: TFDS name, e.g. 'mnist' or 'cifar10:3.0.2'.

  Returns:
    Dataset with uint8 [N, H, W, C] images and [N] int32 labels.

  Raises:
    DatasetNotPreparedError: (a FileNotFoundError) the data set is not in
      data_dir; raised immediately, without any network access.
    ValueError: prepared in a format without random access (e.g. tfrecord).
  """
  data_dir = sources.config_value(cfg, 'data_dir')
  image_key = sources.config_value(cfg, 'image_key', 'image')
  label_key = sources.config_value(cfg, 'label_key', 'label')
  train_split = sources.config_value(cfg, 'train_split', 'train')
  test_split = sources.config_value(cfg, 'test_split', 'test')
  seed = sources.config_value(cfg, 'seed', 0)

  train = _open(name, train_split, data_dir)
  num_classes = _num_classes(name, data_dir, label_key)
  # Subsample before reading, as decoding is the slow part of big splits
  # (not when train is split further: `load` subsamples after the split).
  max_train = sources.config_value(cfg, 'max_train_examples')
  keep = sources.subsample_indices(len(train), max_train if test_split else None,
                                   seed)
  x, y = _read(train, keep, image_key, label_key, f'tfds:{name}[{train_split}]')
  if test_split:
    test = _open(name, test_split, data_dir)
    x_test, y_test = _read(test, np.arange(len(test)), image_key, label_key,
                           f'tfds:{name}[{test_split}]')
    parts = (x, y, x_test, y_test)
  else:
    parts = sources.split_train_test(
        x, y, sources.config_value(cfg, 'test_fraction', 0.2), seed)
  where = f'tfds:{name}'
  parts = (sources.as_model_inputs(parts[0], where), parts[1],
           sources.as_model_inputs(parts[2], where), parts[3])
  return sources.Dataset(*parts, num_classes=num_classes, name=f'tfds:{name}')
