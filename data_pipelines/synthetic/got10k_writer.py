"""Writes a ``SequenceSource`` to disk in the GOT-10k layout.

Layout: ``DIR/list.txt`` (one sequence name a line) and per sequence ``DIR/<name>/``:
``00000001.jpg ...``, ``groundtruth.txt`` (``x,y,w,h`` with ``%.4f``, one line per frame),
``absence.label`` (1 = target absent), ``cover.label`` (0..8), ``cut_by_image.label`` (1 = box
crosses the image border) and ``meta_info.ini``.
"""

from __future__ import annotations

import os
from typing import Mapping

import cv2
import numpy as np
import tqdm

from data_pipelines.sources import base


def _meta_info(seq: base.Sequence, extra: Mapping[str, object]) -> str:
  height, width = seq.image_size if seq.image_size else (0, 0)
  cls = seq.class_name or 'object'
  flags = [k for k, v in seq.attributes.items() if isinstance(v, (bool, np.bool_)) and v]
  lines = ['[METAINFO]',
           'url: synthetic',
           f'object_class: {cls}',
           f'major_class: {cls.split()[-1]}',
           'root_class: synthetic',
           'motion_class: synthetic motion',
           f'motion_adverb: {"fast" if seq.attributes.get("FM") else "smoothly"}',
           f'resolution: ({width}, {height})',
           f'num_frames: {len(seq)}',
           f'attributes: {" ".join(sorted(flags))}']
  lines += [f'{k}: {v}' for k, v in extra.items()]
  return '\n'.join(lines) + '\n'


def write_got10k_layout(source: base.SequenceSource, out_dir: str, quality: int = 90,
                        progress: bool = True) -> list[str]:
  """Renders or reads every frame of ``source`` and writes it under ``out_dir``.

  Args:
    source: any sequence source (typically ``SyntheticSource``).
    out_dir: destination; created if missing. Existing files of the same names are overwritten.
    quality: JPEG quality 1..100.
    progress: show a tqdm bar over frames.

  Returns:
    The sequence names, in ``list.txt`` order.
  """
  if not 1 <= int(quality) <= 100:
    raise ValueError(f'quality must be in 1..100, got {quality}')
  os.makedirs(out_dir, exist_ok=True)
  sequences = [source.sequence(i) for i in range(len(source))]
  names = [s.name for s in sequences]
  if len(set(names)) != len(names):
    raise ValueError(f'sequence names of {source!r} are not unique')
  total = sum(len(s) for s in sequences)
  params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
  extra = {k: getattr(source, k) for k in ('seed', 'split') if hasattr(source, k)}
  with tqdm.tqdm(total=total, unit='frame', disable=not progress, desc='writing') as bar:
    for index, seq in enumerate(sequences):
      seq_dir = os.path.join(out_dir, seq.name)
      os.makedirs(seq_dir, exist_ok=True)
      for frame in range(len(seq)):
        image = source.read_frame(index, frame)
        path = os.path.join(seq_dir, f'{frame + 1:08d}.jpg')
        if not cv2.imwrite(path, cv2.cvtColor(image, cv2.COLOR_RGB2BGR), params):
          raise OSError(f'could not write {path}')
        bar.update(1)
      height, width = seq.image_size or source.read_frame(index, 0).shape[:2]
      b = seq.boxes
      np.savetxt(os.path.join(seq_dir, 'groundtruth.txt'), b, fmt='%.4f', delimiter=',')
      np.savetxt(os.path.join(seq_dir, 'absence.label'), (~seq.visible).astype(int), fmt='%d')
      cover = seq.cover if seq.cover is not None else np.where(seq.visible, 8, 0)
      np.savetxt(os.path.join(seq_dir, 'cover.label'), cover, fmt='%d')
      cut = (b[:, 0] < 0) | (b[:, 1] < 0) | (b[:, 0] + b[:, 2] > width) | (
          b[:, 1] + b[:, 3] > height)
      np.savetxt(os.path.join(seq_dir, 'cut_by_image.label'), cut.astype(int), fmt='%d')
      with open(os.path.join(seq_dir, 'meta_info.ini'), 'w') as f:
        f.write(_meta_info(seq, {**extra, 'index': index}))
  with open(os.path.join(out_dir, 'list.txt'), 'w') as f:
    f.write('\n'.join(names) + '\n')
  return names
