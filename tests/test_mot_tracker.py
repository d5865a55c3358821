"""AppearanceTracker: a hand-made two-target crossing that IoU alone swaps and appearance keeps,
and when the embedder is (not) called."""

import numpy as np
import pytest

from trackjax.mot.association import association_config
from trackjax.mot.tracker import AppearanceTracker


class HistogramEmbedder:
  """Test embedder: L2-normalised 64-bin colour histogram (4 levels a channel) of each box."""

  def __init__(self):
    self.calls, self.boxes_seen = 0, 0

  def embed(self, variables, frame_rgb, boxes_xywh):
    del variables
    self.calls += 1
    self.boxes_seen += len(boxes_xywh)
    rows = []
    for x, y, w, h in np.asarray(boxes_xywh):
      crop = frame_rgb[max(0, int(y)):int(y + h), max(0, int(x)):int(x + w)].reshape(-1, 3) // 64
      hist = np.bincount(crop[:, 0] * 16 + crop[:, 1] * 4 + crop[:, 2], minlength=64)
      rows.append(hist / max(np.linalg.norm(hist), 1e-9))
    return np.asarray(rows, np.float32)


def crossing(num_frames=24, speed=5.0, offset=12, size=(30, 60)):
  """A red and a blue box approach each other, overlap (red in front) and bounce back."""
  w, h = size
  frames, detections = [], []
  for t in range(num_frames):
    s = min(t, num_frames - 1 - t)
    xa, xb = 20 + speed * s, 20 + speed * (num_frames - 1) - speed * s
    ya, yb = 30.0, 30.0 + offset
    image = np.full((140, 260, 3), 128, np.uint8)
    image[int(yb):int(yb) + h, int(xb):int(xb) + w] = (30, 60, 230)
    image[int(ya):int(ya) + h, int(xa):int(xa) + w] = (230, 40, 30)
    frames.append(image)
    detections.append(np.array([[xa, ya, w, h], [xb, yb, w, h]]))
  return frames, detections


def identities(tracker, frames, detections):
  """Per frame: the id on the red target and the id on the blue one (nearest output box)."""
  state = tracker.init(None, frame_rate=30.0)
  out = []
  for frame, dets in zip(frames, detections):
    tracks, state = tracker.track(None, state, frame, dets, np.array([0.9, 0.9]))
    assert len(tracks) == 2
    nearest = lambda box: int(tracks.ids[np.argmin(np.abs(tracks.boxes_xywh - box).sum(1))])
    out.append((nearest(dets[0]), nearest(dets[1])))
  return out


def appearance_tracker(weight=0.5):
  config = association_config()
  config.appearance_weight = weight
  return AppearanceTracker(config, HistogramEmbedder())


def test_iou_alone_swaps_the_crossing_and_appearance_keeps_identities():
  frames, detections = crossing()
  tracker = appearance_tracker()
  with_appearance = identities(tracker, frames, detections)
  assert with_appearance == [with_appearance[0]] * len(frames)
  assert tracker.embedder.calls == len(frames)
  iou_only = identities(tracker.without_appearance(), frames, detections)
  assert iou_only[0] == with_appearance[0]
  assert iou_only[-1] == iou_only[0][::-1]  # the two identities swapped


def test_without_appearance_never_calls_the_embedder_nor_needs_frames():
  frames, detections = crossing(num_frames=6)
  tracker = appearance_tracker()
  baseline = tracker.without_appearance()
  assert baseline.association.appearance_weight == 0.0 and baseline.embedder is None
  assert tracker.association.appearance_weight == 0.5  # the original is unchanged
  state = baseline.init(None)
  for dets in detections:
    tracks, state = baseline.track(None, state, None, dets, np.array([0.9, 0.9]))
  assert len(tracks) == 2 and tracker.embedder.calls == 0
  zero = appearance_tracker(weight=0.0)
  state = zero.init(None)
  zero.track(None, state, frames[0], detections[0], np.array([0.9, 0.9]))
  assert zero.embedder.calls == 0


def test_only_high_score_detections_are_embedded():
  frames, detections = crossing(num_frames=2)
  tracker = appearance_tracker()
  state = tracker.init(None)
  _, state = tracker.track(None, state, frames[0], detections[0], np.array([0.9, 0.3]))
  assert tracker.embedder.boxes_seen == 1
  _, state = tracker.track(None, state, frames[1], detections[1], np.array([0.2, 0.3]))
  _, state = tracker.track(None, state, frames[1], np.zeros((0, 4)), np.zeros(0))
  assert tracker.embedder.calls == 1
  with pytest.raises(ValueError, match='needs the frame'):
    tracker.track(None, state, None, detections[0], np.array([0.9, 0.9]))
