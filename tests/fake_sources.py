"""In-memory sources for sampler and processing tests (no files)."""

import numpy as np

from data_pipelines.sources.base import DatasetError, Sequence


class FakeSource:
  """Sequences whose frames are grey with a bright rectangle drawn at the box.

  ``bad_frames``: {(sequence, frame)} that raise DatasetError when read.
  """

  def __init__(self, name, boxes_per_seq, visible_per_seq=None, *, is_video=True,
               image_size=(120, 160), bad_frames=(), all_bad=False):
    self.name = name
    self.is_video = is_video
    self.image_size = image_size
    self.bad_frames = set(bad_frames)
    self.all_bad = all_bad
    self.reads = []
    self._seqs = []
    for i, boxes in enumerate(boxes_per_seq):
      boxes = np.asarray(boxes, np.float64)
      vis = (np.ones(len(boxes), bool) if visible_per_seq is None
             else np.asarray(visible_per_seq[i], bool))
      self._seqs.append(Sequence(name=f'{name}{i}', frame_paths=[], boxes=boxes, visible=vis,
                                 image_size=image_size))

  def __len__(self):
    return len(self._seqs)

  def sequence(self, index):
    return self._seqs[index]

  def read_frame(self, index, frame, reduce=1):
    self.reads.append((index, frame, reduce))
    if self.all_bad or (index, frame) in self.bad_frames:
      raise DatasetError(f'{self.name}/{index}/{frame}.jpg: cannot decode image')
    h, w = self.image_size
    image = np.full((h, w, 3), 40, np.uint8)
    box = self._seqs[index].boxes[frame]
    if np.all(np.isfinite(box)):
      x, y, bw, bh = np.round(box).astype(int)
      image[max(y, 0):max(y + bh, 0), max(x, 0):max(x + bw, 0)] = (250, 200, 150)
    return image[::reduce, ::reduce].copy()


def moving_boxes(n, seed=0, image_size=(120, 160)):
  rng = np.random.default_rng(seed)
  h, w = image_size
  wh = rng.uniform(20, 40, size=(n, 2))
  xy = rng.uniform([10, 10], [w - 50, h - 50], size=(n, 2))
  return np.concatenate([xy, wh], axis=1)
