"""The SOT benchmarks: one mapping from (dataset, root, split) to a ``data_pipelines.sources``
reader and the conventions of its results, shared by the benchmark runner and the report.

Datasets (``DATASETS``): ``got10k`` (split ``val``, ``test`` or ``train``), ``lasot`` (``test``:
the official 280, ``train`` or ``all``), ``trackingnet`` (``test`` = the ``TEST`` chunk, or a
chunk folder such as ``TRAIN_0``), the folder layouts ``otb``, ``uav123``, ``nfs`` and ``custom``
(a split, when given, is a sub-folder of the root) and ``synthetic`` (the held-out ``test`` split
of ``SyntheticSource``, rendered on the fly). numpy only: no JAX here.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Literal

from data_pipelines.sources.base import SequenceSource
from data_pipelines.sources.factory import make_source
from trackjax.sot import result_files as rf

DATASETS = ('got10k', 'lasot', 'trackingnet', 'otb', 'uav123', 'nfs', 'custom', 'synthetic')
FOLDER_DATASETS = ('custom', 'otb', 'uav123', 'nfs')  # a split is a sub-folder
DEFAULT_SPLITS = {'got10k': 'val', 'lasot': 'test', 'trackingnet': 'test'}
# FPS as the dataset's toolkit computes it (GOT-10k's mean of 1 / t, else per-sequence FPS).
GOT10K_PROTOCOL_DATASETS = ('got10k', 'custom')


def open_source(name: str, root: str | os.PathLike = '', split: str | None = None, *,
                synthetic: dict | None = None) -> SequenceSource:
  """The reader of benchmark ``name`` at ``root`` (see the module docstring for ``split``;
  ``None`` or '' takes ``DEFAULT_SPLITS``). ``synthetic``: ``SyntheticSource`` sizes."""
  if name not in DATASETS:
    raise ValueError(f'unknown dataset {name!r}; expected one of {DATASETS}')
  if name == 'synthetic':
    return make_source('synthetic', split='test', **(synthetic or {}))
  root = os.fspath(root)
  if not os.path.isdir(root):
    raise FileNotFoundError(f'dataset root not found: {root}')
  split = split or DEFAULT_SPLITS.get(name)
  if name == 'got10k':
    if split not in ('val', 'test', 'train'):
      raise ValueError(f"split={split!r}: GOT-10k has 'val' and 'test' (and 'train')")
    return make_source('got10k', root, split=split)
  if name == 'lasot':
    return make_source('lasot', root, split=split)
  if name == 'trackingnet':
    return make_source('trackingnet', root, chunks=['TEST'] if split == 'test' else [split])
  return make_source(name, os.path.join(root, split) if split else root)


@dataclasses.dataclass(frozen=True)
class Benchmark:
  """A dataset opened for evaluation and how its results are written."""

  source: SequenceSource
  layout: rf.Layout
  tracker_key: str  # passed to the family's build_tracker as `dataset` (per-benchmark settings)
  server_zip: str | None  # 'got10k' | 'trackingnet' | None
  fps_protocol: Literal['got10k', 'ope']


def open_benchmark(eval_config) -> Benchmark:
  """The source and result conventions of ``config.evaluate.{dataset, dataset_root, split}``.

  ``split`` is read for GOT-10k, LaSOT and TrackingNet; the folder datasets are evaluated whole.
  """
  name, root, split = eval_config.dataset, eval_config.dataset_root, eval_config.split
  if name not in DATASETS:
    raise ValueError(f'config.evaluate.dataset={name!r}: expected one of {DATASETS}')
  if name != 'synthetic' and not root:
    raise ValueError(f'config.evaluate.dataset_root is empty; {name} needs its root folder')
  fps = 'got10k' if name in GOT10K_PROTOCOL_DATASETS else 'ope'
  if name == 'synthetic':
    source = open_source('synthetic', synthetic=dict(
        num_sequences=eval_config.synthetic_sequences, num_frames=eval_config.synthetic_frames,
        image_size=tuple(eval_config.synthetic_image_size), seed=eval_config.synthetic_seed))
    return Benchmark(source, 'plain', 'default', None, fps)
  if name == 'got10k':
    if split not in ('val', 'test', 'train'):
      raise ValueError(f"config.evaluate.split={split!r}: GOT-10k has 'val' and 'test'")
    return Benchmark(open_source(name, root, split), 'got10k',
                     'got10k_test' if split == 'test' else 'default',
                     'got10k' if split == 'test' else None, fps)
  if name == 'lasot':
    return Benchmark(open_source(name, root, split or 'test'), 'plain', 'lasot', None, fps)
  if name == 'trackingnet':
    test = split in ('', 'test')
    return Benchmark(open_source(name, root, split or 'test'), 'plain', 'trackingnet',
                     'trackingnet' if test else None, fps)
  return Benchmark(open_source(name, root), 'plain', 'default', None, fps)
