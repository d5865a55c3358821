"""One training sample as a pure function of (seed, global index), shared by both backends.

Besides the crops, a sample counts the draws skipped for bad data: ``skipped`` (one count per
dataset, from the processor) and ``skipped_by_reason`` (per dataset and ``SKIP_REASONS`` entry:
why the frame read failed, or ``'other'`` for a skip without a failed read, e.g. a box the
processor refuses). A row of ``skipped_by_reason`` sums to its ``skipped``.
"""

from __future__ import annotations

import os
import threading

import numpy as np

from data_pipelines import config as data_config_lib
from data_pipelines.sources.base import DatasetError
from data_pipelines.sources.factory import make_sources
from data_pipelines.sources.frame_files import FRAME_ERROR_REASONS, FrameError
from data_pipelines.stark_processing import ProcessingConfig, StarkProcessor
from data_pipelines.stark_sampling import SamplerConfig, StarkSampler

SAMPLE_KEYS = ('template_images', 'template_masks', 'template_anno', 'template_pixel_scale',
               'search_images', 'search_masks', 'search_anno', 'search_pixel_scale', 'label',
               'skipped', 'skipped_by_reason')
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


def sampler_config(data_config) -> SamplerConfig:
  return SamplerConfig(**data_config_lib.plain(data_config.sampler))


def processing_config(data_config) -> ProcessingConfig:
  return ProcessingConfig(**data_config_lib.plain(data_config.processing))


class SampleFn:
  """``fn(global_index) -> sample dict``; picklable (sources are opened lazily per process).

  The sample depends only on ``seed`` and the index, through ``np.random.default_rng([seed,
  index])``, so any worker, backend or restart reproduces it.
  """

  def __init__(self, data_config, seed: int):
    if seed < 0:
      raise ValueError(f'seed must be non-negative, got {seed}')
    self.seed = int(seed)
    self.datasets = data_config_lib.plain(data_config.train_datasets)
    if not self.datasets:
      raise ValueError('data.train_datasets is empty')
    cache_dir = data_config.cache_dir
    self.cache_dir = os.path.expanduser(cache_dir) if cache_dir else None
    self.sampler_config = sampler_config(data_config)
    self.processing_config = processing_config(data_config)
    self.max_attempts = int(data_config.max_attempts)
    self._processor = None
    self._failures = None

  @property
  def processor(self) -> StarkProcessor:
    if self._processor is None:
      sources, ratios = make_sources(self.datasets, self.cache_dir)
      self._failures = _ReadFailures(len(sources))
      sources = [_CountingSource(s, d, self._failures) for d, s in enumerate(sources)]
      sampler = StarkSampler(sources, ratios, self.sampler_config)
      self._processor = StarkProcessor(sampler, self.processing_config,
                                       max_attempts=self.max_attempts)
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
    """Shape and dtype of each field of one sample."""
    t = self.sampler_config.num_template
    ts, ss = self.processing_config.template_size, self.processing_config.search_size
    return {
        'template_images': ((t, ts, ts, 3), np.dtype(np.uint8)),
        'template_masks': ((t, ts, ts), np.dtype(bool)),
        'template_anno': ((t, 4), np.dtype(np.float32)),
        'template_pixel_scale': ((t,), np.dtype(np.float32)),
        'search_images': ((ss, ss, 3), np.dtype(np.uint8)),
        'search_masks': ((ss, ss), np.dtype(bool)),
        'search_anno': ((4,), np.dtype(np.float32)),
        'search_pixel_scale': ((), np.dtype(np.float32)),
        'label': ((), np.dtype(np.float32)),
        'skipped': ((self.num_datasets,), np.dtype(np.int32)),
        'skipped_by_reason': ((self.num_datasets, len(SKIP_REASONS)), np.dtype(np.int32)),
    }


def global_index(local_index: int, local_batch: int, global_batch: int,
                 process_index: int) -> int:
  """Sample index of a process's ``local_index``-th element: process p takes slice
  ``[p * L, (p + 1) * L)`` of every global batch of ``global_batch`` samples."""
  step, slot = divmod(int(local_index), local_batch)
  return step * global_batch + process_index * local_batch + slot
