"""Model checkpoints: params, BatchNorm statistics and the step count.

`save_variables` / `restore_variables` write and read one orbax directory
(the `pretrain` job's output, the initial-training loop's model);
`RoundModels` keeps the active loop's per-round models with an orbax
`CheckpointManager`; `init_from` is
what ``train.init_checkpoint`` names: such a directory, or keras' VGG-16
ImageNet weight file (``.h5``, `models.keras_vgg16`).
"""

import flax.linen as nn
import jax
import numpy as np
from etils import epath
import orbax.checkpoint as ocp

from al_jax import distributed


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


def _target(state, with_step: bool) -> dict:
  target = jax.tree.map(np.asarray, {'params': state.params,
                                     'batch_stats': state.batch_stats})
  if with_step:
    target['step'] = np.zeros((), np.int64)
  return target


def _apply(path, state, target, restored):
  """`state` with `restored`, after checking every array against `target`
  (orbax restores arrays with their stored shapes even when the target's
  differ, e.g. another width)."""
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


def restore_variables(path: str, state):
  """Loads what `save_variables` saved into `state` (the step count too,
  where the checkpoint has one: it continues global schedules)."""
  ckpt = ocp.StandardCheckpointer()
  try:
    meta = ckpt.metadata(path).item_metadata
    if meta is None:
      raise FileNotFoundError(path)
    target = _target(state, 'step' in meta.tree)
    restored = ckpt.restore(path, target)
  except FileNotFoundError as e:
    raise FileNotFoundError(f'No model checkpoint at {path!r}.') from e
  except ValueError as e:
    raise ValueError(
        f'Checkpoint {path!r} does not match the model: {e}') from e
  return _apply(path, state, target, restored)


class RoundModels:
  """The active loop's model of each round: an orbax `CheckpointManager`
  over `directory` (a local path or any etils path, e.g. gs://), step =
  round, keeping only the latest (all a resume needs), each with the
  seconds its training took.

  Every process of a multi-process job calls `save` and `restore` (orbax
  coordinates them; the primary process writes replicated arrays). Work
  dirs of older al_jax kept `round_<r>/` directories with a
  `round_<r>.train_seconds` file beside them: those are read too.
  """

  def __init__(self, directory: str):
    self.directory = str(directory)
    self._manager = ocp.CheckpointManager(
        epath.Path(directory), item_names=('model', 'meta'),
        options=ocp.CheckpointManagerOptions(
            max_to_keep=1, enable_async_checkpointing=False))

  def rounds(self) -> list[int]:
    """Rounds with a saved model, ascending."""
    legacy = [int(p.name[len('round_'):-len(_SECONDS)])
              for p in epath.Path(self.directory).glob(f'round_*{_SECONDS}')]
    return sorted(set(self._manager.all_steps()) | set(legacy))

  def save(self, round_: int, state, train_seconds: float) -> None:
    """Saves round `round_`'s model, replacing any of this or a later round
    (a round trained again)."""
    for step in self._manager.all_steps():
      if step >= round_:
        self._manager.delete(step)
    self._manager.save(round_, force=True, args=ocp.args.Composite(
        model=ocp.args.StandardSave({
            'params': state.params, 'batch_stats': state.batch_stats,
            'step': np.asarray(state.step, np.int64)}),
        meta=ocp.args.JsonSave({'train_seconds': train_seconds})))
    self._manager.wait_until_finished()
    if distributed.is_main():  # An older al_jax's rounds are superseded.
      for seconds in epath.Path(self.directory).glob(f'round_*{_SECONDS}'):
        epath.Path(str(seconds)[:-len(_SECONDS)]).rmtree(missing_ok=True)
        seconds.unlink()

  def restore(self, round_: int, state):
    """(`state` with round `round_`'s model, its training seconds)."""
    if round_ not in self._manager.all_steps():
      legacy = epath.Path(self.directory) / f'round_{round_}'
      seconds = epath.Path(f'{legacy}{_SECONDS}')
      if not seconds.exists():
        raise FileNotFoundError(f'No model of round {round_} in '
                                f'{self.directory!r}.')
      return restore_variables(str(legacy), state), float(seconds.read_text())
    target = _target(state, True)
    restored = self._manager.restore(round_, args=ocp.args.Composite(
        model=ocp.args.StandardRestore(target), meta=ocp.args.JsonRestore()))
    where = f'{self.directory}/{round_}'
    return (_apply(where, state, target, restored.model),
            float(restored.meta['train_seconds']))

  def close(self) -> None:
    self._manager.close()


_SECONDS = '.train_seconds'  # Beside an older al_jax's round_<r>/.
