"""Box and score losses on normalised search-crop coordinates (jax.numpy, jit-friendly).

``box_losses``: GIoU and L1 terms (a family weighs them, e.g. ``giou_weight * GIoU + l1_weight *
L1``) between the predicted box (cx, cy, w, h -> x1, y1, x2, y2) and the target (x, y, w, h ->
x1, y1, x2, y2, clamped to [0, 1]), mean over the batch (L1 also over the 4 coordinates). As in
the reference, when any box of the batch is degenerate (x2 < x1 or y2 < y1) the GIoU term is 0.
The ``iou`` metric is the mean per-sample IoU (0 for a degenerate prediction), so it stays
informative early in training. ``bce_with_logits``: binary cross-entropy with logits (e.g. a
score head), mean over the batch.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from trackjax.geometry.device_boxes import cxcywh_to_xyxy, xywh_to_xyxy


def iou_and_giou(a, b):
  """Elementwise IoU and generalised IoU of xyxy boxes ``a`` and ``b`` (..., 4)."""
  area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
  area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
  lt = jnp.maximum(a[..., :2], b[..., :2])
  rb = jnp.minimum(a[..., 2:], b[..., 2:])
  wh = jnp.clip(rb - lt, 0)
  inter = wh[..., 0] * wh[..., 1]
  union = area_a + area_b - inter
  iou = inter / union
  enclose_wh = jnp.clip(jnp.maximum(a[..., 2:], b[..., 2:]) - jnp.minimum(a[..., :2], b[..., :2]), 0)
  enclose = enclose_wh[..., 0] * enclose_wh[..., 1]
  return iou, iou - (enclose - union) / enclose


def box_losses(pred_cxcywh, target_xywh) -> dict[str, jnp.ndarray]:
  """``giou`` loss, ``l1`` loss and mean ``iou`` for (B, 4) predictions and targets."""
  pred = cxcywh_to_xyxy(pred_cxcywh.astype(jnp.float32))
  target = jnp.clip(xywh_to_xyxy(target_xywh.astype(jnp.float32)), 0.0, 1.0)
  valid = jnp.all(pred[:, 2:] >= pred[:, :2]) & jnp.all(target[:, 2:] >= target[:, :2])
  # Evaluate GIoU on safe boxes so that the unused branch has finite gradients.
  safe_pred = jnp.where(valid, pred, jnp.array([0.0, 0.0, 1.0, 1.0]))
  safe_target = jnp.where(valid, target, jnp.array([0.0, 0.0, 1.0, 1.0]))
  _, giou = iou_and_giou(safe_pred, safe_target)
  return {
      "giou": jnp.where(valid, jnp.mean(1.0 - giou), 0.0),
      "l1": jnp.mean(jnp.abs(pred - target)),
      "iou": jax.lax.stop_gradient(jnp.mean(box_iou(pred, target))),
  }


def box_iou(a, b):
  """Per-box IoU of xyxy boxes; 0 where either box is degenerate (a metric, not a loss)."""
  ok = jnp.all(a[..., 2:] > a[..., :2], axis=-1) & jnp.all(b[..., 2:] > b[..., :2], axis=-1)
  safe = jnp.array([0.0, 0.0, 1.0, 1.0])
  iou, _ = iou_and_giou(jnp.where(ok[..., None], a, safe), jnp.where(ok[..., None], b, safe))
  return jnp.where(ok, iou, 0.0)


def bce_with_logits(logits, labels):
  """Mean binary cross-entropy of ``logits`` against 0/1 ``labels`` (same shape)."""
  logits = logits.astype(jnp.float32)
  labels = labels.astype(jnp.float32)
  return jnp.mean(jnp.maximum(logits, 0) - logits * labels + jnp.log1p(jnp.exp(-jnp.abs(logits))))
