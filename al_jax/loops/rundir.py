"""The work directory every loop shares: a lock, atomic writes, and the
config check that makes resuming safe.

  with rundir.open_workdir(workdir, config, FREE_KEYS):
    ...                      # the loop; config.json holds `config`

A second process on the same work dir stops at once, naming the process
that holds it (an OS lock, `fcntl.flock`: it is released when its process
dies, however it dies, so a lock left by a killed run is taken over, which
the log says). On resume the stored config.json is compared with the new
config: a change that would alter what completed runs did is refused,
naming the key; keys a job lists as free (more seeds, more rounds, more
strategies) may change.

Work dirs are etils paths: a local folder, or any file system etils knows
(gs://bucket/dir, with gcsfs or TensorFlow's gfile installed). On such a
remote work dir there is no OS lock: one job per work dir is then the
user's to keep (a warning says so), and metrics rows are appended by
rewriting the file.
"""

import contextlib
import fcntl
import json
import os
import socket
from typing import Callable, Iterable

from absl import logging
from etils import epath

from al_jax import distributed

CONFIG = 'config.json'
LOCK = '.lock'


class WorkdirBusy(RuntimeError):
  """Another live process holds the work dir."""


def is_local(path) -> bool:
  """Whether `path` is on this machine's file system (not gs://...)."""
  return '://' not in str(path)


def absolute(path: str) -> str:
  """`path` made absolute when local (orbax needs that); URLs as they are."""
  return os.path.abspath(path) if is_local(path) else str(path)


def atomic_write(path: str, write: Callable, mode: str = 'wb'):
  """Calls write(file) on a temporary file, syncs it, then renames it to
  `path`: a crash leaves the old file or the new one, never a torn one.
  Only process 0 of a multi-process job writes (`distributed`)."""
  if not distributed.is_main():
    return
  tmp = epath.Path(f'{path}.tmp')
  with tmp.open(mode) as f:
    write(f)
    f.flush()
    if is_local(path):
      os.fsync(f.fileno())
  tmp.replace(path)


@contextlib.contextmanager
def lock(workdir: str):
  """Holds the work dir's lock for the duration of the block.

  Raises:
    WorkdirBusy: another live process holds it (named).
  """
  epath.Path(workdir).mkdir(parents=True, exist_ok=True)
  if not is_local(workdir):
    logging.warning('%s is not a local folder: it cannot be locked, so run '
                    'one job at a time on it.', workdir)
    yield
    return
  path = os.path.join(workdir, LOCK)
  f = open(path, 'a+')  # pylint: disable=consider-using-with
  try:
    try:
      fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
      f.seek(0)
      holder = f.read().strip() or 'unknown'
      raise WorkdirBusy(
          f'{workdir} is in use by another process ({holder}). Wait for it '
          'to finish, stop it, or use another --workdir.') from None
    f.seek(0)
    previous = f.read().strip()
    if previous:
      logging.warning('%s: took over the lock of %s, which no longer runs.',
                      workdir, previous)
    f.seek(0)
    f.truncate()
    f.write(f'pid {os.getpid()} on {socket.gethostname()}\n')
    f.flush()
    try:
      yield
    finally:  # A clean exit, even by an error, leaves no stale holder.
      f.seek(0)
      f.truncate()
  finally:
    f.close()  # Releases the lock.


def _flatten(tree, prefix: str = '') -> dict:
  if not isinstance(tree, dict):
    return {prefix: tree}
  out = {}
  for k, v in tree.items():
    out.update(_flatten(v, f'{prefix}.{k}' if prefix else k))
  return out


def _free(key: str, free: Iterable[str]) -> bool:
  return any(key == f or key.startswith(f + '.') for f in free)


def _new_option_at_default(key: str, new: dict,
                           entries: tuple[str, str] | None) -> bool:
  """Whether `key` is an entry's option that a newer al_jax added, at its
  default (so the stored run behaved exactly so)."""
  from al_jax import strategies  # pylint: disable=g-import-not-at-top
  if entries is None:
    return False
  listed, section = entries
  parts = key[len(section) + 1:].split('.')
  if not key.startswith(section + '.') or len(parts) != 2:
    return False
  entry, option = parts
  if entry not in new.get(listed, []):
    return False
  try:
    default = strategies.defaults(new.get(f'{section}.{entry}.method')
                                  or entry)
  except ValueError:  # Not a method: a typo the job's check names.
    return False
  return option in default and json.loads(json.dumps(
      default[option])) == new[key]


def check_resume(workdir: str, config, free: Iterable[str],
                 entries: tuple[str, str] | None = None,
                 check: Callable[[dict, dict], None] | None = None):
  """Refuses a config whose changes would alter what the work dir holds.

  Args:
    workdir: holds config.json if a run was started there.
    config: the new config.
    free: dotted keys (or key prefixes) that may change, e.g. 'seeds'.
    entries: (list key, section), e.g. ('al.strategies', 'al'): the options
      of an entry the stored run did not have (``al.<entry>``) are free, and
      so is an option a newer al_jax added to an entry at its default.
    check: optional check(old, new) of the free keys (flattened dicts),
      raising ValueError (e.g. rounds may grow but not shrink).

  Raises:
    ValueError: naming every changed key.
  """
  path = epath.Path(workdir) / CONFIG
  if not path.exists() or not {p.name for p in epath.Path(workdir).iterdir()
                               } - {CONFIG, LOCK}:
    return  # Nothing was run here yet (e.g. the data failed to load).
  old = _flatten(json.loads(path.read_text()))
  new = _flatten(json.loads(config.to_json_best_effort()))
  free = list(free)
  if entries is not None:
    listed, section = entries
    free += [f'{section}.{e}' for e in new.get(listed, [])
             if e not in old.get(listed, [])]
  changed = sorted(k for k in set(old) & set(new)
                   if old[k] != new[k] and not _free(k, free))
  gone = sorted(k for k in set(old) - set(new) if not _free(k, free))
  added = sorted(k for k in set(new) - set(old) if not _free(k, free)
                 and not _new_option_at_default(k, new, entries))
  if changed or gone or added:
    what = [f'{k}: {old[k]!r} -> {new[k]!r}' for k in changed]
    what += [f'{k}: {old[k]!r} -> (removed)' for k in gone]
    what += [f'{k}: (absent) -> {new[k]!r}' for k in added]
    raise ValueError(
        f'{workdir} holds a run of another config ({"; ".join(what)}); '
        'resuming would mix the two. Restore those values, or use a new '
        '--workdir.')
  if check is not None:
    check(old, new)


def only_appended(key: str) -> Callable[[dict, dict], None]:
  """A `check_resume` check: the list at dotted `key` may grow at its end
  (more fractions, budgets), never change what the work dir already ran."""

  def check(old: dict, new: dict):
    before, now = old[key], new[key]
    if list(now[:len(before)]) != list(before):
      raise ValueError(
          f'config.{key}={tuple(now)}, but the work dir holds runs of '
          f'{tuple(before)}: values may be appended, not changed. Use a new '
          '--workdir.')

  return check


@contextlib.contextmanager
def open_workdir(workdir: str, config, free: Iterable[str],
                 entries: tuple[str, str] | None = None,
                 check: Callable[[dict, dict], None] | None = None):
  """Locks `workdir`, checks `config` against the stored one
  (`check_resume`), stores it. In a multi-process job process 0 does this,
  and the others go on only if it succeeded."""
  if not distributed.is_main():
    if not distributed.verdict(True):
      raise RuntimeError(f'Process 0 could not open {workdir} (see its '
                         'error).')
    yield
    return
  with contextlib.ExitStack() as held:
    try:  # The lock too: a busy work dir must not leave the others waiting.
      held.enter_context(lock(workdir))
      check_resume(workdir, config, free, entries, check)
      atomic_write(os.path.join(workdir, CONFIG),
                   lambda f: f.write(config.to_json_best_effort(indent=2)),
                   'w')
    except BaseException:
      distributed.verdict(False)
      raise
    distributed.verdict(True)
    yield
