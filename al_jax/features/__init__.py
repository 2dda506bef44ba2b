"""Frozen features for label-free selection (paper 003): where they come from.

``config.features.source`` is one of

  pixels   the inputs flattened, uint8 scaled to [0, 1];
  pca      PCA of the pixels to ``dims`` components, fit on the pool only;
  simclr   a SimCLR-style encoder (`features.simclr`) trained here on the
           pool's images (no labels), or loaded from ``checkpoint``; the
           ``which`` output ('backbone' or 'projection');
  npz      the user's own embeddings (CLIP, DINO, MoCo...): a file at
           ``path`` with arrays ``train`` [N, D] and ``test`` [T, D] whose
           rows follow the input source's train and test rows (no
           ``max_train_examples`` subsample: it would misalign them).

`check` fails fast, before any data loads, on a missing file; `compute`
caches the features in the work dir, so a resumed run does not train the
encoder again.

Dimensions: N pool, T test, D features.
"""

import os

from etils import epath
import numpy as np

from al_jax import config_check
from al_jax.input import dataset
from al_jax.loops import rundir

SOURCES = ('pixels', 'pca', 'simclr', 'npz')
KEYS = ('source', 'dims', 'path', 'checkpoint', 'which', 'seed', 'simclr')
CACHE = 'features.npz'


def check(cfg):
  """Validates ``config.features`` without loading any data.

  Raises:
    ValueError: an unknown key or source.
    FileNotFoundError: a named embeddings file or checkpoint is missing.
  """
  config_check.check_keys(cfg, KEYS, 'config.features')
  source = cfg.get('source')
  if source not in SOURCES:
    raise ValueError(f'Unknown config.features.source {source!r}; valid: '
                     f'{SOURCES}.')
  if source == 'npz':
    path = cfg.get('path')
    if not path or not os.path.isfile(path):
      raise FileNotFoundError(
          f'config.features.path={path!r}: no such embeddings file. Compute '
          'your features (e.g. CLIP or a self-supervised encoder) and save '
          'them with np.savez(path, train=[N, D], test=[T, D]).')
  if source == 'simclr':
    from al_jax.features import simclr  # pylint: disable=g-import-not-at-top
    which = cfg.get('which', 'backbone')
    if which not in ('backbone', 'projection'):
      raise ValueError(f'config.features.which={which!r}; valid: backbone, '
                       'projection.')
    config_check.check_keys(cfg.get('simclr') or {}, tuple(simclr.OPTIONS),
                            'config.features.simclr')
    ckpt = cfg.get('checkpoint')
    if ckpt and not os.path.isfile(ckpt):
      raise FileNotFoundError(
          f'config.features.checkpoint={ckpt!r}: no such encoder checkpoint '
          '(`features.simclr.save` writes one; leave it unset to train the '
          'encoder here).')


def _flat(x) -> np.ndarray:
  x = np.asarray(x)
  scale = 255. if x.dtype == np.uint8 else 1.
  return (x.reshape(len(x), -1) / scale).astype(np.float32)


def _streamed_pca(cfg, ds, chunk: int = 4096):
  """PCA features of a pool decoded on access (`records.RecordArray`), one
  chunk of rows in memory at a time: scikit-learn's IncrementalPCA (Ross et
  al. 2008) in place of the exact PCA of in-memory pools, whose [N, H W C]
  pixel matrix would not fit. Its components agree with PCA's up to the
  incremental SVD's truncation error."""
  from sklearn import decomposition  # pylint: disable=g-import-not-at-top
  n, width = len(ds.x_train), int(np.prod(ds.x_train.shape[1:]))
  dims = min(int(cfg.get('dims', 50)), n, width)
  chunk = max(chunk, dims)
  # Chunk starts; a last chunk shorter than `dims` joins the one before it
  # (partial_fit needs at least `dims` rows).
  starts = list(range(0, n, chunk))
  if len(starts) > 1 and n - starts[-1] < dims:
    starts.pop()
  pca = decomposition.IncrementalPCA(dims)
  for start, stop in zip(starts, starts[1:] + [n]):
    pca.partial_fit(_flat(ds.x_train[start:stop]))
  embed = lambda x: np.concatenate([
      pca.transform(_flat(x[s:s + chunk])).astype(np.float32)
      for s in range(0, len(x), chunk)])
  return embed(ds.x_train), embed(ds.x_test)


def _compute(cfg, ds, cache_dir: str):
  source = cfg.source
  if source == 'pixels':
    return _flat(ds.x_train), _flat(ds.x_test)
  if source == 'pca' and dataset.decoded_on_access(ds.x_train):
    return _streamed_pca(cfg, ds)
  if source == 'pca':
    from sklearn import decomposition  # pylint: disable=g-import-not-at-top
    pool = _flat(ds.x_train)
    dims = min(int(cfg.get('dims', 50)), *pool.shape)
    pca = decomposition.PCA(dims, random_state=int(cfg.get('seed', 0)))
    return (pca.fit_transform(pool).astype(np.float32),
            pca.transform(_flat(ds.x_test)).astype(np.float32))
  if source == 'npz':
    with np.load(cfg.path) as z:
      if 'train' not in z or 'test' not in z:
        raise KeyError(f'{cfg.path}: needs arrays train and test; found '
                       f'{sorted(z)}.')
      train, test = z['train'], z['test']
    for name, feats, want in (('train', train, len(ds.x_train)),
                              ('test', test, len(ds.x_test))):
      if feats.ndim != 2 or len(feats) != want:
        raise ValueError(f'{cfg.path}: {name} has shape {feats.shape}; the '
                         f'input source has {want} {name} rows.')
    return train.astype(np.float32), test.astype(np.float32)
  from al_jax.features import simclr  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  ckpt = cfg.get('checkpoint')
  if ckpt:
    variables, options = simclr.load(ckpt)
  else:
    options = dict(cfg.get('simclr') or {})
    variables, losses = simclr.train(
        ds.x_train, jax.random.key(int(cfg.get('seed', 0))), **options)
    simclr.save(os.path.join(cache_dir, 'simclr.msgpack'), variables,
                options)
    print(f'SimCLR: {len(losses)} epochs, loss {losses[0]:.3f} -> '
          f'{losses[-1]:.3f}')
  which = cfg.get('which', 'backbone')
  return (simclr.embed(variables, ds.x_train, options, which),
          simclr.embed(variables, ds.x_test, options, which))


def encoder(cfg, cache_dir: str):
  """(apply_fn, variables) of the SimCLR encoder behind the features (the
  ``checkpoint``, else the one `compute` trained into `cache_dir`), or None
  for other sources. apply_fn follows `strategies.base.Model`."""
  if cfg.source != 'simclr':
    return None
  from al_jax.features import simclr  # pylint: disable=g-import-not-at-top
  variables, options = simclr.load(
      cfg.get('checkpoint') or os.path.join(cache_dir, 'simclr.msgpack'))
  return simclr.apply_function(options), variables


def compute(cfg, ds, cache_dir: str) -> tuple[np.ndarray, np.ndarray]:
  """(pool features [N, D], test features [T, D]) float32, finite; read
  from `cache_dir` when an earlier run computed them."""
  path = os.path.join(cache_dir, CACHE)
  if epath.Path(path).exists():
    with epath.Path(path).open('rb') as f, np.load(f) as z:
      return z['train'], z['test']
  epath.Path(cache_dir).mkdir(parents=True, exist_ok=True)
  train, test = _compute(cfg, ds, cache_dir)
  dataset.check_rows_finite(train, f'features ({cfg.source}) of the pool')
  dataset.check_rows_finite(test, f'features ({cfg.source}) of the test set')
  rundir.atomic_write(path, lambda f: np.savez(f, train=train, test=test))
  return train, test
