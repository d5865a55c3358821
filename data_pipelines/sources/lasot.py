"""LaSOT: ``<root>/<class>/<class>-<n>/img/%08d.jpg`` with ``groundtruth.txt``,
``full_occlusion.txt`` and ``out_of_view.txt`` (one comma-separated line of 0/1 flags).

A frame is visible when its box is valid and it is neither fully occluded nor out of view
(pytracking's ``target_visible``). Both flag files are also kept as the per-frame attributes
``full_occlusion`` and ``out_of_view`` (bool), which reports show as per-frame conditions.
The official protocol tests on 280 sequences (4 per class); that list ships with this package
(``lasot_test_sequences.txt``, as published with the dataset and in public toolkits) and the
training split is every other sequence.
"""

from __future__ import annotations

import importlib.resources
import os

from data_pipelines.sources import annotation_files as files
from data_pipelines.sources.base import DatasetError
from data_pipelines.sources.frame_files import NumberedFrames
from data_pipelines.sources.indexed import IndexedSource, cached_sequences

# Bumped when what a cached LaSOT sequence holds changes (2: full_occlusion/out_of_view kept).
_INDEX_FORMAT = 2


def lasot_test_sequences() -> list[str]:
  """The 280 names of LaSOT's official test split."""
  text = importlib.resources.files('data_pipelines.sources').joinpath(
      'lasot_test_sequences.txt').read_text()
  return [line.strip() for line in text.splitlines() if line.strip()]


def read_lasot_sequence(seq_dir: str, *, strict: bool = False):
  name = os.path.basename(os.path.normpath(seq_dir))
  gt_path = os.path.join(seq_dir, 'groundtruth.txt')
  if not os.path.isfile(gt_path):
    raise DatasetError(f'{gt_path}: missing groundtruth file')
  boxes = files.read_boxes(gt_path)
  frames = NumberedFrames(os.path.join(seq_dir, 'img'), '%08d.jpg', 1, len(boxes))
  absent, attributes = None, {}
  for key in ('full_occlusion', 'out_of_view'):
    path = os.path.join(seq_dir, f'{key}.txt')
    if os.path.isfile(path):
      flags = files.read_labels(path, len(frames)).astype(bool)
      attributes[key] = flags
      absent = flags if absent is None else absent | flags
  return files.make_sequence(name, frames, gt_path, boxes, strict=strict, absent=absent,
                             attributes=attributes, class_name=name.rsplit('-', 1)[0])


class LasotSource(IndexedSource):
  """LaSOT ``split`` 'train', 'test' (the official 280) or 'all'."""

  def __init__(self, root: str, split: str = 'train', *, strict: bool = False,
               cache_dir: str | None = None, name: str | None = None):
    if split not in ('train', 'test', 'all'):
      raise ValueError(f"LaSOT split must be 'train', 'test' or 'all', got {split!r}")
    if not os.path.isdir(root):
      raise DatasetError(f'{root}: LaSOT directory not found')
    test = set(lasot_test_sequences())

    def build():
      seqs = []
      for cls in sorted(os.listdir(root)):
        cls_dir = os.path.join(root, cls)
        if not os.path.isdir(cls_dir):
          continue
        for seq in sorted(os.listdir(cls_dir), key=files.natural_key):
          if not os.path.isdir(os.path.join(cls_dir, seq)):
            continue
          if split == 'all' or (seq in test) == (split == 'test'):
            seqs.append(read_lasot_sequence(os.path.join(cls_dir, seq), strict=strict))
      return seqs

    super().__init__(name or f'lasot_{split}',
                     cached_sequences('lasot', (_INDEX_FORMAT, split, strict), [root], build,
                                      cache_dir))
