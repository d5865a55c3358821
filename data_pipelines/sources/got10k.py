"""GOT-10k: ``<root>/{train,val,test}/<seq>/%08d.jpg`` with ``groundtruth.txt``, ``list.txt``.

Side files, each used when present (the got10k toolkit 0.1.3 reads all of them for val):
* ``absence.label`` (1 = target absent) and ``cover.label`` (visible-ratio class 0..8, 0 = fully
  occluded). A frame is visible when its box is valid, it is not absent and its cover is above 0.
  The toolkit scores exactly the frames with ``cover > 0``, so ``Sequence.cover`` is kept.
* ``cut_by_image.label`` (1 = the box is cut by the image border): the per-frame attribute
  ``attributes['cut_by_image']`` (bool).
* ``meta_info.ini``: its ``resolution: (W, H)`` line gives ``Sequence.image_size`` (as
  ``(H, W)``), the bound the toolkit clips both boxes to before their IoU. Without the file (the
  test split ships none) the size is read from the first frame's header, without decoding it.

The test split annotates only the first frame: the other boxes are NaN. Sub-splits such as
pytracking's ``vottrain`` (7086 videos) are chosen with ``sequence_names`` or a ``split_file``: one
sequence name a line, or one integer a line indexing the split's ``list.txt`` (the format of
pytracking's public ``ltr/data_specs/got10k_vot_train_split.txt`` / ``got10k_vot_val_split.txt``).
The reference's split lists ship beside this file (``got10k_vot_train_split.txt``: 7086 videos,
``got10k_vot_val_split.txt``: 1249, ``got10k_train_full_split.txt``: 9335); ``config.data.mix``
names them (``got10k_vottrain``, ``got10k_votval``, ``got10k_train_full``).
"""

from __future__ import annotations

import os

from data_pipelines.sources import annotation_files as files
from data_pipelines.sources.base import DatasetError
from data_pipelines.sources.frame_files import NumberedFrames, frames_from_listing
from data_pipelines.sources.frame_files import image_header_size
from data_pipelines.sources.indexed import IndexedSource, cached_sequences

META_FILE = 'meta_info.ini'
# Bumped whenever what a cached GOT-10k sequence holds changes (2: image_size, cut_by_image), so
# an index pickled by an older reader is rebuilt instead of reused.
_INDEX_FORMAT = 2


def read_meta_resolution(path: str) -> tuple[int, int] | None:
  """(height, width) from a ``meta_info.ini`` line ``resolution: (W, H)``; None without one.

  The toolkit splits each line after the ``[METAINFO]`` header at ``': '`` and evaluates the
  value as a Python tuple ``(W, H)``.

  Raises:
    DatasetError: a ``resolution`` line that is not two positive integers, naming file and line.
  """
  try:
    with open(path, 'r', encoding='utf-8-sig') as f:
      lines = f.read().splitlines()
  except OSError as e:
    raise DatasetError(f'{path}: cannot read ({e.strerror})') from e
  for number, line in enumerate(lines, start=1):
    key, _, value = line.partition(':')
    if key.strip() != 'resolution':
      continue
    fields = value.strip().strip('()[]').split(',')
    try:
      width, height = (int(v) for v in fields)
    except ValueError:
      width = height = 0
    if width <= 0 or height <= 0:
      raise DatasetError(f'{path}:{number}: resolution must be (width, height) in pixels, '
                         f'got {value.strip()!r}')
    return height, width
  return None


def sequence_image_size(seq_dir: str, first_frame: str | None) -> tuple[int, int] | None:
  """(height, width) of a GOT-10k sequence: ``meta_info.ini``, else the first frame's header.

  None when there is neither (no meta file and no first frame on disk).
  """
  meta = os.path.join(seq_dir, META_FILE)
  if os.path.isfile(meta):
    size = read_meta_resolution(meta)
    if size is not None:
      return size
  if first_frame is not None and os.path.isfile(first_frame):
    return image_header_size(first_frame)
  return None


def read_got10k_sequence(seq_dir: str, *, strict: bool = False, test: bool = False):
  name = os.path.basename(os.path.normpath(seq_dir))
  gt_path = os.path.join(seq_dir, 'groundtruth.txt')
  if not os.path.isfile(gt_path):
    raise DatasetError(f'{gt_path}: missing groundtruth file')
  boxes = files.read_boxes(gt_path)
  if test:
    frames = frames_from_listing(seq_dir, files.list_images(seq_dir))
    size = sequence_image_size(seq_dir, frames[0] if len(frames) else None)
    return files.make_sequence(name, frames, gt_path, boxes, strict=strict,
                               annotated_frames=min(len(boxes), len(frames)), image_size=size)
  frames = NumberedFrames(seq_dir, '%08d.jpg', 1, len(boxes))
  labels = {}
  for key in ('absence', 'cover', 'cut_by_image'):
    path = os.path.join(seq_dir, f'{key}.label')
    labels[key] = files.read_labels(path, len(frames)) if os.path.isfile(path) else None
  attributes = {}
  if labels['cut_by_image'] is not None:
    attributes['cut_by_image'] = labels['cut_by_image'] > 0
  size = sequence_image_size(seq_dir, frames[0] if len(frames) else None)
  return files.make_sequence(name, frames, gt_path, boxes, strict=strict,
                             absent=labels['absence'], cover=labels['cover'],
                             attributes=attributes, image_size=size)


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

    params = (_INDEX_FORMAT, split, strict, tuple(sequence_names) if sequence_names else None,
              tuple(split_entries) if split_entries else None)
    super().__init__(name or f'got10k_{split}',
                     cached_sequences('got10k', params, key_files, build, cache_dir))
