"""FineTrack's training losses: identity cross-entropy with label smoothing, batch-hard triplet
loss on the global and the part embeddings, and the part-mask diversity term.

Every ROI of a batch carries an identity label and a validity weight (padding has weight 0).

* ``smoothed_cross_entropy``: FastReID's label smoothing (``cross_entropy_loss``): target 1 - eps
  on the label and eps / (C - 1) on each other class; mean over valid ROIs.
* ``batch_hard_triplet``: FastReID's ``triplet_loss`` with hard mining (Hermans et al.): for each
  anchor, the farthest positive and the nearest negative over the batch; ``max(0, d_ap - d_an +
  margin)`` (``margin`` 0 = the soft margin ``softplus(d_ap - d_an)``); Euclidean distances
  (``sqrt(max(|x|^2 + |y|^2 - 2 x.y, 1e-12))``), on L2-normalised embeddings when ``normalise``
  (FastReID's ``norm_feat``). Anchors without a positive or a negative in the batch are left out
  (shuffle-group batches give every identity several instances, so few are).
* ``finetrack_losses``: ``ce_weight * (CE_global + mean_k CE_part_k) + triplet_weight *
  (T_global + mean_k T_part_k) + diversity_weight * diversity`` with the stage's fields
  (``config.loss_config``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from trackjax.models.part_masks import mask_diversity


def smoothed_cross_entropy(logits: jnp.ndarray, labels: jnp.ndarray, weights: jnp.ndarray,
                           epsilon: float = 0.1) -> jnp.ndarray:
  """``logits`` (M, C), ``labels`` (M,), ``weights`` (M,) -> the weighted mean loss."""
  num_classes = logits.shape[-1]
  log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  onehot = jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)
  off = epsilon / max(num_classes - 1, 1)
  targets = onehot * (1.0 - epsilon) + (1.0 - onehot) * off
  per_roi = -(targets * log_probs).sum(-1)
  weights = weights.astype(jnp.float32)
  return (per_roi * weights).sum() / jnp.maximum(weights.sum(), 1.0)


def pairwise_distances(x: jnp.ndarray) -> jnp.ndarray:
  """(M, D) -> (M, M) Euclidean distances, clamped as FastReID's ``euclidean_dist``."""
  x = x.astype(jnp.float32)
  squared = (x * x).sum(-1)
  d2 = squared[:, None] + squared[None, :] - 2.0 * x @ x.T
  return jnp.sqrt(jnp.maximum(d2, 1e-12))


def batch_hard_triplet(embeddings: jnp.ndarray, labels: jnp.ndarray, weights: jnp.ndarray,
                       margin: float = 0.3, normalise: bool = True):
  """Batch-hard triplet loss over ``embeddings`` (M, D); returns (loss, number of anchors)."""
  x = embeddings.astype(jnp.float32)
  if normalise:
    x = x / jnp.sqrt(jnp.maximum((x * x).sum(-1, keepdims=True), 1e-12))
  dist = pairwise_distances(x)
  valid = weights > 0
  both = valid[:, None] & valid[None, :]
  same = labels[:, None] == labels[None, :]
  not_self = ~jnp.eye(labels.shape[0], dtype=bool)
  positive = both & same & not_self
  negative = both & ~same
  hardest_positive = jnp.max(jnp.where(positive, dist, -jnp.inf), axis=1)
  hardest_negative = jnp.min(jnp.where(negative, dist, jnp.inf), axis=1)
  anchors = valid & positive.any(1) & negative.any(1)
  gap = jnp.where(anchors, hardest_positive - hardest_negative, 0.0)
  per_anchor = jax.nn.softplus(gap) if margin <= 0 else jnp.maximum(gap + margin, 0.0)
  count = anchors.sum()
  loss = jnp.where(anchors, per_anchor, 0.0).sum() / jnp.maximum(count, 1)
  return loss, count


def finetrack_losses(outputs: dict, labels: jnp.ndarray, weights: jnp.ndarray, fields):
  """The weighted total and its terms; ``outputs`` of ``FinetrackNet`` (with logits), ``labels``
  and ``weights`` (B, N); ``fields``: the stage's loss fields."""
  labels = labels.reshape(-1)
  weights = weights.reshape(-1).astype(jnp.float32)
  eps = float(fields.label_smoothing)
  margin, normalise = float(fields.triplet_margin), bool(fields.triplet_normalise)
  global_logits = outputs["global_logits"].reshape(labels.shape[0], -1)
  part_logits = outputs["part_logits"]
  num_parts = part_logits.shape[-2]
  part_logits = part_logits.reshape(labels.shape[0], num_parts, -1)
  ce_global = smoothed_cross_entropy(global_logits, labels, weights, eps)
  ce_parts = jnp.mean(jnp.stack([smoothed_cross_entropy(part_logits[:, k], labels, weights, eps)
                                 for k in range(num_parts)]))
  global_embedding = outputs["global"].reshape(labels.shape[0], -1)
  parts = outputs["parts"].reshape(labels.shape[0], num_parts, -1)
  triplet_global, anchors = batch_hard_triplet(global_embedding, labels, weights, margin,
                                               normalise)
  triplet_parts = jnp.mean(jnp.stack([
      batch_hard_triplet(parts[:, k], labels, weights, margin, normalise)[0]
      for k in range(num_parts)]))
  masks = outputs["masks"]
  masks = masks.reshape((labels.shape[0],) + masks.shape[2:])
  diversity = mask_diversity(masks, weights)
  total = (float(fields.ce_weight) * (ce_global + ce_parts)
           + float(fields.triplet_weight) * (triplet_global + triplet_parts)
           + float(fields.diversity_weight) * diversity)
  accuracy = ((global_logits.argmax(-1) == labels) * weights).sum() / jnp.maximum(weights.sum(), 1)
  terms = {"ce_global": ce_global, "ce_parts": ce_parts, "triplet_global": triplet_global,
           "triplet_parts": triplet_parts, "mask_diversity": diversity,
           "triplet_anchors": anchors.astype(jnp.float32), "id_accuracy": accuracy,
           "rois": weights.sum()}
  return total, terms
