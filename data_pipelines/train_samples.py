"""One training sample as a pure function of (seed, global index), shared by both backends."""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from data_pipelines.sources.factory import make_sources
from data_pipelines.stark_processing import ProcessingConfig, StarkProcessor
from data_pipelines.stark_sampling import SamplerConfig, StarkSampler

SAMPLE_KEYS = ('template_images', 'template_masks', 'template_anno', 'search_images',
               'search_masks', 'search_anno', 'label', 'skipped')


def _plain(value):
  """ConfigDict / FrozenConfigDict -> plain Python containers."""
  if hasattr(value, 'to_dict'):
    value = value.to_dict()
  if isinstance(value, dict):
    return {k: _plain(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_plain(v) for v in value]
  return value


def sampler_config(data_config) -> SamplerConfig:
  return SamplerConfig(**_plain(data_config.sampler))


def processing_config(data_config) -> ProcessingConfig:
  return ProcessingConfig(**_plain(data_config.processing))


class SampleFn:
  """``fn(global_index) -> sample dict``; picklable (sources are opened lazily per process).

  The sample depends only on ``seed`` and the index, through ``np.random.default_rng([seed,
  index])``, so any worker, backend or restart reproduces it.
  """

  def __init__(self, data_config, seed: int):
    if seed < 0:
      raise ValueError(f'seed must be non-negative, got {seed}')
    self.seed = int(seed)
    self.datasets = _plain(data_config.train_datasets)
    if not self.datasets:
      raise ValueError('data.train_datasets is empty')
    cache_dir = data_config.cache_dir
    self.cache_dir = os.path.expanduser(cache_dir) if cache_dir else None
    self.sampler_config = sampler_config(data_config)
    self.processing_config = processing_config(data_config)
    self.max_attempts = int(data_config.max_attempts)
    self._processor = None

  @property
  def processor(self) -> StarkProcessor:
    if self._processor is None:
      sources, ratios = make_sources(self.datasets, self.cache_dir)
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
    state['_processor'] = None
    return state

  def __call__(self, index: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([self.seed, int(index)])
    return self.processor.sample(rng)

  def output_spec(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Shape and dtype of each field of one sample."""
    t = self.sampler_config.num_template
    ts, ss = self.processing_config.template_size, self.processing_config.search_size
    return {
        'template_images': ((t, ts, ts, 3), np.dtype(np.uint8)),
        'template_masks': ((t, ts, ts), np.dtype(bool)),
        'template_anno': ((t, 4), np.dtype(np.float32)),
        'search_images': ((ss, ss, 3), np.dtype(np.uint8)),
        'search_masks': ((ss, ss), np.dtype(bool)),
        'search_anno': ((4,), np.dtype(np.float32)),
        'label': ((), np.dtype(np.float32)),
        'skipped': ((self.num_datasets,), np.dtype(np.int32)),
    }


def global_index(local_index: int, local_batch: int, global_batch: int,
                 process_index: int) -> int:
  """Sample index of a process's ``local_index``-th element: process p takes slice
  ``[p * L, (p + 1) * L)`` of every global batch of ``global_batch`` samples."""
  step, slot = divmod(int(local_index), local_batch)
  return step * global_batch + process_index * local_batch + slot
