"""MAPNet-R's training losses on normalised search-crop coordinates (jax.numpy, jit-friendly).

Target assignment is TransT's (``ltr/models/loss/matcher.py``): every search token whose grid
position lies in the ground-truth box is a positive, all others are background (no Hungarian
matching). ``positive_tokens`` has the rule and a ``'centre'`` alternative.

Per token i, with p_i the softmax foreground probability, b_i its (cx, cy, w, h) box and g the
ground truth:

* classification: a two-class cross-entropy ``-(q_i log p_i + (1 - q_i) log(1 - p_i))`` with weight
  1 on positives and ``background_weight`` (TransT's 0.0625) on background tokens, averaged with
  those weights (PyTorch's weighted ``cross_entropy``). TransT: q_i = 1 on positives, 0 elsewhere.
  **Precision-guided** (``precision_guided_cls``): a positive's target is the precision of its own
  regressed box, ``q_i = sg(IoU(b_i, g))``: IoU-aware soft labels as VarifocalNet / GFL's quality
  focal loss, without their focal modulation and with TransT's weights kept, so that with boxes of
  IoU 1 the loss is TransT's exactly. A token is then confident only as far as its box is right,
  which is what the tracker's argmax over the scores needs.
* regression on positives: ``l1_i = |b_i - g|_1`` (cxcywh, summed over the 4 numbers, as TransT)
  and ``giou_i = 1 - GIoU(b_i, g)``; TransT: their means over the positives (``sum / max(N, 1)``).
  **Confidence-guided** (``confidence_guided_reg``): each positive weighted by c_i = sg(p_i), the
  sums normalised by the sum of the weights (``confidence_normaliser='weights'``, a weighted mean)
  or by the number of positives (``'positives'``). The tokens the classifier trusts (those the
  tracker will pick) are regressed hardest.

``loss = cls_weight * cls + l1_weight * l1 + giou_weight * giou`` (TransT: 8.334, 5, 2); the metrics
report the three terms unweighted. Everything is masked, never multiplied, so a
degenerate or non-finite target, a sample without positives, or an invalid sample (``sample_valid``
False) gives finite values and finite gradients.
"""

from __future__ import annotations

from typing import Any, Mapping

import jax
import jax.numpy as jnp

from trackjax.geometry.device_boxes import cxcywh_to_xyxy, xywh_to_xyxy, xyxy_to_cxcywh
from trackjax.train.losses import box_iou, iou_and_giou

POSITIVE_RULES = ("transt", "centre")
CONFIDENCE_NORMALISERS = ("weights", "positives")
_SAFE_BOX = jnp.array([0.0, 0.0, 1.0, 1.0])


def positive_tokens(target_cxcywh, side: int, rule: str = "transt") -> jnp.ndarray:
  """(B, side * side) bool: row-major search tokens assigned to the (B, 4) normalised targets.

  ``'transt'`` (TransT's ``TrackingMatcher``): with ``lo = ceil(x1 * side)`` and
  ``hi = ceil(x2 * side)`` (``hi = lo + 1`` when equal), columns ``lo <= j < hi`` are positive, the
  same for rows with y: token (i, j) is positive when its top-left corner ``(j, i) / side`` lies in
  ``[x1, x2) x [y1, y2)``, and a box between two grid lines still gets one row/column. The range
  is clamped to the grid (TransT's slice wraps a negative ``lo`` around and then selects nothing).
  ``'centre'``: token centres ``(j + 0.5) / side`` in ``[x1, x2]``, plus the token holding the box
  centre when it lies in the crop. A non-finite target has no positives.
  """
  if rule not in POSITIVE_RULES:
    raise ValueError(f"unknown positive_rule {rule!r}: use one of {POSITIVE_RULES}")
  target = jnp.asarray(target_cxcywh, jnp.float32)
  x1, y1, x2, y2 = jnp.moveaxis(cxcywh_to_xyxy(target), -1, 0)
  grid = jnp.arange(side, dtype=jnp.float32)

  def along(lo_edge, hi_edge, centre):  # (B,) -> (B, side)
    if rule == "transt":
      lo, hi = jnp.ceil(lo_edge * side), jnp.ceil(hi_edge * side)
      hi = jnp.where(hi == lo, hi + 1, hi)
      return (grid >= lo[:, None]) & (grid < hi[:, None])
    centres = (grid + 0.5) / side
    inside = (centres >= lo_edge[:, None]) & (centres <= hi_edge[:, None])
    cell = jnp.floor(centre * side)
    holds_centre = (grid == cell[:, None]) & ((centre >= 0) & (centre < 1))[:, None]
    return inside | holds_centre

  cols = along(x1, x2, target[:, 0])
  rows = along(y1, y2, target[:, 1])
  positive = rows[:, :, None] & cols[:, None, :]
  finite = jnp.all(jnp.isfinite(target), axis=-1)
  return positive.reshape(target.shape[0], side * side) & finite[:, None]


def _giou_per_token(pred_xyxy, target_xyxy):
  """GIoU of (B, L, 4) boxes with (B, 1, 4) targets; 0 where either box is degenerate."""
  target_xyxy = jnp.broadcast_to(target_xyxy, pred_xyxy.shape)
  ok = (jnp.all(pred_xyxy[..., 2:] > pred_xyxy[..., :2], axis=-1)
        & jnp.all(target_xyxy[..., 2:] > target_xyxy[..., :2], axis=-1))
  _, giou = iou_and_giou(jnp.where(ok[..., None], pred_xyxy, _SAFE_BOX),
                         jnp.where(ok[..., None], target_xyxy, _SAFE_BOX))
  return ok, giou


def mapnet_losses(outputs: Mapping[str, jnp.ndarray], target_xywh, loss_config,
                  search_padding=None, sample_valid=None) -> tuple[jnp.ndarray, dict[str, Any]]:
  """Weighted total loss and metrics (module docstring) for one batch.

  Args:
    outputs: ``pred_logits`` (B, L, 2) with foreground first, ``pred_boxes`` (B, L, 4) normalised
      cxcywh; L = side * side row-major search tokens.
    target_xywh: (B, 4) normalised ground truth in the search crop (the sample pipelines' layout).
    loss_config: ``config.loss_config()`` fields (a ConfigDict or a mapping).
    search_padding: (B, L) bool, True on padded search tokens; used with ``ignore_padded_tokens``.
    sample_valid: (B,) bool, False for samples that must not count (e.g. batch padding).

  Returns:
    ``(loss, metrics)``; metrics hold ``cls``, ``l1``, ``giou`` (unweighted), ``iou`` (mean IoU of
    the positives' boxes), ``num_positives`` (mean per valid sample) and ``loss``.
  """
  get = loss_config.get if hasattr(loss_config, "get") else lambda k, d=None: getattr(
      loss_config, k, d)
  normaliser = get("confidence_normaliser", "weights")
  if normaliser not in CONFIDENCE_NORMALISERS:
    raise ValueError(f"unknown confidence_normaliser {normaliser!r}: use one of "
                     f"{CONFIDENCE_NORMALISERS}")
  logits = outputs["pred_logits"].astype(jnp.float32)
  boxes = outputs["pred_boxes"].astype(jnp.float32)
  b, l = logits.shape[:2]
  side = int(round(l ** 0.5))
  if side * side != l:
    raise ValueError(f"{l} search tokens do not form a square grid")

  target = jnp.asarray(target_xywh, jnp.float32)
  target_ok = jnp.all(jnp.isfinite(target), axis=-1)
  if sample_valid is not None:
    target_ok = target_ok & jnp.asarray(sample_valid, bool)
  target = jnp.where(target_ok[:, None], target, _SAFE_BOX)  # safe values, masked below
  target_xyxy = xywh_to_xyxy(target)
  target_cxcywh = xyxy_to_cxcywh(target_xyxy)

  token_valid = jnp.broadcast_to(target_ok[:, None], (b, l))
  if get("ignore_padded_tokens", False) and search_padding is not None:
    token_valid = token_valid & jnp.logical_not(search_padding)
  positive = positive_tokens(target_cxcywh, side, get("positive_rule", "transt")) & token_valid
  positive_f = positive.astype(jnp.float32)
  num_positive = jnp.sum(positive_f)

  # Boxes: sanitised so that masked-out tokens have finite values and gradients.
  boxes_ok = jnp.all(jnp.isfinite(boxes), axis=-1, keepdims=True)
  boxes = jnp.where(boxes_ok, boxes, jnp.array([0.5, 0.5, 1.0, 1.0]))
  pred_xyxy = cxcywh_to_xyxy(boxes)
  iou = jax.lax.stop_gradient(box_iou(pred_xyxy, target_xyxy[:, None, :]))  # (B, L)
  giou_ok, giou = _giou_per_token(pred_xyxy, target_xyxy[:, None, :])
  l1_token = jnp.sum(jnp.abs(boxes - target_cxcywh[:, None, :]), axis=-1)
  giou_token = jnp.where(giou_ok, 1.0 - giou, 0.0)

  # Classification.
  log_p = jax.nn.log_softmax(logits, axis=-1)
  q = jnp.where(positive, iou if get("precision_guided_cls", True) else 1.0, 0.0)
  ce = -(q * log_p[..., 0] + (1.0 - q) * log_p[..., 1])
  weight = jnp.where(positive, 1.0, get("background_weight", 0.0625)) * token_valid
  cls = jnp.sum(jnp.where(weight > 0, weight * ce, 0.0)) / jnp.maximum(jnp.sum(weight), 1e-12)

  # Regression.
  if get("confidence_guided_reg", True):
    confidence = jax.lax.stop_gradient(jnp.exp(log_p[..., 0]))
    reg_weight = jnp.where(positive, confidence, 0.0)
    total_weight = jnp.sum(reg_weight) if normaliser == "weights" else num_positive
  else:
    reg_weight, total_weight = positive_f, num_positive
  denominator = jnp.maximum(total_weight, 1e-6 if normaliser == "weights" else 1.0)
  weighted = lambda per_token: jnp.sum(jnp.where(positive, reg_weight * per_token, 0.0))
  l1, giou_loss = weighted(l1_token) / denominator, weighted(giou_token) / denominator

  loss = (get("cls_weight", 8.334) * cls + get("l1_weight", 5.0) * l1
          + get("giou_weight", 2.0) * giou_loss)
  num_valid = jnp.maximum(jnp.sum(target_ok.astype(jnp.float32)), 1.0)
  metrics = {
      "loss": loss,
      "cls": cls,
      "l1": l1,
      "giou": giou_loss,
      "iou": jnp.sum(jnp.where(positive, iou, 0.0)) / jnp.maximum(num_positive, 1.0),
      "num_positives": num_positive / num_valid,
  }
  return loss, metrics
