"""The one interface every tracking dataset source implements.

A source is a list of sequences. A sequence carries its annotation in memory (small) and reads
frames lazily (large). Boxes are ``[x, y, w, h]`` in pixels of the full-resolution frame, with NaN
where a frame has no usable box. Frames are returned as ``uint8`` RGB arrays of shape (H, W, 3).
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Protocol, Sequence as SequenceT

import numpy as np


@dataclasses.dataclass(frozen=True)
class Sequence:
  """Annotation of one video (or one image, for COCO-style sources).

  Attributes:
    name: sequence name, unique within its source.
    frame_paths: one path per frame; empty for sources that render frames (synthetic).
    boxes: (N, 4) float64, ``[x, y, w, h]`` pixels; NaN rows where the box is unknown.
    visible: (N,) bool, target visible in the frame (False when absent, fully occluded or out of
      view, or when the box is invalid).
    cover: optional (N,) int visible-ratio class (GOT-10k ``cover.label``, 0..8).
    attributes: per-sequence attribute flags (e.g. OTB ``'OCC'``) or per-frame arrays.
    class_name: object class, when the dataset has one.
    image_size: (height, width) of the frames when known without decoding, else None.
  """

  name: str
  frame_paths: SequenceT[str]
  boxes: np.ndarray
  visible: np.ndarray
  cover: np.ndarray | None = None
  attributes: Mapping[str, object] = dataclasses.field(default_factory=dict)
  class_name: str | None = None
  image_size: tuple[int, int] | None = None

  def __len__(self) -> int:
    return int(self.boxes.shape[0])


class SequenceSource(Protocol):
  """A dataset of sequences that the samplers, pipelines and benchmark runners read."""

  name: str
  is_video: bool  # False for image datasets where each sequence is a single frame (COCO).

  def __len__(self) -> int:
    ...

  def sequence(self, index: int) -> Sequence:
    """Annotation of sequence ``index`` (cheap, in memory)."""
    ...

  def read_frame(self, index: int, frame: int, reduce: int = 1) -> np.ndarray:
    """Frame ``frame`` of sequence ``index`` as uint8 RGB (H // reduce, W // reduce, 3).

    ``reduce`` in {1, 2, 4, 8} lets a reader decode JPEGs at reduced size when the crop allows
    it; callers scale boxes by ``1 / reduce`` accordingly. Raises ``DatasetError`` naming the
    file when the frame is missing or cannot be decoded.
    """
    ...


class DatasetError(ValueError):
  """Malformed or missing dataset content; the message names the file (and line when known)."""
