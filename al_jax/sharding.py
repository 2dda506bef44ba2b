"""Device mesh and pool sharding: one code path for one CPU and a pod.

The pool axis (N) of every batch that enters a jitted step is split over the
mesh axis ``data``; parameters are replicated. On one device the mesh has one
entry and the shardings are no-ops, so the same code runs everywhere.
"""

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

DATA_AXIS = 'data'


def make_mesh() -> jax.sharding.Mesh:
  """A 1-D mesh over all devices with the axis ``data``."""
  return jax.make_mesh((jax.device_count(),), (DATA_AXIS,))


def batch_sharding(mesh: jax.sharding.Mesh) -> NamedSharding:
  """Leading (example) axis split over ``data``."""
  return NamedSharding(mesh, P(DATA_AXIS))


def replicated(mesh: jax.sharding.Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def check_batch_size(batch_size: int, mesh: jax.sharding.Mesh, what: str):
  """Raises if a batch cannot be split evenly over the ``data`` axis."""
  n = mesh.shape[DATA_AXIS]
  if batch_size <= 0 or batch_size % n:
    raise ValueError(
        f'{what}={batch_size} must be a positive multiple of the number of '
        f'devices ({n}) so that every device gets the same share.')


def put_batch(tree, mesh: jax.sharding.Mesh):
  """Host arrays [B, ...] -> device arrays sharded over ``data``."""
  return jax.device_put(tree, batch_sharding(mesh))


def process_span(batch_size: int, mesh: jax.sharding.Mesh) -> slice:
  """The rows of a [batch_size, ...] batch sharded over ``data`` that this
  process reads: those its devices hold (all of them on one host), or the
  whole batch where a mesh interleaves processes' devices along ``data``
  (then every process reads every row, as with one host)."""
  spans = sorted((s[0].indices(batch_size)[:2] for s in
                  batch_sharding(mesh).addressable_devices_indices_map(
                      (batch_size,)).values()))
  if any(a[1] != b[0] for a, b in zip(spans, spans[1:])):
    return slice(0, batch_size)
  return slice(spans[0][0], spans[-1][1])


def from_process_rows(tree, batch_size: int, mesh: jax.sharding.Mesh):
  """The global [batch_size, ...] batch sharded over ``data`` whose
  `process_span` rows this process gives (a pytree of host arrays).

  Each process reads only its own rows, so on many hosts no process decodes
  another's images and input reading scales with the hosts (DESIGN:
  process-local data -> global arrays, `jax.make_array_from_process_local_data`).
  """
  def put(a):
    if len(a) == batch_size:  # Every row (one process, or interleaved).
      return jax.device_put(a, batch_sharding(mesh))
    return jax.make_array_from_process_local_data(
        batch_sharding(mesh), a, (batch_size,) + a.shape[1:])
  return jax.tree.map(put, tree)


def pad_rows(x: np.ndarray, rows: int, value=0) -> np.ndarray:
  """Pads the leading axis of `x` with `value` up to `rows`."""
  if x.shape[0] == rows:
    return x
  pad = np.full((rows - x.shape[0],) + x.shape[1:], value, x.dtype)
  return np.concatenate([x, pad])


def shard_rows(x: np.ndarray, mesh: jax.sharding.Mesh) -> jax.Array:
  """[N, ...] host array -> device array [N', ...] sharded over ``data``.

  N' is N rounded up to a multiple of the device count (zero rows appended);
  callers slice results back to [:N].
  """
  n = mesh.shape[DATA_AXIS]
  return put_batch(pad_rows(x, -(-len(x) // n) * n), mesh)


def one_device_mesh() -> jax.sharding.Mesh:
  """A mesh with the axis ``data`` over the first device only."""
  return jax.make_mesh((1,), (DATA_AXIS,), devices=jax.devices()[:1])
