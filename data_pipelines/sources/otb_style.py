"""OTB-style benchmark folders: OTB, UAV123 and NFS layouts.

* ``otb``: ``<root>/<seq>/img/%04d.jpg`` and ``groundtruth_rect.txt`` (comma, tab or space);
  multi-target sequences have ``groundtruth_rect.<k>.txt`` and become ``<seq>.<k>``.
* ``uav123``: ``<root>/data_seq/UAV123/<seq>/%06d.jpg`` and ``<root>/anno/UAV123/<seq>.txt``;
  NaN lines mean the target is absent. A sub-sequence ``<seq>_<k>`` is a frame range of
  ``data_seq/UAV123/<seq>``.
* ``nfs``: ``<root>/<seq>/30/<seq>/%05d.jpg`` and ``<root>/<seq>/30/<seq>.txt`` whose lines are
  ``track_id xmin ymin xmax ymax frame lost occluded generated "label"``, read as the got10k
  toolkit's ``NfS`` does: one line per frame in line order; a file with about 8x as many lines as
  frames holds 240 fps annotations and every 8th line is taken; one line or frame too many is cut.
  Every frame with a valid box is visible (the toolkits score them all); ``lost`` and
  ``occluded`` are kept as the per-frame attributes of those names.

Sequences whose frames are a sub-range of a folder are given by ``frame_ranges``:
``{name: (folder, first_frame, last_frame)}`` (1-based positions in the sorted folder,
inclusive). By default (``frame_ranges=None``) the official ranges are used: for OTB the ones
both pytracking and the got10k toolkit cut (``OTB_FRAME_RANGES``; Tiger1 starts at frame 6 as
pytracking's ``initOmit``), for UAV123 the 51 sub-sequences of the UAV123 configuration (as in
the got10k toolkit's ``uav123.json`` and pytracking's ``uavdataset``). When the annotation file
covers the whole folder and the range is shorter (Tiger1), its lines are cut to the same range.
When the range does not fit the folder but the folder holds exactly as many images as the file
has lines (a copy already cut to the range), the folder is taken whole.
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

# OTB-100 sequences evaluated on part of their folder: (first, last) 1-based frames.
OTB_FRAME_RANGES = {'David': (300, 770), 'Football1': (1, 74), 'Freeman3': (1, 460),
                    'Freeman4': (1, 283), 'Diving': (1, 215), 'Tiger1': (6, 354)}

# UAV123 sub-sequences ``<folder>_<k>``: (first, last) 1-based frames of data_seq/UAV123/<folder>.
UAV123_SUBSEQUENCES = {
    'bird1_1': (1, 253), 'bird1_2': (775, 1477), 'bird1_3': (1573, 2437), 'car1_1': (1, 751),
    'car1_2': (751, 1627), 'car1_3': (1627, 2629), 'car6_1': (1, 487), 'car6_2': (487, 1807),
    'car6_3': (1807, 2953), 'car6_4': (2953, 3925), 'car6_5': (3925, 4861), 'car8_1': (1, 1357),
    'car8_2': (1357, 2575), 'car16_1': (1, 415), 'car16_2': (415, 1993), 'group1_1': (1, 1333),
    'group1_2': (1333, 2515), 'group1_3': (2515, 3925), 'group1_4': (3925, 4873),
    'group2_1': (1, 907), 'group2_2': (907, 1771), 'group2_3': (1771, 2683), 'group3_1': (1, 1567),
    'group3_2': (1567, 2827), 'group3_3': (2827, 4369), 'group3_4': (4369, 5527),
    'person2_1': (1, 1189), 'person2_2': (1189, 2623), 'person4_1': (1, 1501),
    'person4_2': (1501, 2743), 'person5_1': (1, 877), 'person5_2': (877, 2101),
    'person7_1': (1, 1249), 'person7_2': (1249, 2065), 'person8_1': (1, 1075),
    'person8_2': (1075, 1525), 'person12_1': (1, 601), 'person12_2': (601, 1621),
    'person14_1': (1, 847), 'person14_2': (847, 1813), 'person14_3': (1813, 2923),
    'person17_1': (1, 1501), 'person17_2': (1501, 2347), 'person19_1': (1, 1243),
    'person19_2': (1243, 2791), 'person19_3': (2791, 4357), 'truck4_1': (1, 577),
    'truck4_2': (577, 1261), 'uav1_1': (1, 1555), 'uav1_2': (1555, 2377), 'uav1_3': (2473, 3469),
}


def official_frame_ranges(layout: str) -> dict:
  """``{name: (folder, first, last)}`` of the official sub-ranges of ``layout``."""
  if layout == 'otb':
    return {name: (name, first, last) for name, (first, last) in OTB_FRAME_RANGES.items()}
  if layout == 'uav123':
    return {name: (name.rsplit('_', 1)[0], first, last)
            for name, (first, last) in UAV123_SUBSEQUENCES.items()}
  return {}


def _frames(image_dir: str, name: str, frame_ranges, num_boxes: int | None = None):
  """Frame paths of ``name`` and the slice of its annotation lines they match.

  With a range for ``name``: its frames of the folder, and all annotation lines when there are
  as many as frames, else (the file annotates the whole folder, Tiger1) the same range of them.
  A range that does not fit, on a folder with exactly ``num_boxes`` images, takes the folder.
  """
  names = files.list_images(image_dir)
  if not names:
    raise DatasetError(f'{image_dir}: no images')
  everything = slice(None)
  if name not in frame_ranges:
    return frames_from_listing(image_dir, names), everything
  _, first, last = frame_ranges[name]
  total, count = len(names), last - first + 1
  if 1 <= first <= last <= total and num_boxes in (None, count, total):
    cut = slice(first - 1, last)
    return frames_from_listing(image_dir, names[cut]), (cut if num_boxes == total != count
                                                        else everything)
  if num_boxes == total:
    return frames_from_listing(image_dir, names), everything
  raise DatasetError(f'{image_dir}: {total} images and {num_boxes} boxes for {name}: neither the '
                     f'whole folder nor its frames {first}..{last} match')


def _read_nfs_boxes(path: str, num_frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(boxes, lost, occluded) from an NFS annotation file, lines in order (got10k ``NfS``).

  Returns as many rows as the file gives frames (``num_frames`` or one fewer).
  """
  try:
    with open(path, 'r', encoding='utf-8-sig') as f:
      lines = [line for line in f.read().splitlines() if line.strip()]
  except OSError as e:
    raise DatasetError(f'{path}: cannot read ({e.strerror})') from e
  rows = []
  for i, line in enumerate(lines):
    fields = line.split()
    try:
      x1, y1, x2, y2 = (float(v) for v in fields[1:5])
      lost, occluded = int(fields[6]), int(fields[7])
    except (ValueError, IndexError) as e:
      raise DatasetError(f'{path}:{i + 1}: malformed NFS line {line!r}') from e
    rows.append((x1, y1, x2 - x1, y2 - y1, lost, occluded))
  if num_frames and abs(len(rows) / num_frames - 8) < 1:  # 240 fps annotations
    rows = rows[::8]
  if len(rows) not in (num_frames, num_frames + 1, num_frames - 1):
    raise DatasetError(f'{path}: {len(rows)} annotation lines for {num_frames} frames')
  rows = rows[:num_frames]
  table = np.asarray(rows, np.float64).reshape(len(rows), 6)
  return table[:, :4], table[:, 4] > 0, table[:, 5] > 0


class OtbStyleSource(IndexedSource):
  """An OTB, UAV123 or NFS folder (``layout``); ``strict`` for evaluation.

  ``frame_ranges``: None for the official ranges (``official_frame_ranges``), ``{}`` for none,
  or a mapping that replaces them.
  """

  def __init__(self, root: str, layout: str = 'otb', *, strict: bool = False,
               frame_ranges: dict | None = None, name: str | None = None):
    if layout not in LAYOUTS:
      raise ValueError(f'layout must be one of {LAYOUTS}, got {layout!r}')
    if not os.path.isdir(root):
      raise DatasetError(f'{root}: dataset directory not found')
    frame_ranges = official_frame_ranges(layout) if frame_ranges is None else dict(frame_ranges)
    seqs = []
    if layout == 'otb':
      for d in sorted(os.listdir(root)):
        seq_dir = os.path.join(root, d)
        if not os.path.isdir(seq_dir):
          continue
        gts = sorted(f for f in os.listdir(seq_dir)
                     if re.fullmatch(r'groundtruth_rect(\.\d+)?\.txt', f))
        if not gts:
          raise DatasetError(f'{seq_dir}: no groundtruth_rect.txt')
        for gt in gts:
          suffix = gt[len('groundtruth_rect'):-len('.txt')]
          name_k = d + suffix
          gt_path = os.path.join(seq_dir, gt)
          boxes = files.read_boxes(gt_path)
          frames, lines = _frames(os.path.join(seq_dir, 'img'), name_k, frame_ranges, len(boxes))
          boxes = boxes[lines]
          seqs.append(files.make_sequence(name_k, frames, gt_path, boxes, strict=strict))
    elif layout == 'uav123':
      anno_dir = os.path.join(root, 'anno', 'UAV123')
      if not os.path.isdir(anno_dir):
        raise DatasetError(f'{anno_dir}: UAV123 annotation directory not found')
      for fname in sorted(f for f in os.listdir(anno_dir) if f.endswith('.txt')):
        seq = fname[:-4]
        folder = frame_ranges.get(seq, (seq,))[0]
        gt_path = os.path.join(anno_dir, fname)
        boxes = files.read_boxes(gt_path)
        frames, lines = _frames(os.path.join(root, 'data_seq', 'UAV123', folder), seq,
                                frame_ranges, len(boxes))
        boxes = boxes[lines]
        absent = np.all(np.isnan(boxes), axis=1) if len(boxes) == len(frames) else None
        seqs.append(files.make_sequence(seq, frames, gt_path, boxes, strict=strict,
                                        absent=absent))
    else:
      for d in sorted(os.listdir(root)):
        base = os.path.join(root, d, '30')
        if not os.path.isdir(base):
          continue
        frames, _ = _frames(os.path.join(base, d), d, frame_ranges)
        gt_path = os.path.join(base, f'{d}.txt')
        boxes, lost, occluded = _read_nfs_boxes(gt_path, len(frames))
        frames = frames[:len(boxes)]
        seqs.append(files.make_sequence(d, frames, gt_path, boxes, strict=strict,
                                        attributes={'lost': lost, 'occluded': occluded}))
    super().__init__(name or layout, seqs)
