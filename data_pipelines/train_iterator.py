"""The training input iterator: backend switch, skip-rate guard, checkpointable state.

    it = build_train_iterator(config.data, seed=0, global_batch_size=128,
                              process_index=jax.process_index(),
                              process_count=jax.process_count())
    batch = next(it)  # dict of numpy arrays, leading dim global_batch_size // process_count

The iterator is a ``grain.DatasetIterator`` for both backends, so Orbax saves and restores it
with the model through ``grain.checkpoint.CheckpointSave(it)`` /
``grain.checkpoint.CheckpointRestore(it)`` (see ``checkpoint_args``); ``get_state()`` and
``set_state()`` work directly too. A restored iterator yields exactly the batches the original
would have yielded next.
"""

from __future__ import annotations

from typing import Any

import grain
import numpy as np

from data_pipelines.sources.base import DatasetError
from data_pipelines.train_samples import SampleFn


class SkipRateExceeded(DatasetError):
  """Too many draws hit unreadable data: the dataset is probably broken."""


class TrainIterator(grain.DatasetIterator):
  """Wraps a backend iterator; counts skipped draws per dataset and enforces the skip rate."""

  def __init__(self, backend, dataset_names: list[str], max_skip_rate: float,
               min_draws: int):
    super().__init__()
    self._backend = backend
    self._names = list(dataset_names)
    self._max_skip_rate = float(max_skip_rate)
    self._min_draws = int(min_draws)
    self._samples = 0
    self._skipped = np.zeros(len(self._names), np.int64)

  def __next__(self) -> dict[str, np.ndarray]:
    batch = next(self._backend)
    self._samples += int(batch['label'].shape[0])
    self._skipped += batch['skipped'].sum(axis=0).astype(np.int64)
    total_skipped = int(self._skipped.sum())
    draws = self._samples + total_skipped
    if draws >= self._min_draws and total_skipped > self._max_skip_rate * draws:
      detail = ', '.join(f'{n}: {int(k)}' for n, k in zip(self._names, self._skipped))
      raise SkipRateExceeded(
          f'{total_skipped} of {draws} draws skipped for unreadable data '
          f'({total_skipped / draws:.1%} > data.max_skip_rate={self._max_skip_rate:.1%}); '
          f'per dataset: {detail}')
    return batch

  def skipped_per_dataset(self) -> dict[str, int]:
    return {n: int(k) for n, k in zip(self._names, self._skipped)}

  def get_state(self) -> dict[str, Any]:
    return {'backend': self._backend.get_state(), 'samples': self._samples,
            'skipped': [int(k) for k in self._skipped]}

  def set_state(self, state: dict[str, Any]) -> None:
    self._backend.set_state(state['backend'])
    self._samples = int(state['samples'])
    self._skipped = np.asarray(state['skipped'], np.int64)

  def close(self) -> None:
    close = getattr(self._backend, 'close', None)
    if close is not None:
      close()


def build_train_iterator(data_config, *, seed: int, global_batch_size: int,
                         process_index: int = 0, process_count: int = 1) -> TrainIterator:
  """Batches of STARK samples for this process, from ``data_config.backend``."""
  if global_batch_size % process_count:
    raise ValueError(f'global batch {global_batch_size} does not split over {process_count} '
                     'processes')
  if not 0 <= process_index < process_count:
    raise ValueError(f'process_index {process_index} outside [0, {process_count})')
  sample_fn = SampleFn(data_config, seed)
  # Open the sources here: bad paths and malformed annotations fail now, in this process, and the
  # annotation index cache is written once before workers (which reopen the sources) start.
  sample_fn.processor  # pylint: disable=pointless-statement
  local_batch = global_batch_size // process_count
  backend_name = data_config.backend
  if backend_name == 'grain':
    from data_pipelines.grain_pipeline import GrainBatches  # pylint: disable=g-import-not-at-top
    backend = GrainBatches(sample_fn, local_batch, global_batch_size, process_index,
                           num_workers=data_config.num_workers,
                           worker_buffer_size=data_config.worker_buffer_size,
                           read_threads=data_config.read_threads)
  elif backend_name == 'tfdata':
    from data_pipelines.tfdata_pipeline import TfDataBatches  # pylint: disable=g-import-not-at-top
    backend = TfDataBatches(sample_fn, local_batch, global_batch_size, process_index,
                            num_parallel_calls=data_config.num_workers)
  else:
    raise ValueError(f"data.backend must be 'grain' or 'tfdata', got {backend_name!r}")
  return TrainIterator(backend, sample_fn.dataset_names(), data_config.max_skip_rate,
                       data_config.skip_check_min_draws)


def checkpoint_args(iterator: TrainIterator, restore: bool = False):
  """The Orbax ``args`` item for the input iterator, to put in ``ocp.args.Composite``.

      ocp.args.Composite(state=ocp.args.StandardSave(state), data=checkpoint_args(it))
  """
  import grain.checkpoint as grain_checkpoint  # pylint: disable=g-import-not-at-top
  if restore:
    return grain_checkpoint.CheckpointRestore(iterator)
  return grain_checkpoint.CheckpointSave(iterator)
