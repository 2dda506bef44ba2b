"""Many processes, one job: start-up, who writes, and results on every host.

A job launched as several processes (one per host of a TPU slice or GPU
cluster, or several on one machine) runs the same program in each: every
process computes every selection (they agree: the mesh spans all devices
and host-side work is deterministic), and only process 0 writes the work
dir (ledgers, metrics, plots, the lock); orbax writes checkpoints from all
processes together.

Start-up (`initialize`), before anything touches a device:
  AL_JAX_COORDINATOR=host:port AL_JAX_NUM_PROCESSES=n AL_JAX_PROCESS_ID=i
      (explicit, e.g. several processes on one machine; CPU collectives go
      through gloo), or
  AL_JAX_DISTRIBUTED=1 (the cluster says: Cloud TPU, SLURM, Open MPI; see
      `jax.distributed.initialize`).
Unset, the job is one process and nothing here costs anything.

The work dir must be the same path for every process (a shared file system,
or gs:// through orbax and etils for checkpoints).
"""

import os

import jax
import numpy as np
from jax.experimental import multihost_utils

_ENV = ('AL_JAX_COORDINATOR', 'AL_JAX_NUM_PROCESSES', 'AL_JAX_PROCESS_ID')


def initialize():
  """Joins the job's processes when launched as several (see the module
  docstring); a no-op for one process.

  Raises:
    ValueError: a partial or malformed set of AL_JAX_* variables.
  """
  given = [k for k in _ENV if os.environ.get(k)]
  if given:
    if len(given) != len(_ENV):
      raise ValueError(f'Multi-process launch needs all of {_ENV}; only '
                       f'{given} are set.')
    try:
      n, i = (int(os.environ[k]) for k in _ENV[1:])
    except ValueError as e:
      raise ValueError(f'AL_JAX_NUM_PROCESSES and AL_JAX_PROCESS_ID must be '
                       f'integers: {e}') from e
    if not 0 <= i < n:
      raise ValueError(f'AL_JAX_PROCESS_ID={i} is not in [0, {n}).')
    jax.config.update('jax_cpu_collectives_implementation', 'gloo')
    jax.distributed.initialize(os.environ[_ENV[0]], num_processes=n,
                               process_id=i)
  elif os.environ.get('AL_JAX_DISTRIBUTED'):
    jax.distributed.initialize()


def is_main() -> bool:
  """Whether this process writes the work dir (process 0)."""
  return jax.process_index() == 0


def barrier(name: str):
  """Waits until every process gets here (no-op for one process)."""
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)


def verdict(ok: bool) -> bool:
  """Process 0's `ok` on every process (e.g. whether its work-dir check
  passed), so that no process waits for one that stopped."""
  if jax.process_count() == 1:
    return ok
  return bool(multihost_utils.broadcast_one_to_all(np.asarray(ok)))


def to_host(x) -> np.ndarray:
  """A jax.Array (sharded over any processes' devices) as one numpy array
  on every process."""
  if not isinstance(x, jax.Array) or x.is_fully_addressable or (
      x.is_fully_replicated):
    return np.asarray(x)
  return np.asarray(multihost_utils.process_allgather(x, tiled=True))
