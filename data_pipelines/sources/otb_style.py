"""OTB-style benchmark folders: OTB, UAV123 and NFS layouts.

* ``otb``: ``<root>/<seq>/img/%04d.jpg`` and ``groundtruth_rect.txt`` (comma, tab or space);
  multi-target sequences have ``groundtruth_rect.<k>.txt`` and become ``<seq>.<k>``.
* ``uav123``: ``<root>/data_seq/UAV123/<seq>/%06d.jpg`` and ``<root>/anno/UAV123/<seq>.txt``;
  NaN lines mean the target is absent.
* ``nfs``: ``<root>/<seq>/30/<seq>/%05d.jpg`` and ``<root>/<seq>/30/<seq>.txt`` whose lines are
  ``track_id xmin ymin xmax ymax frame lost occluded generated "label"`` (frame 1-based);
  frames without a line, and lost or occluded frames, are absent.

Sequences whose frames are a sub-range of a folder (some OTB and UAV123 entries) are given by
``frame_ranges``: ``{name: (folder, first_frame, last_frame)}`` (1-based, inclusive).
"""

from __future__ import annotations

import os
import re

import numpy as np

from data_pipelines.sources import annotation_files as files
from data_pipelines.sources.base import DatasetError
from data_pipelines.sources.frame_files import frames_from_listing
from data_pipelines.sources.indexed import IndexedSource

LAYOUTS = ('otb', 'uav123', 'nfs')


def _frames(image_dir: str, name: str, frame_ranges) -> list:
  names = files.list_images(image_dir)
  if not names:
    raise DatasetError(f'{image_dir}: no images')
  if name in frame_ranges:
    _, first, last = frame_ranges[name]
    names = names[first - 1:last]
  return frames_from_listing(image_dir, names)


def _read_nfs_boxes(path: str, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
  boxes = np.full((num_frames, 4), np.nan)
  absent = np.ones(num_frames, bool)
  try:
    with open(path, 'r', encoding='utf-8') as f:
      lines = f.read().splitlines()
  except OSError as e:
    raise DatasetError(f'{path}: cannot read ({e.strerror})') from e
  for i, line in enumerate(lines):
    if not line.strip():
      continue
    fields = line.split()
    try:
      x1, y1, x2, y2 = (float(v) for v in fields[1:5])
      frame, lost, occluded = int(fields[5]), int(fields[6]), int(fields[7])
    except (ValueError, IndexError) as e:
      raise DatasetError(f'{path}:{i + 1}: malformed NFS line {line!r}') from e
    if not 1 <= frame <= num_frames:
      raise DatasetError(f'{path}:{i + 1}: frame {frame} outside 1..{num_frames}')
    boxes[frame - 1] = [x1, y1, x2 - x1, y2 - y1]
    absent[frame - 1] = bool(lost or occluded)
  return boxes, absent


class OtbStyleSource(IndexedSource):
  """An OTB, UAV123 or NFS folder (``layout``); ``strict`` for evaluation."""

  def __init__(self, root: str, layout: str = 'otb', *, strict: bool = False,
               frame_ranges: dict | None = None, name: str | None = None):
    if layout not in LAYOUTS:
      raise ValueError(f'layout must be one of {LAYOUTS}, got {layout!r}')
    if not os.path.isdir(root):
      raise DatasetError(f'{root}: dataset directory not found')
    frame_ranges = dict(frame_ranges or {})
    seqs = []
    if layout == 'otb':
      for d in sorted(os.listdir(root)):
        seq_dir = os.path.join(root, d)
        if not os.path.isdir(seq_dir):
          continue
        gts = sorted(f for f in os.listdir(seq_dir) if re.fullmatch(r'groundtruth_rect(\.\d+)?\.txt', f))
        if not gts:
          raise DatasetError(f'{seq_dir}: no groundtruth_rect.txt')
        for gt in gts:
          suffix = gt[len('groundtruth_rect'):-len('.txt')]
          name_k = d + suffix
          frames = _frames(os.path.join(seq_dir, 'img'), name_k, frame_ranges)
          gt_path = os.path.join(seq_dir, gt)
          seqs.append(files.make_sequence(name_k, frames, gt_path, files.read_boxes(gt_path),
                                          strict=strict))
    elif layout == 'uav123':
      anno_dir = os.path.join(root, 'anno', 'UAV123')
      if not os.path.isdir(anno_dir):
        raise DatasetError(f'{anno_dir}: UAV123 annotation directory not found')
      for fname in sorted(f for f in os.listdir(anno_dir) if f.endswith('.txt')):
        seq = fname[:-4]
        folder = frame_ranges.get(seq, (seq,))[0]
        frames = _frames(os.path.join(root, 'data_seq', 'UAV123', folder), seq, frame_ranges)
        gt_path = os.path.join(anno_dir, fname)
        boxes = files.read_boxes(gt_path)
        absent = np.all(np.isnan(boxes), axis=1) if len(boxes) == len(frames) else None
        seqs.append(files.make_sequence(seq, frames, gt_path, boxes, strict=strict,
                                        absent=absent))
    else:
      for d in sorted(os.listdir(root)):
        base = os.path.join(root, d, '30')
        if not os.path.isdir(base):
          continue
        frames = _frames(os.path.join(base, d), d, frame_ranges)
        gt_path = os.path.join(base, f'{d}.txt')
        boxes, absent = _read_nfs_boxes(gt_path, len(frames))
        seqs.append(files.make_sequence(d, frames, gt_path, boxes, strict=strict, absent=absent))
    super().__init__(name or layout, seqs)
