"""GOT-10k: ``<root>/{train,val,test}/<seq>/%08d.jpg`` with ``groundtruth.txt``, ``list.txt``.

Side files ``absence.label`` (1 = target absent) and ``cover.label`` (visible ratio class 0..8,
0 = fully occluded) are used when present. A frame is visible when its box is valid, it is not
absent and its cover is above 0. The test split annotates only the first frame: the other boxes
are NaN. Sub-splits such as STARK's ``vottrain`` (7086 videos) are chosen with
``sequence_names`` or a ``split_file``: one sequence name a line, or one integer a line indexing
the split's ``list.txt`` (the format of pytracking's public
``ltr/data_specs/got10k_vot_train_split.txt`` / ``got10k_vot_val_split.txt``, not shipped here).
"""

from __future__ import annotations

import os

from data_pipelines.sources import annotation_files as files
from data_pipelines.sources.base import DatasetError
from data_pipelines.sources.frame_files import NumberedFrames, frames_from_listing
from data_pipelines.sources.indexed import IndexedSource, cached_sequences


def read_got10k_sequence(seq_dir: str, *, strict: bool = False, test: bool = False):
  name = os.path.basename(os.path.normpath(seq_dir))
  gt_path = os.path.join(seq_dir, 'groundtruth.txt')
  if not os.path.isfile(gt_path):
    raise DatasetError(f'{gt_path}: missing groundtruth file')
  boxes = files.read_boxes(gt_path)
  if test:
    frames = frames_from_listing(seq_dir, files.list_images(seq_dir))
    return files.make_sequence(name, frames, gt_path, boxes, strict=strict,
                               annotated_frames=min(len(boxes), len(frames)))
  frames = NumberedFrames(seq_dir, '%08d.jpg', 1, len(boxes))
  labels = {}
  for key in ('absence', 'cover'):
    path = os.path.join(seq_dir, f'{key}.label')
    labels[key] = files.read_labels(path, len(frames)) if os.path.isfile(path) else None
  return files.make_sequence(name, frames, gt_path, boxes, strict=strict,
                             absent=labels['absence'], cover=labels['cover'])


class Got10kSource(IndexedSource):
  """One GOT-10k split. ``root`` is the dataset root (holding ``train/``) or the split folder."""

  def __init__(self, root: str, split: str = 'train', *, strict: bool = False,
               sequence_names: list[str] | None = None, split_file: str | None = None,
               cache_dir: str | None = None, name: str | None = None):
    split_dir = os.path.join(root, split) if os.path.isdir(os.path.join(root, split)) else root
    if not os.path.isdir(split_dir):
      raise DatasetError(f'{split_dir}: GOT-10k split directory not found')
    list_path = os.path.join(split_dir, 'list.txt')
    split_entries = files.read_name_list(split_file) if split_file is not None else None
    key_files = [split_dir, list_path] + ([split_file] if split_file else [])

    def build():
      if os.path.isfile(list_path):
        all_seqs = files.read_name_list(list_path)
      else:
        all_seqs = sorted(d for d in os.listdir(split_dir)
                          if os.path.isdir(os.path.join(split_dir, d)))
      seqs = all_seqs if sequence_names is None else list(sequence_names)
      if split_entries is not None:
        if all(e.isdigit() for e in split_entries):
          bad = [e for e in split_entries if int(e) >= len(all_seqs)]
          if bad:
            raise DatasetError(f'{split_file}: index {bad[0]} outside the {len(all_seqs)} '
                               f'sequences of {split_dir}')
          seqs = [all_seqs[int(e)] for e in split_entries]
        else:
          seqs = split_entries
      return [read_got10k_sequence(os.path.join(split_dir, s), strict=strict,
                                   test=(split == 'test')) for s in seqs]

    params = (split, strict, tuple(sequence_names) if sequence_names else None,
              tuple(split_entries) if split_entries else None)
    super().__init__(name or f'got10k_{split}',
                     cached_sequences('got10k', params, key_files, build, cache_dir))
