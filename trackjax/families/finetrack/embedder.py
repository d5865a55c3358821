"""FineTrack's embedder for ``trackjax.mot.tracker.AppearanceTracker`` (the ``Embedder`` protocol).

``FinetrackEmbedder.embed(variables, frame_rgb, boxes_xywh)``: the frame is resized on the host to
``config.model.image_size`` (the training input size; boxes scaled with it), then one jitted call
computes the FAFPN feature map and the embeddings of up to ``max_detections`` boxes (padded with
a dummy box to that static count, so one compilation serves every frame). Further boxes go through
a second jitted function on the same feature map, ``max_detections`` at a time. Rows are the
L2-normalised tracking embeddings (``model.FinetrackNet``: global and part embeddings); no box gives
a (0, D) array without any call.
"""

from __future__ import annotations

from typing import Any

import cv2
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from trackjax.families.finetrack.model import build_finetrack, embedding_dim
from trackjax.models import image_normalization

PAD_BOX = (0.0, 0.0, 8.0, 8.0)  # x1, y1, x2, y2 of padding rows (their output is dropped)


def xywh_to_xyxy_scaled(boxes_xywh: np.ndarray, scale_x: float, scale_y: float) -> np.ndarray:
  boxes = np.asarray(boxes_xywh, np.float32).reshape(-1, 4)
  x1, y1 = boxes[:, 0] * scale_x, boxes[:, 1] * scale_y
  return np.stack([x1, y1, x1 + boxes[:, 2] * scale_x, y1 + boxes[:, 3] * scale_y], axis=1)


class FinetrackEmbedder:
  """All detections of a frame in one jitted call, padded to ``max_detections``."""

  def __init__(self, model_config: ml_collections.ConfigDict, max_detections: int = 128,
               dtype: Any = jnp.float32):
    if int(max_detections) <= 0:
      raise ValueError(f"config.tracker.max_detections={max_detections}: must be positive")
    self.model_config = model_config
    self.max_detections = int(max_detections)
    self.image_size = tuple(int(s) for s in model_config.image_size)  # (height, width)
    self.dim = embedding_dim(model_config)
    model = build_finetrack(model_config, dtype=dtype)

    def frame_step(variables, image, boxes):
      images = image_normalization.normalize_images(image[None], dtype)
      features = model.apply(variables, images, method=model.feature_map)
      rows = model.apply(variables, features, boxes[None], method=model.embed_rois)["embedding"]
      return rows[0].astype(jnp.float32), features

    def more_rois(variables, features, boxes):
      rows = model.apply(variables, features, boxes[None], method=model.embed_rois)["embedding"]
      return rows[0].astype(jnp.float32)

    self._frame_step = jax.jit(frame_step)
    self._more_rois = jax.jit(more_rois)
    self.calls = 0  # jitted calls made (tests)

  def prepare(self, frame_rgb: np.ndarray, boxes_xywh: np.ndarray):
    """(resized uint8 frame, (N, 4) xyxy boxes in its pixels)."""
    frame = np.asarray(frame_rgb)
    if frame.ndim != 3 or frame.shape[2] != 3:
      raise ValueError(f"frame_rgb must be (H, W, 3), got {frame.shape}")
    height, width = self.image_size
    scale_x, scale_y = width / frame.shape[1], height / frame.shape[0]
    image = cv2.resize(frame.astype(np.uint8), (width, height), interpolation=cv2.INTER_LINEAR)
    return image, xywh_to_xyxy_scaled(boxes_xywh, scale_x, scale_y)

  def _padded(self, boxes: np.ndarray) -> np.ndarray:
    out = np.tile(np.asarray(PAD_BOX, np.float32), (self.max_detections, 1))
    out[:len(boxes)] = boxes
    return out

  def embed(self, variables, frame_rgb: np.ndarray, boxes_xywh: np.ndarray) -> np.ndarray:
    """(N, D) float32 L2-normalised embeddings of ``boxes_xywh`` (N, 4) pixel boxes."""
    boxes_xywh = np.asarray(boxes_xywh, np.float32).reshape(-1, 4)
    if not len(boxes_xywh):
      return np.zeros((0, self.dim), np.float32)
    image, boxes = self.prepare(frame_rgb, boxes_xywh)
    chunks = [boxes[i:i + self.max_detections]
              for i in range(0, len(boxes), self.max_detections)]
    rows, features = self._frame_step(variables, image, self._padded(chunks[0]))
    self.calls += 1
    out = [np.asarray(rows)[:len(chunks[0])]]
    for chunk in chunks[1:]:
      out.append(np.asarray(self._more_rois(variables, features, self._padded(chunk)))[:len(chunk)])
      self.calls += 1
    return np.concatenate(out, axis=0)
