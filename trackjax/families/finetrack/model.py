"""FineTrack's appearance network: ResNet stages -> Flow Alignment FPN -> ROIAlign -> global and
part embeddings (+ identity classifiers for training).

``FinetrackNet(images, boxes, train=False)``: ``images`` (B, H, W, 3) normalised frames (the
whole frame, resized to ``config.model.image_size``), ``boxes`` (B, N, 4) x1, y1, x2, y2 in the
pixels of those images. Returns a dict:

* ``global`` (B, N, D): the global embedding (ROI features mean-pooled, a linear map to D);
* ``parts`` (B, N, K, D): one embedding per part head (``trackjax.models.part_masks``: mask-weighted
  ROI features, one linear map per head);
* ``masks`` (B, N, K, h, w): the part masks;
* ``embedding`` (B, N, D * (1 + K)): what the tracker compares, the L2-normalised concatenation of
  the normalised global embedding and the normalised part embeddings scaled by
  ``part_embedding_weight`` (cosine similarity = (g.g' + w^2 sum_k p_k.p_k') / (1 + K w^2));
* with ``with_logits=True``: ``global_logits`` (B, N, I) and ``part_logits`` (B, N, K, I) over the
  ``num_identities`` training identities.

Reconstructed choices (the paper's method section was not available; docs/finetrack.md):

* Backbone: ResNet-50 ``layer1``..``layer4`` (strides 4..32; ``fpn_levels`` stages feed the FAFPN),
  ``backbone_norm`` frozen BN for an ImageNet start (the paper's backbone) or group norm from
  scratch (quickstart).
* FAFPN (``trackjax.models.flow_alignment``): width ``fpn_width`` (256, the usual FPN width), group
  norm (no batch statistics to carry), flow convolution 3x3 zero-initialised, output at stride 4
  (``fpn_fusion='finest'``; ``'concat'`` is SFNet's fusion of every level).
* ROIAlign (``trackjax.models.roi_align``): ``roi_size`` (16, 8) bins (a 2:1 pedestrian box, as
  ReID's 256x128 crops at stride 16), ``roi_sampling_ratio`` 2 (torchvision's usual value).
* Part masks: ``num_parts`` 4 heads (the paper's K is unknown; PCB uses 6 stripes, MGN 2-3),
  attention width ``part_attention_dim`` 64.
* Embedding width ``embedding_dim`` 128 per branch (FairMOT's ReID width); classifiers
  ``classifier='cosine'`` (scaled cosine logits, ``classifier_scale`` 16: no BN-neck statistics
  needed) or ``'linear'`` (FastReID's BoT head without its BN-neck).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from trackjax.models.flow_alignment import FlowAlignmentFPN
from trackjax.models.part_masks import PartMaskHeads
from trackjax.models.resnet import ResNet
from trackjax.models.roi_align import roi_align

STAGES = ("layer1", "layer2", "layer3", "layer4")
FEATURE_STRIDE = 4  # the FAFPN output sits at layer1's resolution
CLASSIFIERS = ("cosine", "linear")


def stages_of(model_config) -> tuple[str, ...]:
  """The ResNet stages feeding the FAFPN: layer1..layer<fpn_levels> (2 to 4)."""
  levels = int(model_config.get("fpn_levels", len(STAGES)))
  if not 2 <= levels <= len(STAGES):
    raise ValueError(f"config.model.fpn_levels={levels}: use 2..{len(STAGES)}")
  return STAGES[:levels]


def l2_normalise(x: jnp.ndarray, axis: int = -1, epsilon: float = 1e-12) -> jnp.ndarray:
  x = x.astype(jnp.float32)
  return x / jnp.sqrt(jnp.maximum(jnp.sum(x * x, axis=axis, keepdims=True), epsilon))


class IdentityClassifier(nn.Module):
  """Logits over ``num_identities`` (a ``groups`` axis gives each part its own classifier)."""

  num_identities: int
  kind: str = "cosine"
  scale: float = 16.0
  groups: int = 0  # 0: one classifier over the last axis; K: one per part, input (..., K, D)

  @nn.compact
  def __call__(self, x):
    if self.kind not in CLASSIFIERS:
      raise ValueError(f"classifier={self.kind!r}: use one of {CLASSIFIERS}")
    shape = ((self.groups,) if self.groups else ()) + (x.shape[-1], self.num_identities)
    weight = self.param("weight", nn.initializers.normal(0.01), shape)
    x = x.astype(jnp.float32)
    equation = "...kd,kdi->...ki" if self.groups else "...d,di->...i"
    if self.kind == "cosine":
      return self.scale * jnp.einsum(equation, l2_normalise(x), l2_normalise(weight, axis=-2))
    bias = self.param("bias", nn.initializers.zeros, shape[:-2] + (self.num_identities,))
    return jnp.einsum(equation, x, weight) + bias


class FinetrackNet(nn.Module):
  """The appearance network (module docstring)."""

  config: ml_collections.ConfigDict
  dtype: Any = jnp.float32

  def setup(self):
    m = self.config
    self.backbone = ResNet(depth=int(m.backbone_depth), blocks=m.get("backbone_blocks"),
                           width=int(m.backbone_width), outputs=stages_of(m),
                           norm=m.backbone_norm, dtype=self.dtype)
    self.fpn = FlowAlignmentFPN(width=int(m.fpn_width), norm=m.fpn_norm, fusion=m.fpn_fusion,
                                flow_init=m.flow_init, align_corners=bool(m.flow_align_corners),
                                dtype=self.dtype)
    self.part_heads = PartMaskHeads(num_parts=int(m.num_parts),
                                    attention_dim=int(m.part_attention_dim), dtype=self.dtype)
    self.global_projection = nn.Dense(int(m.embedding_dim), dtype=self.dtype)
    self.part_projection = self.param(
        "part_projection", nn.initializers.lecun_normal(batch_axis=(0,)),
        (int(m.num_parts), int(m.fpn_width), int(m.embedding_dim)))
    self.global_classifier = IdentityClassifier(int(m.num_identities), m.classifier,
                                                float(m.classifier_scale))
    self.part_classifier = IdentityClassifier(int(m.num_identities), m.classifier,
                                              float(m.classifier_scale), groups=int(m.num_parts))

  def feature_map(self, images: jnp.ndarray) -> jnp.ndarray:
    """(B, H, W, 3) normalised images -> (B, H/4, W/4, fpn_width) FAFPN features."""
    stages = self.backbone(images)
    return self.fpn([stages[name] for name in stages_of(self.config)])

  def embed_rois(self, features: jnp.ndarray, boxes: jnp.ndarray) -> dict[str, jnp.ndarray]:
    """FAFPN ``features`` (B, h, w, C) and ``boxes`` (B, N, 4) image-pixel xyxy -> the outputs."""
    m = self.config
    rois = roi_align(features, boxes, tuple(m.roi_size), 1.0 / FEATURE_STRIDE,
                     int(m.roi_sampling_ratio))  # (B, N, PH, PW, C)
    batch, count = rois.shape[:2]
    flat = rois.reshape((batch * count,) + rois.shape[2:])
    global_embedding = self.global_projection(flat.mean(axis=(1, 2)))
    masks, part_features = self.part_heads(flat)
    parts = jnp.einsum("nkc,kcd->nkd", part_features, self.part_projection.astype(self.dtype))
    weight = float(m.part_embedding_weight)
    combined = jnp.concatenate(
        [l2_normalise(global_embedding)[:, None], weight * l2_normalise(parts)], axis=1)
    embedding = l2_normalise(combined.reshape(batch * count, -1))
    unflat = lambda x: x.reshape((batch, count) + x.shape[1:])
    return {"global": unflat(global_embedding), "parts": unflat(parts), "masks": unflat(masks),
            "embedding": unflat(embedding)}

  def __call__(self, images, boxes, train: bool = False, with_logits: bool = True):
    del train  # no dropout, no batch statistics
    outputs = self.embed_rois(self.feature_map(images), boxes)
    if with_logits:
      outputs["global_logits"] = self.global_classifier(outputs["global"])
      outputs["part_logits"] = self.part_classifier(outputs["parts"])
    return outputs

  def embeddings(self, images, boxes):
    """Only the tracking embedding (B, N, D * (1 + K)): no classifier evaluated."""
    return self.embed_rois(self.feature_map(images), boxes)["embedding"]


def build_finetrack(model_config: ml_collections.ConfigDict, dtype=jnp.float32) -> FinetrackNet:
  return FinetrackNet(model_config, dtype=dtype)


def dummy_inputs(model_config: ml_collections.ConfigDict, batch: int = 1, boxes: int = 2):
  """Zero images of ``image_size`` and ``boxes`` boxes each, for initialisation."""
  height, width = (int(s) for s in model_config.image_size)
  images = jnp.zeros((batch, height, width, 3), jnp.float32)
  box = jnp.asarray([0.0, 0.0, width / 2.0, height / 2.0], jnp.float32)
  return images, jnp.broadcast_to(box, (batch, boxes, 4))


def init_variables(model_config: ml_collections.ConfigDict, rng: jax.Array) -> dict[str, Any]:
  """Fresh variables of ``FinetrackNet`` (classifiers included)."""
  return build_finetrack(model_config).init({"params": rng}, *dummy_inputs(model_config))


def embedding_dim(model_config: ml_collections.ConfigDict) -> int:
  """Width of the tracking embedding: D per branch, global + K parts."""
  return int(model_config.embedding_dim) * (1 + int(model_config.num_parts))
