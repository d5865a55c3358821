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


# Why a frame could not be used; ``FrameError.reason`` is one of these.
FRAME_ERROR_REASONS = ('missing', 'unreadable', 'truncated', 'undecodable')

_JPEG_START = b'\xff\xd8\xff'
_JPEG_SOS, _JPEG_EOI = b'\xff\xda', b'\xff\xd9'
_PNG_START = b'\x89PNG\r\n\x1a\n'
_PNG_IEND = b'IEND\xaeB`\x82'  # the IEND chunk type and its CRC, the last 8 bytes of a PNG


class FrameError(DatasetError):
  """A frame file that cannot be used, naming it; ``reason`` is one of ``FRAME_ERROR_REASONS``."""

  def __init__(self, path: str, reason: str, detail: str):
    super().__init__(f'{path}: {detail}')
    self.path, self.reason, self.detail = path, reason, detail

  def __reduce__(self):  # picklable across worker processes
    return FrameError, (self.path, self.reason, self.detail)


def truncation(data: bytes) -> str | None:
  """Why an encoded JPEG or PNG stops early, or None when it is complete (or another format).

  A JPEG is complete when no start-of-scan marker (FF DA) follows its last end-of-image marker
  (FF D9): libjpeg stops at that marker, so padding or other bytes after it are fine, and inside
  scan data FF is always followed by 00 or a restart marker, so neither marker appears there by
  chance (an EXIF thumbnail's FF D9 is followed by the main image's FF DA). OpenCV would decode
  a truncated JPEG with its missing part grey and only print libjpeg's "Premature end of JPEG
  file" to stderr. A PNG is complete when it holds its IEND chunk. Two byte searches from the
  end of the file (microseconds for a complete file), no decoding.
  """
  if data.startswith(_JPEG_START):
    eoi = data.rfind(_JPEG_EOI)
    if eoi < 0 or data.find(_JPEG_SOS, eoi + 2) >= 0:
      return 'truncated JPEG (no end-of-image marker FF D9 after the image data)'
  elif data.startswith(_PNG_START) and data.rfind(_PNG_IEND) < 0:
    return 'truncated PNG (no IEND chunk)'
  return None


def read_image(path: str, reduce: int = 1) -> np.ndarray:
  """Decodes an image file to uint8 RGB (H, W, 3), at 1/``reduce`` size (JPEG DCT scaling).

  The file is read once and checked for truncation (``truncation``) before the one decode, so
  a truncated frame is never used and libjpeg/libpng print nothing for it.

  Raises:
    FrameError: missing, unreadable, truncated or undecodable file, naming it.
  """
  if reduce not in _REDUCED_FLAGS:
    raise ValueError(f'reduce must be one of {sorted(_REDUCED_FLAGS)}, got {reduce}')
  try:
    with open(path, 'rb') as f:
      data = f.read()
  except FileNotFoundError as e:
    raise FrameError(path, 'missing', 'missing image') from e
  except OSError as e:
    raise FrameError(path, 'unreadable', f'cannot read image ({e.strerror})') from e
  problem = truncation(data)
  if problem is not None:
    raise FrameError(path, 'truncated', problem)
  image = cv2.imdecode(np.frombuffer(data, np.uint8), _REDUCED_FLAGS[reduce]) if data else None
  if image is None:
    raise FrameError(path, 'undecodable', 'cannot decode image' if data else 'empty image file')
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


def image_header_size(path: str) -> tuple[int, int]:
  """(height, width) of an image file from its header only (no pixel decoding).

  Raises:
    DatasetError: missing or unrecognised file, naming it.
  """
  from PIL import Image, UnidentifiedImageError  # pylint: disable=g-import-not-at-top  (lazily)
  try:
    with Image.open(path) as image:
      width, height = image.size
  except FileNotFoundError as e:
    raise DatasetError(f'{path}: missing image') from e
  except (OSError, UnidentifiedImageError) as e:
    raise DatasetError(f'{path}: cannot read the image size ({e})') from e
  return int(height), int(width)
