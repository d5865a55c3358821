"""Frame decoding and compact frame-path lists shared by the file-based readers."""

from __future__ import annotations

import collections.abc
import os

import cv2
import numpy as np

from data_pipelines.sources.base import DatasetError

_REDUCED_FLAGS = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}


def read_image(path: str, reduce: int = 1) -> np.ndarray:
  """Decodes an image file to uint8 RGB (H, W, 3), at 1/``reduce`` size (JPEG DCT scaling).

  Raises:
    DatasetError: missing or undecodable file, naming it.
  """
  if reduce not in _REDUCED_FLAGS:
    raise ValueError(f'reduce must be one of {sorted(_REDUCED_FLAGS)}, got {reduce}')
  image = cv2.imread(path, _REDUCED_FLAGS[reduce])
  if image is None:
    what = 'cannot decode image' if os.path.exists(path) else 'missing image'
    raise DatasetError(f'{path}: {what}')
  return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class NumberedFrames(collections.abc.Sequence):
  """Frame paths ``directory/pattern % (start + i)`` for i < count, without storing each path.

  Keeps the annotation index of 10k+ sequences small and fast to load.
  """

  def __init__(self, directory: str, pattern: str, start: int, count: int):
    self.directory, self.pattern, self.start, self.count = directory, pattern, start, count

  def __len__(self) -> int:
    return self.count

  def __getitem__(self, i):
    if isinstance(i, slice):
      return [self[j] for j in range(*i.indices(self.count))]
    if i < 0:
      i += self.count
    if not 0 <= i < self.count:
      raise IndexError(i)
    return os.path.join(self.directory, self.pattern % (self.start + i))

  def __eq__(self, other) -> bool:
    return list(self) == list(other)

  def __repr__(self) -> str:
    return f'NumberedFrames({self.directory!r}, {self.pattern!r}, {self.start}, {self.count})'


def frames_from_listing(directory: str, names: list[str]) -> collections.abc.Sequence:
  """A compact path list when ``names`` are consecutively numbered, else the plain list."""
  if names:
    stem, ext = os.path.splitext(names[0])
    if stem.isdigit():
      width = len(stem) if stem.startswith('0') or all(
          len(os.path.splitext(n)[0]) == len(stem) for n in names) else 0
      pattern = f'%0{width}d{ext}' if width else f'%d{ext}'
      start = int(stem)
      candidate = NumberedFrames(directory, pattern, start, len(names))
      if all(os.path.basename(candidate[i]) == n for i, n in enumerate(names)):
        return candidate
  return [os.path.join(directory, n) for n in names]
