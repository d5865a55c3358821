"""Grain backend (default): ``MapDataset`` over sample indices, batched, prefetched in workers.

Each element is ``SampleFn(global_index)``; the index arithmetic gives every process its slice
of each global batch. Batches are formed inside the ``MapDataset`` so that each worker of
``mp_prefetch`` produces whole batches. The iterator state is Grain's own (it records how far
each worker got), so a restored iterator continues with identical batches.
"""

from __future__ import annotations

from absl import flags
import grain

from data_pipelines.train_samples import SampleFn, global_index

_NUM_LOCAL_BATCHES = 2**40  # effectively endless; training stops by step count


def grain_dataset(sample_fn: SampleFn, local_batch: int, global_batch: int,
                  process_index: int) -> grain.MapDataset:
  """The batched ``MapDataset`` of this process (before prefetching)."""
  return (grain.MapDataset.range(_NUM_LOCAL_BATCHES * local_batch)
          .map(lambda i: global_index(i, local_batch, global_batch, process_index))
          .map(sample_fn)
          .batch(local_batch, drop_remainder=True))


def _single_threaded_opencv(worker_index: int, worker_count: int) -> None:
  """One OpenCV thread per worker process: the workers already use every core."""
  del worker_index, worker_count
  import cv2  # pylint: disable=g-import-not-at-top
  cv2.setNumThreads(1)


class GrainBatches:
  """An endless iterator of local batches with Grain's ``get_state``/``set_state``."""

  def __init__(self, sample_fn: SampleFn, local_batch: int, global_batch: int,
               process_index: int, *, num_workers: int = 0, worker_buffer_size: int = 2,
               read_threads: int = 1):
    ds = grain_dataset(sample_fn, local_batch, global_batch, process_index)
    it_ds = ds.to_iter_dataset(grain.ReadOptions(num_threads=max(0, int(read_threads)),
                                                 prefetch_buffer_size=max(1, int(read_threads))))
    if num_workers > 0:
      if not flags.FLAGS.is_parsed():  # Grain workers read absl flags; outside an absl app
        flags.FLAGS.mark_as_parsed()  # (tests, notebooks) their defaults apply.
      it_ds = it_ds.mp_prefetch(
          grain.MultiprocessingOptions(num_workers=int(num_workers),
                                       per_worker_buffer_size=int(worker_buffer_size)),
          worker_init_fn=_single_threaded_opencv)
    self._iterator = iter(it_ds)

  def __next__(self):
    return next(self._iterator)

  def get_state(self):
    return self._iterator.get_state()

  def set_state(self, state):
    self._iterator.set_state(state)

  def close(self):
    close = getattr(self._iterator, 'close', None)
    if close is not None:
      close()
