"""The pool pass's input: a pool read in order, batch by batch, ahead of the
devices.

`pool_batches` yields, for every batch of the pass, the rows this process
reads (`sharding.process_span`), zero-padded to the span. Pools held in
memory are sliced here. A `records.RecordArray` with ``workers`` > 0
(``config.input.workers``) is decoded by grain worker processes, several
batches ahead (``grain.MapDataset`` -> ``mp_prefetch``), so decoding and
resizing JPEGs runs beside the device step instead of before it; with 0 it
decodes in threads of this process as the batch is asked for.

Dimensions: N pool rows, B batch rows, S rows of this process in a batch.
"""

from typing import Iterator

import numpy as np

from al_jax import sharding


class _Batches:
  """Random access to the pass's batches: item b is rows
  [b B + span.start, b B + span.stop) of x, clipped to N and zero-padded to
  S (what one process feeds its devices for batch b)."""

  def __init__(self, x, batch_size: int, span: slice):
    self.x, self.batch_size, self.span = x, batch_size, span

  def __len__(self) -> int:
    return -(-len(self.x) // self.batch_size)

  def __getitem__(self, b: int) -> np.ndarray:
    start, rows = b * self.batch_size, self.span.stop - self.span.start
    lo = min(start + self.span.start, len(self.x))
    hi = min(start + self.span.stop, len(self.x))
    # Empty when this process's devices hold only padding of batch b.
    return sharding.pad_rows(self.x[lo:hi], rows)


def pool_batches(x, batch_size: int, span: slice) -> Iterator[np.ndarray]:
  """[S, ...] inputs of this process for each batch of a pass over x."""
  batches = _Batches(x, batch_size, span)
  workers = getattr(x, 'workers', 0)
  if not workers:
    yield from (batches[b] for b in range(len(batches)))
    return
  import grain  # pylint: disable=g-import-not-at-top
  from absl import flags  # pylint: disable=g-import-not-at-top
  if not flags.FLAGS.is_parsed():  # Library use: grain reads its flags.
    flags.FLAGS.mark_as_parsed()
  # One read thread and no buffer of its own: each element is a whole
  # batch, and `mp_prefetch` already keeps two per worker ahead (grain's
  # default read-ahead of 500 elements would decode the pool in advance).
  it = iter(grain.MapDataset.source(batches).to_iter_dataset(
      grain.ReadOptions(num_threads=1, prefetch_buffer_size=1)).mp_prefetch(
          grain.MultiprocessingOptions(num_workers=workers,
                                       per_worker_buffer_size=2)))
  try:
    for batch in it:  # A copy: grain's shared memory is freed as we go.
      yield np.array(batch)
  finally:  # Stops the workers and frees their shared memory.
    it.close()
