"""Grain backend (default): ``MapDataset`` over sample indices, batched, prefetched in workers.

Each element is ``SampleFn(global_index)``; the index arithmetic gives every process its slice
of each global batch. Batches are formed inside the ``MapDataset`` so that each worker of
``mp_prefetch`` produces whole batches. The state is the number of batches handed out
(``{'next_batch': n}``): the n-th local batch of every process is its slice of the n-th global
batch, so the position means the same for any process count, and a restored iterator rebuilds its
dataset from batch n (worker buffers are refilled) and continues with identical batches. States
Grain wrote itself (older checkpoints) are still accepted.
"""

from __future__ import annotations

from absl import flags
import grain

from data_pipelines.train_samples import SampleFn, global_index

_NUM_LOCAL_BATCHES = 2**40  # effectively endless; training stops by step count


def grain_dataset(sample_fn: SampleFn, local_batch: int, global_batch: int,
                  process_index: int, first_batch: int = 0) -> grain.MapDataset:
  """The batched ``MapDataset`` of this process (before prefetching), from local batch
  ``first_batch`` on."""
  return (grain.MapDataset.range(first_batch * local_batch, _NUM_LOCAL_BATCHES * local_batch)
          .map(lambda i: global_index(i, local_batch, global_batch, process_index))
          .map(sample_fn)
          .batch(local_batch, drop_remainder=True))


def _single_threaded_opencv(worker_index: int, worker_count: int) -> None:
  """One OpenCV thread per worker process: the workers already use every core."""
  del worker_index, worker_count
  import cv2  # pylint: disable=g-import-not-at-top
  cv2.setNumThreads(1)


class GrainBatches:
  """An endless iterator of local batches; ``get_state()`` is ``{'next_batch': n}``."""

  def __init__(self, sample_fn: SampleFn, local_batch: int, global_batch: int,
               process_index: int, *, num_workers: int = 0, worker_buffer_size: int = 2,
               read_threads: int = 1):
    self._args = (sample_fn, local_batch, global_batch, process_index)
    self._num_workers, self._worker_buffer_size = int(num_workers), int(worker_buffer_size)
    self._read_threads = max(0, int(read_threads))
    self._next_batch = 0
    self._iterator = None  # built at the first batch, so a restore never starts workers twice

  def _build(self, first_batch: int):
    ds = grain_dataset(*self._args, first_batch=first_batch)
    it_ds = ds.to_iter_dataset(grain.ReadOptions(num_threads=self._read_threads,
                                                 prefetch_buffer_size=max(1, self._read_threads)))
    if self._num_workers > 0:
      if not flags.FLAGS.is_parsed():  # Grain workers read absl flags; outside an absl app
        flags.FLAGS.mark_as_parsed()  # (tests, notebooks) their defaults apply.
      it_ds = it_ds.mp_prefetch(
          grain.MultiprocessingOptions(num_workers=self._num_workers,
                                       per_worker_buffer_size=self._worker_buffer_size),
          worker_init_fn=_single_threaded_opencv)
    return iter(it_ds)

  def __next__(self):
    if self._iterator is None:
      self._iterator = self._build(self._next_batch)
    batch = next(self._iterator)
    self._next_batch += 1
    return batch

  def get_state(self):
    return {'next_batch': self._next_batch}

  def set_state(self, state, consumed_batches: int | None = None):
    """Continues after ``state['next_batch']`` batches; a state of Grain's own iterator (older
    checkpoints: ``consumed_batches`` then gives the position) is handed to Grain."""
    self.close()
    if 'next_batch' in state or 'next_index' in state:  # 'next_index': Grain, no workers
      self._next_batch = int(state.get('next_batch', state.get('next_index')))
      return
    if consumed_batches is None:
      raise ValueError(f'unknown input iterator state {sorted(state)}: expected next_batch')
    self._iterator = self._build(0)
    self._iterator.set_state(state)
    self._next_batch = int(consumed_batches)

  def close(self):
    close = getattr(self._iterator, 'close', None)
    if close is not None:
      close()
    self._iterator = None
