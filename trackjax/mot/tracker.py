"""The MOT tracker protocol and the generic appearance tracker (detections in, identities out).

A MOT family's ``build_tracker(config, dataset=None, dtype=...)`` returns a ``MotTracker``:

  init(variables, frame_rate=30.0) -> state
  track(variables, state, frame_rgb, det_boxes_xywh [N, 4], det_scores [N]) -> (MotTracks, state)
  without_appearance() -> MotTracker     # the IoU-only ByteTrack baseline on the same settings

``AppearanceTracker`` is that tracker for any ``Embedder``: each frame it embeds the detections
the first association uses (score > ``track_thresh``; the others never need an embedding) in one
``embedder.embed`` call and hands boxes, scores and embeddings to ``association.ByteTracker``.
With ``appearance_weight == 0`` (or no embedder) it never calls the embedder and never needs the
frame, so it is exactly ByteTrack on the detections.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

import ml_collections
import numpy as np

from trackjax.mot.association import ByteTracker, MotTracks, TrackerState

__all__ = ['AppearanceTracker', 'Embedder', 'MotTracker', 'MotTracks', 'AppearanceState']


class Embedder(Protocol):
  """Appearance embeddings of a frame's detections (implemented by a family)."""

  def embed(self, variables, frame_rgb: np.ndarray, boxes_xywh: np.ndarray) -> np.ndarray:
    """(N, D) float32 L2-normalised rows for (N, 4) pixel boxes of an (H, W, 3) uint8 frame;
    all boxes in one jitted call padded to a static maximum, more calls beyond it."""
    ...


class MotTracker(Protocol):

  def init(self, variables, frame_rate: float = 30.0):
    ...

  def track(self, variables, state, frame_rgb, det_boxes_xywh, det_scores):
    ...

  def without_appearance(self) -> 'MotTracker':
    ...


@dataclasses.dataclass(frozen=True)
class AppearanceState:
  association: TrackerState
  frame_rate: float


class AppearanceTracker:
  """ByteTrack-style association with an optional appearance embedder."""

  def __init__(self, association: ml_collections.ConfigDict, embedder: Embedder | None = None):
    self.association = association
    self.embedder = embedder
    self._byte_trackers = {}

  @property
  def uses_appearance(self) -> bool:
    return self.embedder is not None and float(self.association.appearance_weight) > 0

  def without_appearance(self) -> 'AppearanceTracker':
    config = ml_collections.ConfigDict(self.association.to_dict())
    config.appearance_weight = 0.0
    return AppearanceTracker(config, embedder=None)

  def _byte_tracker(self, frame_rate: float) -> ByteTracker:
    if frame_rate not in self._byte_trackers:
      self._byte_trackers[frame_rate] = ByteTracker(self.association, frame_rate)
    return self._byte_trackers[frame_rate]

  def init(self, variables, frame_rate: float = 30.0) -> AppearanceState:
    del variables
    return AppearanceState(self._byte_tracker(float(frame_rate)).init(), float(frame_rate))

  def embed_detections(self, variables, frame_rgb, boxes: np.ndarray,
                       scores: np.ndarray) -> np.ndarray | None:
    """(N, D) embeddings (rows of detections at or below ``track_thresh`` are zero), or None
    without appearance or without a high-score detection."""
    if not self.uses_appearance or len(boxes) == 0:
      return None
    high = np.nonzero(scores > self.association.track_thresh)[0]
    if high.size == 0:
      return None
    if frame_rgb is None:
      raise ValueError('appearance tracking needs the frame')
    rows = np.asarray(self.embedder.embed(variables, frame_rgb, boxes[high]), np.float32)
    if rows.shape[0] != high.size:
      raise ValueError(f'embedder returned {rows.shape[0]} rows for {high.size} boxes')
    out = np.zeros((len(boxes), rows.shape[1]), np.float32)
    out[high] = rows
    return out

  def track(self, variables, state: AppearanceState, frame_rgb, det_boxes_xywh,
            det_scores) -> tuple[MotTracks, AppearanceState]:
    boxes = np.asarray(det_boxes_xywh, np.float64).reshape(-1, 4)
    scores = np.asarray(det_scores, np.float64).reshape(-1)
    embeddings = self.embed_detections(variables, frame_rgb, boxes, scores)
    association, tracks = self._byte_tracker(state.frame_rate).update(
        state.association, boxes, scores, embeddings)
    return tracks, AppearanceState(association, state.frame_rate)
