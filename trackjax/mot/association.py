"""ByteTrack-style association with an optional appearance term, with explicit state.

One frame (``ByteTracker.update``), in ByteTrack's order:

1. Split detections: high (score > ``track_thresh``) and low (``low_thresh`` < score <
   ``track_thresh``); the rest are dropped (ByteTrack's strict inequalities), and so are boxes
   that are not finite or have no area.
2. Predict every tracked and lost track with the Kalman filter (``kalman``); lost tracks have
   their height velocity zeroed first, as in ByteTrack.
3. First association: confirmed tracked + lost tracks against high detections on the IoU
   distance, with the detection score folded in when ``fuse_score`` (``1 - IoU * score``), and,
   when ``appearance_weight`` w > 0, fused with the appearance distance to each track's smoothed
   embedding: ``cost = (1 - w) * iou_cost + w * clip(1 - cos, 0, 1)``. Gates (appearance only):
   a pair whose raw IoU distance exceeds ``proximity_gate`` or whose appearance distance
   exceeds ``appearance_gate`` gets cost 1 (never matched). Matched at ``match_thresh``.
   Matched lost tracks are re-activated with their old id.
4. Second association: tracks still unmatched that were tracked in the last frame against the
   low detections on plain IoU distance at ``second_match_thresh``; remaining ones become lost.
5. Unconfirmed tracks (born last frame) against the unmatched high detections on the cost of
   step 3 at ``unconfirmed_match_thresh``; unmatched unconfirmed tracks are removed.
6. Birth: remaining high detections with score >= ``new_track_thresh`` start tracks
   (unconfirmed, except on the first frame, where ByteTrack confirms them at once). As in
   ByteTrack, unconfirmed tracks are not Kalman-predicted before their one chance to match.
7. Tracks lost before this frame and not updated for more than ``track_buffer * frame_rate /
   30`` frames are removed; tracked/lost duplicates (IoU distance < 0.15) keep the track with the
   longer span from birth to last update.

Output: confirmed tracked tracks, Kalman boxes, filtered as ByteTrack's scripts write results
(area > ``min_box_area``, and w / h <= ``max_aspect_ratio`` unless it is 0).

Assignment: ``scipy.optimize.linear_sum_assignment`` with the semantics of ByteTrack's
``lap.lapjv(cost, extend_cost=True, cost_limit=thresh)``: a pair may match only when its cost is
<= thresh, and the matching minimises ``sum(cost - thresh)`` over matched pairs (leaving a row
and a column unmatched costs thresh/2 each), which is what the extended matrix of lapjv solves.

Embeddings: a track's embedding starts as its first detection's and follows an exponential moving
average ``e = normalise(momentum * e + (1 - momentum) * e_det)`` (``embedding_momentum``, as in
FairMOT/BoT-SORT) on updates by high-score detections only; low-score (often occluded) detections
never change it.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import ml_collections
import numpy as np
from scipy.optimize import linear_sum_assignment

from trackjax.mot import kalman

TRACKED, LOST = 'tracked', 'lost'
DUPLICATE_IOU_DISTANCE = 0.15


def association_config() -> ml_collections.ConfigDict:
  """ByteTrack's defaults (MOT17) plus the appearance fields; appearance_weight 0 = ByteTrack."""
  return ml_collections.ConfigDict({
      'track_thresh': 0.6,  # high / low detection split
      'low_thresh': 0.1,  # detections at or below are dropped
      'new_track_thresh': 0.7,  # birth: track_thresh + 0.1
      'match_thresh': 0.8,  # first association (fused cost)
      'second_match_thresh': 0.5,  # low-score detections, IoU distance
      'unconfirmed_match_thresh': 0.7,
      'track_buffer': 30,  # frames a lost track is kept, at 30 fps (scaled by frame_rate / 30)
      'fuse_score': True,  # MOT17 True, MOT20 False
      'min_box_area': 10.0,  # output filter
      'max_aspect_ratio': 1.6,  # output filter w / h (ByteTrack's 'vertical'); 0 = off
      'appearance_weight': 0.0,  # 0 = IoU-only ByteTrack baseline
      'embedding_momentum': 0.9,  # track embedding EMA
      'appearance_gate': 1.0,  # max appearance distance (1 - cos) to match; 1 = off
      'proximity_gate': 0.9,  # max IoU distance for a pair when appearance is on
  })


@dataclasses.dataclass(frozen=True)
class MotTracks:
  """Tracks output for one frame: ids (M,) int, boxes_xywh (M, 4) float, scores (M,) float."""

  ids: np.ndarray
  boxes_xywh: np.ndarray
  scores: np.ndarray

  def __len__(self) -> int:
    return int(self.ids.shape[0])

  @staticmethod
  def empty() -> 'MotTracks':
    return MotTracks(np.zeros(0, np.int64), np.zeros((0, 4), np.float64), np.zeros(0, np.float64))


class Track(NamedTuple):
  """One track: Kalman state, status and bookkeeping (frames are 1-based); immutable (a
  NamedTuple: ``_replace`` is what makes per-frame updates of hundreds of tracks cheap)."""

  track_id: int
  mean: np.ndarray  # (8,)
  covariance: np.ndarray  # (8, 8)
  score: float
  status: str  # TRACKED or LOST
  activated: bool  # confirmed
  start_frame: int
  end_frame: int  # last frame with a matched detection
  embedding: np.ndarray | None = None

  @property
  def box_xywh(self) -> np.ndarray:
    return kalman.xyah_to_xywh(self.mean[None, :4])[0]


@dataclasses.dataclass(frozen=True)
class TrackerState:
  """Everything the tracker carries between frames."""

  frame_id: int = 0
  next_id: int = 1
  tracks: tuple[Track, ...] = ()


def iou_matrix(boxes_a, boxes_b) -> np.ndarray:
  """(A, B) IoU of x, y, w, h boxes (ByteTrack's ``bbox_ious`` without its +1 pixel)."""
  a = np.asarray(boxes_a, np.float64).reshape(-1, 4)
  b = np.asarray(boxes_b, np.float64).reshape(-1, 4)
  ax1, ay1, ax2, ay2 = a[:, 0], a[:, 1], a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
  bx1, by1, bx2, by2 = b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
  iw = np.clip(np.minimum(ax2[:, None], bx2[None]) - np.maximum(ax1[:, None], bx1[None]), 0, None)
  ih = np.clip(np.minimum(ay2[:, None], by2[None]) - np.maximum(ay1[:, None], by1[None]), 0, None)
  inter = iw * ih
  union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
  return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def linear_assignment(cost, thresh: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Matches (P, 2) of (row, col), unmatched rows, unmatched cols; pairs cost <= ``thresh``.

  Minimises ``sum(cost - thresh)`` over the matched pairs, as lapjv with ``extend_cost=True,
  cost_limit=thresh``; empty matrices give no matches.
  """
  cost = np.asarray(cost, np.float64)
  rows, cols = cost.shape
  if rows == 0 or cols == 0:
    return np.zeros((0, 2), np.int64), np.arange(rows), np.arange(cols)
  allowed = cost <= thresh
  gain = np.where(allowed, cost - thresh, 0.0)
  r, c = linear_sum_assignment(gain)
  keep = allowed[r, c]
  matches = np.stack([r[keep], c[keep]], 1).astype(np.int64)
  return (matches, np.setdiff1d(np.arange(rows), matches[:, 0]),
          np.setdiff1d(np.arange(cols), matches[:, 1]))


def fuse_score(iou_cost: np.ndarray, det_scores: np.ndarray) -> np.ndarray:
  """ByteTrack's ``fuse_score``: ``1 - (1 - iou_cost) * score``."""
  return 1.0 - (1.0 - iou_cost) * np.asarray(det_scores, np.float64)[None, :]


def appearance_distance(track_embeddings: np.ndarray, det_embeddings: np.ndarray) -> np.ndarray:
  """``clip(1 - cos, 0, 1)`` between L2-normalised rows."""
  return np.clip(1.0 - track_embeddings @ det_embeddings.T, 0.0, 1.0)


def _boxes(tracks) -> np.ndarray:
  """(K, 4) x, y, w, h of the tracks' Kalman means."""
  if not tracks:
    return np.zeros((0, 4))
  return kalman.xyah_to_xywh(np.stack([t.mean[:4] for t in tracks]))


def _normalise(vector: np.ndarray) -> np.ndarray:
  return vector / max(float(np.linalg.norm(vector)), 1e-12)


class ByteTracker:
  """ByteTrack's association (module docstring) as ``init() -> state`` and
  ``update(state, boxes, scores, embeddings) -> (state, tracks)``."""

  def __init__(self, config: ml_collections.ConfigDict, frame_rate: float = 30.0):
    self.config = config
    self.max_time_lost = int(frame_rate / 30.0 * config.track_buffer)

  def init(self) -> TrackerState:
    return TrackerState()

  @property
  def uses_appearance(self) -> bool:
    return float(self.config.appearance_weight) > 0

  # --- costs -------------------------------------------------------------------------------
  def _motion_cost(self, tracks, boxes, scores, fuse: bool) -> np.ndarray:
    if not tracks or len(boxes) == 0:
      return np.zeros((len(tracks), len(boxes)))
    cost = 1.0 - iou_matrix(_boxes(tracks), boxes)
    return fuse_score(cost, scores) if fuse else cost

  def _fused_cost(self, tracks, boxes, scores, embeddings) -> np.ndarray:
    cost = self._motion_cost(tracks, boxes, scores, bool(self.config.fuse_score))
    if not self.uses_appearance or embeddings is None or cost.size == 0:
      return cost
    if any(t.embedding is None for t in tracks):
      raise ValueError('appearance_weight > 0 but a track has no embedding (pass embeddings '
                       'with every update)')
    weight = float(self.config.appearance_weight)
    appearance = appearance_distance(np.stack([t.embedding for t in tracks]), embeddings)
    iou_cost = 1.0 - iou_matrix(_boxes(tracks), boxes)
    fused = (1.0 - weight) * cost + weight * appearance
    gated = (iou_cost > self.config.proximity_gate) | (appearance > self.config.appearance_gate)
    return np.where(gated, 1.0, fused)

  # --- track updates -----------------------------------------------------------------------
  def _updated(self, matched: list[tuple[Track, np.ndarray, float, np.ndarray | None]],
               frame_id: int) -> list[Track]:
    """Kalman updates of (track, box, score, embedding or None) pairs, in one batched call."""
    if not matched:
      return []
    means, covs = kalman.update(np.stack([m[0].mean for m in matched]),
                                np.stack([m[0].covariance for m in matched]),
                                kalman.xywh_to_xyah(np.stack([m[1] for m in matched])))
    out = []
    momentum = self.config.embedding_momentum
    for (track, _, score, embedding), mean, cov in zip(matched, means, covs):
      new_embedding = track.embedding
      if embedding is not None:
        new_embedding = embedding if track.embedding is None else _normalise(
            momentum * track.embedding + (1.0 - momentum) * embedding)
      out.append(track._replace(mean=mean, covariance=cov, score=float(score),
                                     status=TRACKED, activated=True, end_frame=frame_id,
                                     embedding=new_embedding))
    return out

  def _predicted(self, tracks: list[Track]) -> list[Track]:
    if not tracks:
      return []
    means = np.stack([t.mean for t in tracks])
    means[:, 7] = np.where([t.status != TRACKED for t in tracks], 0.0, means[:, 7])
    means, covs = kalman.predict(means, np.stack([t.covariance for t in tracks]))
    return [t._replace(mean=m, covariance=c) for t, m, c in zip(tracks, means, covs)]

  # --- one frame ---------------------------------------------------------------------------
  def update(self, state: TrackerState, boxes_xywh, scores, embeddings=None
            ) -> tuple[TrackerState, MotTracks]:
    """Associates one frame's detections; returns the new state and the confirmed tracks."""
    cfg = self.config
    frame_id = state.frame_id + 1
    boxes = np.asarray(boxes_xywh, np.float64).reshape(-1, 4)
    scores = np.asarray(scores, np.float64).reshape(-1)
    if embeddings is not None:
      embeddings = np.asarray(embeddings, np.float64).reshape(len(boxes), -1)
    if not self.uses_appearance:
      embeddings = None
    valid = np.all(np.isfinite(boxes), 1) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
    if not valid.all():  # degenerate boxes can never be tracked (aspect w / h)
      boxes, scores = boxes[valid], scores[valid]
      embeddings = None if embeddings is None else embeddings[valid]
    high = np.nonzero(scores > cfg.track_thresh)[0]
    low = np.nonzero((scores > cfg.low_thresh) & (scores < cfg.track_thresh))[0]
    high_emb = None if embeddings is None else embeddings[high]

    unconfirmed = [t for t in state.tracks if t.status == TRACKED and not t.activated]
    pool = self._predicted([t for t in state.tracks if t.activated or t.status == LOST])
    lost_before = {t.track_id for t in pool if t.status == LOST}

    # First association: confirmed + lost vs high detections.
    cost = self._fused_cost(pool, boxes[high], scores[high], high_emb)
    matches, left_tracks, left_high = linear_assignment(cost, cfg.match_thresh)
    matched = {}  # pool index -> (track, box, score, embedding), updated together below
    for ti, di in matches:
      matched[ti] = (pool[ti], boxes[high[di]], scores[high[di]],
                     None if high_emb is None else high_emb[di])

    # Second association: tracks tracked last frame vs low detections, IoU only.
    remaining = [ti for ti in left_tracks if pool[ti].status == TRACKED]
    cost = self._motion_cost([pool[ti] for ti in remaining], boxes[low], scores[low], fuse=False)
    matches, left_remaining, _ = linear_assignment(cost, cfg.second_match_thresh)
    for ri, di in matches:
      matched[remaining[ri]] = (pool[remaining[ri]], boxes[low[di]], scores[low[di]], None)
    newly_lost = {remaining[ri] for ri in left_remaining}

    # Unconfirmed tracks vs the high detections left.
    left_high = list(left_high)
    cost = self._fused_cost(unconfirmed, boxes[high[left_high]], scores[high[left_high]],
                            None if high_emb is None else high_emb[left_high])
    matches, _, still_left = linear_assignment(cost, cfg.unconfirmed_match_thresh)
    confirmed = [(unconfirmed[ui], boxes[high[left_high[ci]]], scores[high[left_high[ci]]],
                  None if high_emb is None else high_emb[left_high[ci]]) for ui, ci in matches]
    order = sorted(matched)
    updated = self._updated([matched[ti] for ti in order] + confirmed, frame_id)
    by_pool = dict(zip(order, updated))
    kept = [by_pool[ti] if ti in by_pool else
            pool[ti]._replace(status=LOST) if ti in newly_lost else pool[ti]
            for ti in range(len(pool))]
    kept += updated[len(order):]

    # Birth.
    next_id = state.next_id
    for ci in still_left:
      d = high[left_high[ci]]
      if scores[d] < cfg.new_track_thresh:
        continue
      mean, cov = kalman.initiate(kalman.xywh_to_xyah(boxes[d]))
      emb = None if high_emb is None else high_emb[left_high[ci]]
      kept.append(Track(next_id, mean[0], cov[0], float(scores[d]), TRACKED,
                        activated=frame_id == 1, start_frame=frame_id, end_frame=frame_id,
                        embedding=emb))
      next_id += 1

    kept = [t for t in kept if not (t.track_id in lost_before and t.status == LOST
                                    and frame_id - t.end_frame > self.max_time_lost)]
    kept = _remove_duplicates(kept)
    new_state = TrackerState(frame_id=frame_id, next_id=next_id, tracks=tuple(kept))
    return new_state, self._output(kept)

  def _output(self, tracks: list[Track]) -> MotTracks:
    shown = [t for t in tracks if t.status == TRACKED and t.activated]
    if not shown:
      return MotTracks.empty()
    boxes = _boxes(shown)
    keep = boxes[:, 2] * boxes[:, 3] > self.config.min_box_area
    if self.config.max_aspect_ratio > 0:
      keep &= boxes[:, 2] / boxes[:, 3] <= self.config.max_aspect_ratio
    return MotTracks(np.asarray([t.track_id for t in shown], np.int64)[keep], boxes[keep],
                     np.asarray([t.score for t in shown], np.float64)[keep])


def _remove_duplicates(tracks: list[Track]) -> list[Track]:
  """ByteTrack's ``remove_duplicate_stracks``: a tracked and a lost track closer than IoU
  distance 0.15 keep only the one tracked for longer."""
  tracked = [i for i, t in enumerate(tracks) if t.status == TRACKED]
  lost = [i for i, t in enumerate(tracks) if t.status == LOST]
  if not tracked or not lost:
    return tracks
  distance = 1.0 - iou_matrix(_boxes([tracks[i] for i in tracked]),
                              _boxes([tracks[i] for i in lost]))
  drop = set()
  for p, q in zip(*np.nonzero(distance < DUPLICATE_IOU_DISTANCE)):
    a, b = tracks[tracked[p]], tracks[lost[q]]
    if a.end_frame - a.start_frame > b.end_frame - b.start_frame:
      drop.add(lost[q])
    else:
      drop.add(tracked[p])
  return [t for i, t in enumerate(tracks) if i not in drop]
