"""Pools larger than memory: encoded images in ArrayRecord files, decoded
only when a batch asks for them.

  arrayrecord:<dir>   <dir>/<split>.array_record   one PNG or JPEG per record
                      <dir>/<split>.npz            y [N] class ids, or the
                                                   multi-label pair list
                                                   (indptr [N + 1],
                                                   pair_class [P],
                                                   pair_label [P]: see
                                                   `sparse_labels`), ids [N],
                                                   num_classes, optional
                                                   class_names
                      for split train and test (`write` makes both).

`RecordArray` stands in for a Dataset's [N, H, W, C] uint8 image array:
indexing decodes only the rows asked for (a thread pool: PIL releases the
GIL), and `lazy_rows` is a view that decodes nothing. Training batches, the
pool pass and a strategy's model inputs therefore read from disk, and host
memory stays flat in N (tested: `tests/test_records.py` runs the active job
in a subprocess on pools of two sizes and bounds the growth of its peak
resident memory).

In training batches and the pool pass, each process of a multi-process job
decodes only the rows its own devices hold (`sharding.process_span`; a
strategy's own model inputs, e.g. for gradients, are read whole), and the
pool pass can decode in grain worker processes ahead of the devices
(``input.workers``, `stream`). Training batches decode in threads as each
step asks for them.

Dimensions: N rows, S image edge, C channels.
"""

import concurrent.futures
import functools
import io
import os

import numpy as np

from al_jax.input import dataset
from al_jax.input import sparse_labels

SPLITS = ('train', 'test')


def _decode(record: bytes, size: int) -> np.ndarray:
  from PIL import Image  # pylint: disable=g-import-not-at-top
  with Image.open(io.BytesIO(record)) as im:
    im = im.convert('RGB')
    if im.size != (size, size):
      im = im.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(im)


@functools.cache
def _decoders() -> concurrent.futures.ThreadPoolExecutor:
  """The process's decoding threads (one per core; PIL releases the GIL),
  made on first use and shared by every RecordArray (train, test, views)."""
  return concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1)


class RecordArray:
  """[N, S, S, 3] uint8 images of an ArrayRecord file, decoded on access.

  Args:
    path: the .array_record file.
    size: S, the edge images are decoded (and resized) to.
    rows: the file's records this array shows, in order (None: all).
    workers: grain worker processes that decode the pool pass
      (`stream.pool_batches`); 0 decodes in threads of this process.
  """

  def __init__(self, path: str, size: int, rows: np.ndarray | None = None,
               workers: int = 0):
    self.path, self.size, self.workers = path, size, int(workers)
    self._open()
    self._rows = (np.arange(len(self._source)) if rows is None
                  else np.asarray(rows, np.int64))

  def _open(self):
    from array_record.python import array_record_data_source  # pylint: disable=g-import-not-at-top
    self._source = array_record_data_source.ArrayRecordDataSource([self.path])

  def __getstate__(self):  # Sent to grain workers: they reopen the file.
    return {k: v for k, v in self.__dict__.items() if k != '_source'}

  def __setstate__(self, state):
    self.__dict__.update(state)
    self._open()

  @property
  def shape(self) -> tuple[int, ...]:
    return (len(self._rows), self.size, self.size, 3)

  dtype = np.dtype(np.uint8)
  ndim = 4

  def __len__(self) -> int:
    return len(self._rows)

  def lazy_rows(self, rows) -> 'RecordArray':
    """A view of `rows` ([K] positions in this array) that decodes nothing."""
    view = RecordArray.__new__(RecordArray)
    view.__dict__.update(self.__dict__)
    view._rows = self._rows[np.asarray(rows, np.int64)]  # pylint: disable=protected-access
    return view

  def __getitem__(self, key) -> np.ndarray:
    """Decodes the rows of `key` (an int, a slice or an index array)."""
    if isinstance(key, (int, np.integer)):
      return _decode(self._source[int(self._rows[key])], self.size)
    rows = self._rows[key]
    out = np.empty((len(rows), self.size, self.size, 3), np.uint8)
    if not len(rows):
      return out
    records = self._source.__getitems__(rows.tolist())
    for i, image in enumerate(_decoders().map(
        _decode, records, [self.size] * len(records))):
      out[i] = image
    return out

  def __array__(self, dtype=None, copy=None):
    raise TypeError(f'{self.path}: a RecordArray is not turned into one '
                    'array (it may not fit in memory); index the rows needed.')


def write(folder: str, split: str, images, y, ids: np.ndarray,
          num_classes: int, class_names=None, image_format: str = 'PNG'):
  """Writes one split: encoded `images` (an iterable of [S, S, 3] uint8),
  their labels ([N] class ids, or multi-label `SparseLabels`) and IDs."""
  from array_record.python import array_record_module  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  os.makedirs(folder, exist_ok=True)
  writer = array_record_module.ArrayRecordWriter(
      os.path.join(folder, f'{split}.array_record'), 'group_size:1')
  n = 0
  for image in images:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format=image_format)
    writer.write(buf.getvalue())
    n += 1
  writer.close()
  if n != len(y) or n != len(ids):
    raise ValueError(f'{n} images, {len(y)} labels, {len(ids)} IDs.')
  extra = {} if class_names is None else {'class_names': class_names}
  if isinstance(y, sparse_labels.SparseLabels):
    extra.update(indptr=y.indptr, pair_class=y.cls, pair_label=y.value)
  else:
    extra.update(y=y)
  np.savez(os.path.join(folder, f'{split}.npz'), ids=ids,
           num_classes=num_classes, **extra)


def load(cfg, folder: str) -> dataset.Dataset:
  """The `arrayrecord:<dir>` source (module docstring); images decode to
  input.image_size (default: the first image's edge), the pool pass in
  input.workers grain processes (0: threads here)."""
  meta = {}
  for split in SPLITS:
    for ext in ('array_record', 'npz'):
      path = os.path.join(folder, f'{split}.{ext}')
      if not os.path.isfile(path):
        raise FileNotFoundError(f'arrayrecord source: no {path} (see '
                                'al_jax/input/records.py for the layout).')
    with np.load(os.path.join(folder, f'{split}.npz')) as z:
      meta[split] = dict(z)
  train_path = os.path.join(folder, 'train.array_record')
  size = dataset.config_value(cfg, 'image_size') or _first_edge(train_path)
  num_classes = int(meta['train']['num_classes'])
  y, y_test = (_labels(meta[s], num_classes) for s in SPLITS)
  names = meta['train'].get('class_names')
  workers = dataset.config_value(cfg, 'workers', 0)
  return dataset.Dataset(
      RecordArray(train_path, size, workers=workers), y,
      RecordArray(os.path.join(folder, 'test.array_record'), size,
                  workers=workers),
      y_test, num_classes=num_classes,
      name=f'arrayrecord:{folder}', multilabel=y.ndim == 2,
      ids_train=meta['train']['ids'],
      class_names=None if names is None else tuple(str(c) for c in names))


def _labels(meta: dict, num_classes: int):
  """A split's [N] class ids, or its multi-label `SparseLabels`."""
  if 'y' in meta:
    return meta['y']
  return sparse_labels.SparseLabels(meta['indptr'], meta['pair_class'],
                                    meta['pair_label'], num_classes)


def _first_edge(path: str) -> int:
  from array_record.python import array_record_data_source  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  source = array_record_data_source.ArrayRecordDataSource([path])
  with Image.open(io.BytesIO(source[0])) as im:
    return im.size[0]
