"""ACTrack's sequence loss on the 4 coordinate tokens (jax.numpy, jit-friendly).

* ``ce``: cross-entropy of the (B, 4, bins) logits against the quantised target corners
  (``sequence.box_tokens``), mean over batch and tokens (ARTrack's loss on its coordinate
  tokens); optional label smoothing.
* ``giou``: 1 - GIoU of the expected box, each corner the softmax-weighted mean of the bin values,
  against the target (ARTrack adds an IoU-type loss on its decoded box; the expectation keeps it
  differentiable). The predicted corners are ordered (x2 >= x1 + 1e-3) so the term is always
  defined.
* metrics: ``iou`` (argmax box vs target) and ``token_accuracy`` (argmax == target bin).

``loss = ce_weight * ce + giou_weight * giou``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from trackjax.families.actrack import sequence as seq
from trackjax.train.losses import box_iou, iou_and_giou


def expected_corners(logits, num_bins: int, coordinate_range: float):
  """(..., 4, bins) logits -> (..., 4) softmax-weighted coordinates."""
  probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)
  return jnp.sum(probs * seq.bin_values(num_bins, coordinate_range), axis=-1)


def ordered(corners, min_side: float = 1e-3):
  x1y1 = corners[..., :2]
  return jnp.concatenate([x1y1, jnp.maximum(corners[..., 2:], x1y1 + min_side)], axis=-1)


def sequence_loss(logits, target_xywh, num_bins: int, coordinate_range: float, *,
                  ce_weight: float = 1.0, giou_weight: float = 2.0,
                  label_smoothing: float = 0.0):
  """``(loss, terms)`` for (B, 4, bins) coordinate logits and (B, 4) crop-normalised targets."""
  logits = logits.astype(jnp.float32)
  targets = seq.box_tokens(target_xywh, num_bins, coordinate_range)
  log_probs = jax.nn.log_softmax(logits, axis=-1)
  one_hot = jax.nn.one_hot(targets, num_bins)
  if label_smoothing > 0:
    one_hot = one_hot * (1.0 - label_smoothing) + label_smoothing / num_bins
  ce = -jnp.mean(jnp.sum(one_hot * log_probs, axis=-1))
  target_corners = seq.xywh_to_corners(target_xywh)
  pred = ordered(expected_corners(logits, num_bins, coordinate_range))
  _, giou = iou_and_giou(pred, ordered(target_corners))
  giou_loss = jnp.mean(1.0 - giou)
  argmax = jnp.argmax(logits, axis=-1)
  decoded = seq.dequantize(argmax, num_bins, coordinate_range)
  terms = {
      "ce": ce,
      "giou": giou_loss,
      "iou": jax.lax.stop_gradient(jnp.mean(box_iou(decoded, target_corners))),
      "token_accuracy": jnp.mean((argmax == targets).astype(jnp.float32)),
  }
  return ce_weight * ce + giou_weight * giou_loss, terms
