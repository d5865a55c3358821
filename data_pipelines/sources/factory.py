"""Builds a source from a config entry ``{name, root, ratio, options}``."""

from __future__ import annotations

from typing import Any, Mapping

from data_pipelines.sources.base import SequenceSource

SOURCE_NAMES = ('got10k', 'lasot', 'trackingnet', 'coco', 'otb', 'uav123', 'nfs', 'custom',
                'synthetic')


def make_source(name: str, root: str | None = None, *, cache_dir: str | None = None,
                **options: Any) -> SequenceSource:
  """Returns the source called ``name`` (one of ``SOURCE_NAMES``) reading ``root``.

  ``options`` go to the reader (e.g. ``split='vottrain'``-style ``split_file=...`` for GOT-10k,
  ``chunks=[0, 1]`` for TrackingNet). ``'synthetic'`` needs no root and takes
  ``num_sequences, num_frames, image_size, seed``.
  """
  if name == 'synthetic':
    from data_pipelines import synthetic  # pylint: disable=g-import-not-at-top
    return synthetic.SyntheticSource(**options)
  if root is None:
    raise ValueError(f'source {name!r} needs a root directory')
  if name == 'got10k':
    from data_pipelines.sources.got10k import Got10kSource
    return Got10kSource(root, cache_dir=cache_dir, **options)
  if name == 'lasot':
    from data_pipelines.sources.lasot import LasotSource
    return LasotSource(root, cache_dir=cache_dir, **options)
  if name == 'trackingnet':
    from data_pipelines.sources.trackingnet import TrackingNetSource
    return TrackingNetSource(root, cache_dir=cache_dir, **options)
  if name == 'coco':
    from data_pipelines.sources.coco import CocoSource
    return CocoSource(root, cache_dir=cache_dir, **options)
  if name in ('otb', 'uav123', 'nfs'):
    from data_pipelines.sources.otb_style import OtbStyleSource
    return OtbStyleSource(root, layout=name, **options)
  if name == 'custom':
    from data_pipelines.sources.custom_folder import CustomFolderSource
    return CustomFolderSource(root, cache_dir=cache_dir, **options)
  raise ValueError(f'unknown source {name!r}; expected one of {SOURCE_NAMES}')


def make_sources(entries, cache_dir: str | None = None) -> tuple[list[SequenceSource], list[float]]:
  """Sources and sampling ratios from ``config.data.train_datasets`` entries.

  Each entry is a mapping with ``name``, ``ratio`` and optionally ``root`` and ``options``.
  """
  sources, ratios = [], []
  for i, entry in enumerate(entries):
    entry = dict(entry)
    for field in ('name', 'ratio'):
      if field not in entry:
        raise ValueError(f'data.train_datasets[{i}] lacks field {field!r}: {entry}')
    options: Mapping[str, Any] = dict(entry.get('options') or {})
    sources.append(make_source(entry['name'], entry.get('root'), cache_dir=cache_dir, **options))
    ratios.append(float(entry['ratio']))
  return sources, ratios
