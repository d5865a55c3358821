"""TrackingNet: ``<root>/TRAIN_0..TRAIN_11`` and ``<root>/TEST``, each with
``frames/<seq>/<n>.jpg`` (n from 0, not zero-padded) and ``anno/<seq>.txt`` (one x,y,w,h a line;
TEST annotates only the first frame, so its other boxes are NaN).
"""

from __future__ import annotations

import os

from data_pipelines.sources import annotation_files as files
from data_pipelines.sources.base import DatasetError
from data_pipelines.sources.frame_files import NumberedFrames, frames_from_listing
from data_pipelines.sources.indexed import IndexedSource, cached_sequences


def _chunk_dirs(chunks) -> list[str]:
  out = []
  for c in chunks:
    out.append(c if isinstance(c, str) else f'TRAIN_{int(c)}')
  return out


class TrackingNetSource(IndexedSource):
  """TrackingNet chunks, e.g. ``chunks=range(12)`` (training) or ``chunks=['TEST']``."""

  def __init__(self, root: str, chunks=tuple(range(12)), *, strict: bool = False,
               cache_dir: str | None = None, name: str | None = None):
    chunk_dirs = _chunk_dirs(chunks)
    for c in chunk_dirs:
      if not os.path.isdir(os.path.join(root, c, 'anno')):
        raise DatasetError(f'{os.path.join(root, c, "anno")}: TrackingNet chunk not found')
    key_files = [os.path.join(root, c, 'anno') for c in chunk_dirs]

    def build():
      seqs = []
      for c in chunk_dirs:
        anno_dir = os.path.join(root, c, 'anno')
        test = c == 'TEST'
        for fname in sorted(os.listdir(anno_dir)):
          if not fname.endswith('.txt'):
            continue
          seq = fname[:-4]
          gt_path = os.path.join(anno_dir, fname)
          frame_dir = os.path.join(root, c, 'frames', seq)
          boxes = files.read_boxes(gt_path)
          if test:
            frames = frames_from_listing(frame_dir, files.list_images(frame_dir))
            seqs.append(files.make_sequence(seq, frames, gt_path, boxes, strict=strict,
                                            annotated_frames=min(len(boxes), len(frames))))
          else:
            frames = NumberedFrames(frame_dir, '%d.jpg', 0, len(boxes))
            seqs.append(files.make_sequence(seq, frames, gt_path, boxes, strict=strict,
                                            attributes={'chunk': c}))
      return seqs

    super().__init__(name or 'trackingnet',
                     cached_sequences('trackingnet', (tuple(chunk_dirs), strict), key_files,
                                      build, cache_dir))
