"""One training sample as a pure function of (seed, global index), shared by both backends.

What a sample holds is the choice of the caller (a family's train task): ``SampleFn`` opens the
sources of ``data_config.train_datasets`` and hands them to the ``ProcessorFactory`` it is given
(e.g. ``data_pipelines.sot_processing.build_processor``, template/search crops), whose
``SampleProcessor`` turns random numbers into one sample.

Besides the processor's fields, a sample counts the draws skipped for bad data: ``skipped`` (one
count per dataset, from the processor) and ``skipped_by_reason`` (per dataset and
``SKIP_REASONS`` entry: why the frame read failed, or ``'other'`` for a skip without a failed
read, e.g. a box the processor refuses). A row of ``skipped_by_reason`` sums to its ``skipped``.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Callable, Protocol, Sequence

import ml_collections
import numpy as np

from data_pipelines import config as data_config_lib
from data_pipelines.sources.base import DatasetError, SequenceSource
from data_pipelines.sources.factory import make_sources
from data_pipelines.sources.frame_files import FRAME_ERROR_REASONS, FrameError

# Why a draw was skipped: a ``FrameError`` reason, or 'other' (another ``DatasetError``).
SKIP_REASONS = FRAME_ERROR_REASONS + ('other',)
_OTHER = SKIP_REASONS.index('other')


def _skip_reason(error: DatasetError) -> str:
  """The ``SKIP_REASONS`` entry of an error a frame read raised."""
  return error.reason if isinstance(error, FrameError) else 'other'


class _ReadFailures(threading.local):
  """This thread's ``(num_datasets, len(SKIP_REASONS))`` count of failed frame reads."""

  def __init__(self, num_datasets: int):
    super().__init__()
    self.num_datasets = num_datasets
    self.reset()

  def reset(self) -> np.ndarray:
    self.counts = np.zeros((self.num_datasets, len(SKIP_REASONS)), np.int32)
    return self.counts


class _CountingSource:
  """Forwards everything to ``source``; counts, by reason, the ``DatasetError`` of ``read_frame``
  (the processor turns each into one skipped draw of dataset ``dataset``)."""

  def __init__(self, source, dataset: int, failures: _ReadFailures):
    self._source, self._dataset, self._failures = source, dataset, failures

  def __len__(self) -> int:
    return len(self._source)

  def __getattr__(self, name):
    if name.startswith('__') or name in ('_source', '_dataset', '_failures'):
      raise AttributeError(name)
    return getattr(self._source, name)

  def read_frame(self, index: int, frame: int, reduce: int = 1) -> np.ndarray:
    try:
      return self._source.read_frame(index, frame, reduce)
    except DatasetError as e:
      self._failures.counts[self._dataset, SKIP_REASONS.index(_skip_reason(e))] += 1
      raise


class SourceUsability(Protocol):
  """Which sequences of one source a processor draws (e.g. ``sot_sampling.Usability``)."""

  @property
  def num_dropped(self) -> int:
    ...

  def summary(self, source: SequenceSource) -> str:
    ...


class SampleProcessor(Protocol):
  """Builds samples from the sources it was given; what ``SampleFn`` asks of it."""

  sources: Sequence[SequenceSource]
  usability: Sequence[SourceUsability]  # one per source, reported when the iterator is built

  def sample(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One sample from ``rng`` alone, with ``'skipped'``: (num_datasets,) int32 draws skipped for
    bad data (a ``DatasetError`` of a frame read, or a box the processor refuses)."""
    ...

  def output_spec(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Shape and dtype of each field of one sample, ``'skipped'`` included."""
    ...


# (sources, ratios, data_config) -> processor. A module-level function, so that ``SampleFn``
# pickles into worker processes.
ProcessorFactory = Callable[[list, list, Any], SampleProcessor]


class SampleFn:
  """``fn(global_index) -> sample dict``; picklable (sources are opened lazily per process).

  The sample depends only on ``seed`` and the index, through ``np.random.default_rng([seed,
  index])``, so any worker, backend or restart reproduces it. ``build_processor(sources, ratios,
  data_config)`` makes the processor (``ProcessorFactory``); it reads its own settings from
  ``data_config``.
  """

  def __init__(self, data_config, seed: int, build_processor: ProcessorFactory):
    if seed < 0:
      raise ValueError(f'seed must be non-negative, got {seed}')
    if not callable(build_processor):
      raise TypeError('build_processor must be a ProcessorFactory, e.g. '
                      'data_pipelines.sot_processing.build_processor')
    self.seed = int(seed)
    self.datasets = data_config_lib.plain(data_config.train_datasets)
    if not self.datasets:
      raise ValueError('data.train_datasets is empty')
    cache_dir = data_config.cache_dir
    self.cache_dir = os.path.expanduser(cache_dir) if cache_dir else None
    self.data_config = ml_collections.ConfigDict(data_config_lib.plain(data_config))  # a copy
    self.build_processor = build_processor
    self._processor = None
    self._failures = None

  @property
  def processor(self) -> SampleProcessor:
    if self._processor is None:
      sources, ratios = make_sources(self.datasets, self.cache_dir)
      self._failures = _ReadFailures(len(sources))
      sources = [_CountingSource(s, d, self._failures) for d, s in enumerate(sources)]
      self._processor = self.build_processor(sources, ratios, self.data_config)
    return self._processor

  @property
  def num_datasets(self) -> int:
    return len(self.datasets)

  def dataset_names(self) -> list[str]:
    return [d['name'] for d in self.datasets]

  def __getstate__(self):
    state = dict(self.__dict__)
    state['_processor'] = state['_failures'] = None
    return state

  def __call__(self, index: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([self.seed, int(index)])
    processor = self.processor
    counts = self._failures.reset()
    sample = processor.sample(rng)
    # Each failed read skipped one draw; skips without a failed read (bad boxes) are 'other'.
    counts[:, _OTHER] += np.maximum(sample['skipped'] - counts.sum(axis=1), 0)
    sample['skipped_by_reason'] = counts
    return sample

  def output_spec(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Shape and dtype of each field of one sample (the processor's, then ``skipped_by_reason``)."""
    spec = dict(self.processor.output_spec())
    spec['skipped_by_reason'] = ((self.num_datasets, len(SKIP_REASONS)), np.dtype(np.int32))
    return spec


def global_index(local_index: int, local_batch: int, global_batch: int,
                 process_index: int) -> int:
  """Sample index of a process's ``local_index``-th element: process p takes slice
  ``[p * L, (p + 1) * L)`` of every global batch of ``global_batch`` samples."""
  step, slot = divmod(int(local_index), local_batch)
  return step * global_batch + process_index * local_batch + slot
