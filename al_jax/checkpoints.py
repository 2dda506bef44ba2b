"""Model checkpoints: params, BatchNorm statistics and the step count.

`save_variables` / `restore_variables` write and read orbax directories
(the loops' per-round models, the `pretrain` job's output); `init_from` is
what ``train.init_checkpoint`` names: such a directory, or keras' VGG-16
ImageNet weight file (``.h5``, `models.keras_vgg16`).
"""

import flax.linen as nn
import jax
import numpy as np
import orbax.checkpoint as ocp


def init_from(path: str, state, model: nn.Module):
  """`state` with the variables of ``train.init_checkpoint`` = `path`."""
  if str(path).endswith('.h5'):  # keras VGG-16.
    from al_jax.models import keras_vgg16  # pylint: disable=g-import-not-at-top
    return keras_vgg16.restore(path, state, model)
  return restore_variables(path, state)


def save_variables(path: str, state):
  """Saves params, BatchNorm statistics and the step count with orbax
  (atomic directory)."""
  ckpt = ocp.StandardCheckpointer()
  ckpt.save(path, {'params': state.params, 'batch_stats': state.batch_stats,
                   'step': np.asarray(state.step, np.int64)}, force=True)
  ckpt.wait_until_finished()


def restore_variables(path: str, state):
  """Loads what `save_variables` saved into `state` (the step count too,
  where the checkpoint has one: it continues global schedules)."""
  ckpt = ocp.StandardCheckpointer()
  target = jax.tree.map(np.asarray, {'params': state.params,
                                     'batch_stats': state.batch_stats})
  try:
    meta = ckpt.metadata(path).item_metadata
    if meta is None:
      raise FileNotFoundError(path)
    if 'step' in meta.tree:
      target['step'] = np.zeros((), np.int64)
    restored = ckpt.restore(path, target)
  except FileNotFoundError as e:
    raise FileNotFoundError(f'No model checkpoint at {path!r}.') from e
  except ValueError as e:
    raise ValueError(
        f'Checkpoint {path!r} does not match the model: {e}') from e
  # Orbax restores arrays with their stored shapes even when the target's
  # differ (e.g. another width), so check them here.
  bad = [f'{jax.tree_util.keystr(p)}: checkpoint {a.shape} {a.dtype}, '
         f'model {t.shape} {t.dtype}'
         for (p, t), a in zip(jax.tree_util.tree_leaves_with_path(target),
                              jax.tree.leaves(restored))
         if a.shape != t.shape or a.dtype != t.dtype]
  if bad:
    raise ValueError(f'Checkpoint {path!r} does not match the model: '
                     + '; '.join(bad[:5]))
  return state.replace(params=restored['params'],
                       batch_stats=restored['batch_stats'],
                       step=int(restored.get('step', state.step)))
