"""Multi-head part masks over ROI features, learned without part labels, and their diversity term.

``PartMaskHeads(num_parts, attention_dim)``: K parallel heads over the (h x w) tokens of a ROI
feature map. Head k self-attends over the tokens (its own query/key/value projections, scaled dot
products), maps each attended token to one logit and takes a sigmoid: a spatial mask m_k in (0, 1)
per ROI. The part feature of head k is the mask-weighted mean of the ROI features,
sum_t m_k(t) x_t / (sum_t m_k(t) + eps).

``mask_diversity(masks, weights)``: the mean pairwise cosine similarity of the K masks of a ROI
(masks flattened over space, L2-normalised), averaged over the ROIs with ``weights``. Masks are
non-negative, so it lies in [0, 1] and is 0 only when the heads cover disjoint regions; minimising
it keeps the heads apart.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp


class PartMaskHeads(nn.Module):
  """(N, h, w, C) ROI features -> (masks (N, K, h, w), part features (N, K, C))."""

  num_parts: int = 4
  attention_dim: int = 64
  epsilon: float = 1e-6
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, rois: jnp.ndarray):
    n, height, width, channels = rois.shape
    tokens = rois.reshape(n, height * width, channels)
    project = lambda name: nn.DenseGeneral((self.num_parts, self.attention_dim), dtype=self.dtype,
                                           name=name)(tokens)  # (N, T, K, d)
    query, key, value = project("query"), project("key"), project("value")
    logits = jnp.einsum("ntkd,nskd->nkts", query, key) / jnp.sqrt(float(self.attention_dim))
    attention = nn.softmax(logits.astype(jnp.float32), axis=-1).astype(self.dtype)
    attended = jnp.einsum("nkts,nskd->nktd", attention, value)
    # One logit per attended token and head: a per-head (d -> 1) projection.
    kernel = self.param("mask_kernel", nn.initializers.lecun_normal(),
                        (self.num_parts, self.attention_dim))
    bias = self.param("mask_bias", nn.initializers.zeros, (self.num_parts,))
    mask_logits = jnp.einsum("nktd,kd->nkt", attended, kernel.astype(self.dtype)) + bias[:, None]
    masks = nn.sigmoid(mask_logits.astype(jnp.float32))  # (N, K, T)
    weights = masks / (masks.sum(-1, keepdims=True) + self.epsilon)
    parts = jnp.einsum("nkt,ntc->nkc", weights.astype(tokens.dtype), tokens)
    return masks.reshape(n, self.num_parts, height, width), parts


def mask_diversity(masks: jnp.ndarray, weights: jnp.ndarray | None = None,
                   epsilon: float = 1e-6) -> jnp.ndarray:
  """Mean pairwise cosine similarity of the K masks of each ROI (``masks`` (N, K, ...)), averaged
  over ROIs with ``weights`` (N,) (1 = counted, 0 = padding); 0 when K < 2."""
  n, k = masks.shape[0], masks.shape[1]
  if k < 2:
    return jnp.zeros((), jnp.float32)
  flat = masks.reshape(n, k, -1).astype(jnp.float32)
  # sqrt(max(., eps)): a mask whose sigmoid underflowed to zero everywhere has no NaN gradient.
  flat = flat / jnp.sqrt(jnp.maximum(jnp.sum(flat * flat, axis=-1, keepdims=True), epsilon))
  gram = jnp.einsum("nkt,nlt->nkl", flat, flat)
  off_diagonal = (gram.sum((1, 2)) - jnp.trace(gram, axis1=1, axis2=2)) / (k * (k - 1))
  if weights is None:
    return off_diagonal.mean()
  weights = weights.astype(jnp.float32)
  return (off_diagonal * weights).sum() / jnp.maximum(weights.sum(), 1.0)
