"""The training input iterator: backend switch, skip-rate guard, checkpointable state.

    it = build_train_iterator(data_config, seed=0, global_batch_size=128,
                              process_index=jax.process_index(),
                              process_count=jax.process_count(),
                              build_processor=sot_processing.build_processor)
    batch = next(it)  # dict of numpy arrays, leading dim global_batch_size // process_count

``build_processor`` (a ``train_samples.ProcessorFactory``) is what a sample holds: the family's
train task chooses it; ``data_config`` holds the datasets and the processor's own settings.

The iterator is a ``grain.DatasetIterator`` for both backends: ``get_state()`` / ``set_state()``
(this process's position and skip counts; Grain's Orbax handler saves them per process, see
``checkpoint_args``). Training checkpoints store the position of the *global* batch stream
instead: ``stream_state(states of every process)`` -> one JSON-able dict, and
``set_stream_state(stream, process_index, process_count)`` re-slices it for any process count.
The n-th local batch of every process is its slice of the n-th global batch, so "n global
batches consumed" is the whole position. A restored iterator yields exactly the batches the
original would have yielded next (for the new process count: its slice of the same global batches).

What is unusable is reported, with Python ``logging``: when the iterator is built, one line per
dataset (sequences usable, and dropped with why, a few names and annotation files; WARNING
when something was dropped, else INFO); during training, a WARNING each time a dataset's count
of skipped draws reaches 1, 10, 100, ... (with the reasons: truncated, missing, ... frames, or
'other' bad data such as an absurd box).
"""

from __future__ import annotations

import logging
from typing import Any

import grain
import numpy as np

from data_pipelines.sources.base import DatasetError
from data_pipelines.train_samples import SKIP_REASONS, ProcessorFactory, SampleFn


class SkipRateExceeded(DatasetError):
  """Too many draws hit unreadable data: the dataset is probably broken."""


def _reasons_text(counts) -> str:
  return ', '.join(f'{r} {int(k)}' for r, k in zip(SKIP_REASONS, counts) if k)


def _next_report(count: int) -> int:
  """The smallest power of ten above ``count``: when the skip count is reported next."""
  step = 1
  while step <= count:
    step *= 10
  return step


class TrainIterator(grain.DatasetIterator):
  """Wraps a backend iterator; counts skipped draws per dataset (and per reason) and enforces
  the skip rate."""

  def __init__(self, backend, dataset_names: list[str], max_skip_rate: float,
               min_draws: int, local_batch: int = 1):
    super().__init__()
    self._backend = backend
    self._local_batch = int(local_batch)
    self._names = list(dataset_names)
    self._max_skip_rate = float(max_skip_rate)
    self._min_draws = int(min_draws)
    self._samples = 0
    self._skipped = np.zeros(len(self._names), np.int64)
    self._reasons = np.zeros((len(self._names), len(SKIP_REASONS)), np.int64)
    self._report_at = np.ones(len(self._names), np.int64)

  def __next__(self) -> dict[str, np.ndarray]:
    batch = next(self._backend)
    self._samples += int(batch['skipped'].shape[0])
    self._skipped += batch['skipped'].sum(axis=0).astype(np.int64)
    if 'skipped_by_reason' in batch:
      self._reasons += batch['skipped_by_reason'].sum(axis=0).astype(np.int64)
    total_skipped = int(self._skipped.sum())
    draws = self._samples + total_skipped
    for d in np.flatnonzero(self._skipped >= self._report_at):
      count = int(self._skipped[d])
      logging.warning('dataset %d (%s): skipped %d draw%s so far for bad data (%s); %d draws '
                      'in all', d, self._names[d], count, '' if count == 1 else 's',
                      _reasons_text(self._reasons[d]), draws)
      self._report_at[d] = _next_report(int(self._skipped[d]))
    if draws >= self._min_draws and total_skipped > self._max_skip_rate * draws:
      detail = ', '.join(
          f'{n}: {int(k)}' + (f' ({_reasons_text(r)})' if k else '')
          for n, k, r in zip(self._names, self._skipped, self._reasons))
      raise SkipRateExceeded(
          f'{total_skipped} of {draws} draws skipped for unreadable data '
          f'({total_skipped / draws:.1%} > data.max_skip_rate={self._max_skip_rate:.1%}); '
          f'per dataset: {detail}')
    return batch

  def skipped_per_dataset(self) -> dict[str, int]:
    return {n: int(k) for n, k in zip(self._names, self._skipped)}

  def skipped_by_reason(self) -> list[dict[str, int]]:
    """Per dataset (in ``data.train_datasets`` order), ``{reason: draws skipped}``."""
    return [{r: int(k) for r, k in zip(SKIP_REASONS, row)} for row in self._reasons]

  def get_state(self) -> dict[str, Any]:
    return {'backend': self._backend.get_state(), 'samples': self._samples,
            'skipped': [int(k) for k in self._skipped],
            'skipped_by_reason': self._reasons.tolist()}

  def set_state(self, state: dict[str, Any]) -> None:
    self._samples = int(state['samples'])
    # Older Grain states do not record the batch count: this process's samples give it.
    self._backend.set_state(state['backend'], consumed_batches=self._samples // self._local_batch)
    self._skipped = np.asarray(state['skipped'], np.int64)
    reasons = state.get('skipped_by_reason')  # absent from states saved before it existed
    self._reasons = (np.zeros((len(self._names), len(SKIP_REASONS)), np.int64)
                     if reasons is None else np.asarray(reasons, np.int64))
    self._report_at = np.array([_next_report(int(k)) for k in self._skipped], np.int64)

  @staticmethod
  def stream_state(process_states: list[dict[str, Any]]) -> dict[str, Any]:
    """The global stream's position from every process's ``get_state()``, in process order.

    Raises:
      ValueError: when the processes are not at the same global batch.
    """
    positions = [int(s['backend']['next_batch']) for s in process_states]
    if len(set(positions)) != 1:
      raise ValueError(f'input processes are at different global batches: {positions}')
    return {'next_batch': positions[0], 'process_count': len(process_states),
            'processes': [{k: s[k] for k in ('samples', 'skipped', 'skipped_by_reason')}
                          for s in process_states]}

  def set_stream_state(self, stream: dict[str, Any], process_index: int,
                       process_count: int) -> None:
    """Continues the global stream ``stream`` (``stream_state``) as process ``process_index`` of
    ``process_count``. With the saved process count each process gets its own skip counts back;
    with another, process 0 takes the totals (the skip-rate guard then sees the whole run's rate
    there) and the others start from zero."""
    saved = stream['processes']
    if int(stream['process_count']) == process_count:
      counts = saved[process_index]
    elif process_index == 0:
      counts = {'samples': sum(int(p['samples']) for p in saved),
                'skipped': np.sum([p['skipped'] for p in saved], axis=0).tolist(),
                'skipped_by_reason': np.sum([p['skipped_by_reason'] for p in saved],
                                            axis=0).tolist()}
    else:
      counts = {'samples': 0, 'skipped': [0] * len(self._names),
                'skipped_by_reason': [[0] * len(SKIP_REASONS)] * len(self._names)}
    self.set_state(dict(counts, backend={'next_batch': int(stream['next_batch'])}))

  def close(self) -> None:
    close = getattr(self._backend, 'close', None)
    if close is not None:
      close()


def log_usability(sample_fn: SampleFn) -> None:
  """Logs one line per dataset: sequences usable and dropped, with why (see module doc)."""
  processor = sample_fn.processor
  for d, (source, usability) in enumerate(zip(processor.sources, processor.usability)):
    level = logging.WARNING if usability.num_dropped else logging.INFO
    logging.log(level, 'dataset %d (%s): %s', d, source.name, usability.summary(source))


def build_train_iterator(data_config, *, seed: int, global_batch_size: int,
                         build_processor: ProcessorFactory, process_index: int = 0,
                         process_count: int = 1) -> TrainIterator:
  """Batches of ``build_processor``'s samples for this process, from ``data_config.backend``."""
  if global_batch_size % process_count:
    raise ValueError(f'global batch {global_batch_size} does not split over {process_count} '
                     'processes')
  if not 0 <= process_index < process_count:
    raise ValueError(f'process_index {process_index} outside [0, {process_count})')
  sample_fn = SampleFn(data_config, seed, build_processor)
  # Open the sources here (and report them): bad paths and malformed annotations fail now, in this
  # process, and the annotation index cache is written once before workers (which reopen the
  # sources) start.
  log_usability(sample_fn)
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
                       data_config.skip_check_min_draws, local_batch=local_batch)


def checkpoint_args(iterator: TrainIterator, restore: bool = False):
  """The Orbax ``args`` item for the input iterator, to put in ``ocp.args.Composite``.

      ocp.args.Composite(state=ocp.args.StandardSave(state), data=checkpoint_args(it))
  """
  import grain.checkpoint as grain_checkpoint  # pylint: disable=g-import-not-at-top
  if restore:
    return grain_checkpoint.CheckpointRestore(iterator)
  return grain_checkpoint.CheckpointSave(iterator)
