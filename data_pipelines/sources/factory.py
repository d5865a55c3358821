"""Builds a source from a config entry ``{name, root, ratio, options}``."""

from __future__ import annotations

from typing import Any, Mapping

from data_pipelines.sources.base import SequenceSource
from data_pipelines.sources.indexed import NoSequencesFound

SOURCE_NAMES = ('got10k', 'lasot', 'trackingnet', 'coco', 'otb', 'uav123', 'nfs', 'custom',
                'synthetic', 'tfds')

# What a reader looks for, named when it finds no sequence under the root it was given.
LAYOUTS = {
    'got10k': 'the split folder (train/, val/ or test/, or the root itself) holds one folder '
              'per sequence, named by list.txt when present, with %08d.jpg frames and '
              'groundtruth.txt',
    'lasot': '<class>/<class>-<n>/ folders with img/%08d.jpg and groundtruth.txt; split '
             "'train' leaves out the 280 test sequences",
    'trackingnet': 'each TRAIN_<k>/ (or TEST/) holds anno/<seq>.txt and frames/<seq>/<n>.jpg',
    'otb': '<seq>/img/%04d.jpg and <seq>/groundtruth_rect.txt',
    'uav123': 'anno/UAV123/<seq>.txt and data_seq/UAV123/<seq>/%06d.jpg',
    'nfs': '<seq>/30/<seq>/%05d.jpg and <seq>/30/<seq>.txt',
    'tfds': 'a directory written by python -m data_pipelines.tfds_build, or one per split',
}


def make_source(name: str, root: str | None = None, *, cache_dir: str | None = None,
                **options: Any) -> SequenceSource:
  """Returns the source called ``name`` (one of ``SOURCE_NAMES``) reading ``root``.

  ``options`` go to the reader (e.g. ``split='vottrain'``-style ``split_file=...`` for GOT-10k,
  ``chunks=[0, 1]`` for TrackingNet). ``'synthetic'`` needs no root and takes
  ``num_sequences, num_frames, image_size, seed``.

  Raises:
    NoSequencesFound: the reader found no sequence; the message names ``root`` and what the
      layout ``name`` expects there.
    DatasetError: malformed or missing dataset content, naming the file (and line).
  """
  try:
    return _open_source(name, root, cache_dir, options)
  except NoSequencesFound as e:
    if e.root is not None:
      raise
    raise NoSequencesFound(e.source_name, root, e.layout or LAYOUTS.get(name)) from None


def _open_source(name: str, root: str | None, cache_dir: str | None,
                 options: Mapping[str, Any]) -> SequenceSource:
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
  if name == 'tfds':
    from data_pipelines.sources.tfds_source import TfdsSource
    return TfdsSource(root, cache_dir=cache_dir, **options)
  raise ValueError(f'unknown source {name!r}; expected one of {SOURCE_NAMES}')


def make_sources(entries, cache_dir: str | None = None) -> tuple[list[SequenceSource], list[float]]:
  """Sources and sampling ratios from ``config.data.train_datasets`` entries.

  Each entry is a mapping with ``name``, ``ratio`` and optionally ``root``, ``options`` and
  ``label`` (the mix name, e.g. ``got10k_vottrain``: what logs and skip counts call the source).
  """
  sources, ratios = [], []
  for i, entry in enumerate(entries):
    entry = dict(entry)
    for field in ('name', 'ratio'):
      if field not in entry:
        raise ValueError(f'data.train_datasets[{i}] lacks field {field!r}: {entry}')
    options: Mapping[str, Any] = dict(entry.get('options') or {})
    source = make_source(entry['name'], entry.get('root'), cache_dir=cache_dir, **options)
    if entry.get('label'):
      source.name = str(entry['label'])
    sources.append(source)
    ratios.append(float(entry['ratio']))
  return sources, ratios
