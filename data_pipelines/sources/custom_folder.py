"""Custom folder format: ``<root>/<seq>/`` holding frames and ``groundtruth.txt``.

Frames are the images of ``<root>/<seq>/`` (or of ``<root>/<seq>/img/`` when it exists), in
natural order (2.jpg before 10.jpg). ``groundtruth.txt`` has one ``x,y,w,h`` line per frame,
separated by commas, tabs or spaces. The first frame's size (read from its header) is the
sequence's image size. An optional ``absence.label`` (one 0/1 a line) marks frames
where the target is absent. No other side file is needed. Hidden folders (``.name``) are not
sequences.
"""

from __future__ import annotations

import os

from data_pipelines.sources import annotation_files as files
from data_pipelines.sources.base import DatasetError
from data_pipelines.sources.frame_files import frames_from_listing, image_header_size
from data_pipelines.sources.indexed import IndexedSource, cached_sequences

LAYOUT = ('each sub-folder is one sequence holding its images (jpg, jpeg, png, bmp), directly or '
          'in img/, and groundtruth.txt with one x,y,w,h line per image')


def read_custom_sequence(seq_dir: str, *, strict: bool = False):
  name = os.path.basename(os.path.normpath(seq_dir))
  gt_path = os.path.join(seq_dir, 'groundtruth.txt')
  if not os.path.isfile(gt_path):
    raise DatasetError(f'{gt_path}: missing groundtruth file (custom layout: {LAYOUT})')
  image_dir = os.path.join(seq_dir, 'img') if os.path.isdir(os.path.join(seq_dir, 'img')) else seq_dir
  names = files.list_images(image_dir)
  if not names:
    raise DatasetError(f'{image_dir}: no images (jpg, jpeg, png, bmp)')
  frames = frames_from_listing(image_dir, names)
  boxes = files.read_boxes(gt_path)
  absence_path = os.path.join(seq_dir, 'absence.label')
  absent = (files.read_labels(absence_path, len(frames)) if os.path.isfile(absence_path)
            else None)
  # The frame size clips boxes when scoring (GOT-10k protocol); the header alone is read. An
  # unreadable first frame leaves it unknown: reading that frame fails (and is counted) later.
  try:
    image_size = image_header_size(frames[0])
  except DatasetError:
    image_size = None
  return files.make_sequence(name, frames, gt_path, boxes, strict=strict, absent=absent,
                             image_size=image_size)


def _layout_hint(root: str) -> str:
  """``LAYOUT``, plus a pointer to the parent when ``root`` is itself a sequence folder."""
  if os.path.isfile(os.path.join(root, 'groundtruth.txt')):
    return f'{LAYOUT}; this folder itself holds groundtruth.txt: give its parent as the root'
  return LAYOUT


class CustomFolderSource(IndexedSource):
  """Every sub-directory of ``root`` is one sequence (sorted by name)."""

  def __init__(self, root: str, *, name: str = 'custom', strict: bool = False,
               cache_dir: str | None = None):
    if not os.path.isdir(root):
      raise DatasetError(f'{root}: dataset directory not found')

    def build():
      seq_dirs = sorted(d for d in os.listdir(root)
                        if not d.startswith('.') and os.path.isdir(os.path.join(root, d)))
      if os.path.isfile(os.path.join(root, 'groundtruth.txt')) and not any(
          os.path.isfile(os.path.join(root, d, 'groundtruth.txt')) for d in seq_dirs):
        return []  # a sequence folder (its img/ is no sequence) given as the root: said below
      return [read_custom_sequence(os.path.join(root, d), strict=strict) for d in seq_dirs]

    sequences = cached_sequences('custom', (strict,), [root], build, cache_dir)
    super().__init__(name, sequences, root=root,
                     layout=None if sequences else _layout_hint(root))
