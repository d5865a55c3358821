"""STARK-S and STARK-ST (Yan et al., ICCV 2021) as one Flax module.

Inputs are NHWC ImageNet-normalised crops with bool padding masks (True = padded pixel). The work is
split into entry points so that inference never recomputes what does not change:

* ``encode(images, masks) -> Tokens``: backbone, 1x1 bottleneck, positional encoding; run once per
  template and once per search crop.
* ``decode(tokens, train) -> outputs``: transformer over [templates..., search] tokens and the heads.
* ``track_step(template_tokens, search_images, search_masks)``: ``encode`` of the search crop and
  ``decode`` in one program, the per-frame step of a tracker with cached template tokens.
* ``__call__``: the whole network on a training triplet.

Outputs are ``pred_boxes`` (B, Nq, 4) as normalised (cx, cy, w, h) of the search crop and, with the
score head (STARK-ST), ``pred_logits`` (B, Nq, 1).

``matmul_dtype='bfloat16'`` (``config.model.matmul_dtype``) is an inference speed option for CPUs
with bf16 dot instructions: the large products and convolutions round their operands to bfloat16 and
accumulate in float32 (``matmul_precision``); parameters, norms, softmax and soft-argmax stay float32
and the parameter tree is unchanged. The default (float32) is the reference computation.

Trackers run the network on ``inference_variables(variables, matmul_dtype)``: the same function in
fewer operations (batch norms folded into kernels, Winograd 3x3 kernels, split attention
projections), prepared once per variables object.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp

from trackjax.geometry.device_boxes import xyxy_to_cxcywh
from trackjax.models import heads, resnet
from trackjax.models.convolution import Conv, fold_norms, winograd_kernels
from trackjax.models.heads import CornerHead, MLP, torch_default_init
from trackjax.models.matmul_precision import check_matmul_dtype, round_matmul_kernels
from trackjax.models.position_encoding import downsample_mask, sine_position_encoding
from trackjax.models.resnet import ResNet, strided_or_dilated_3x3
from trackjax.models.transformer import Transformer, split_in_projections


@flax.struct.dataclass
class Tokens:
  """Flattened (row-major) feature tokens of one or more crops."""

  feat: jnp.ndarray  # (B, L, C)
  mask: jnp.ndarray  # (B, L) bool, True = padded
  pos: jnp.ndarray  # (B, L, C)

  @staticmethod
  def concatenate(parts: Sequence["Tokens"]) -> "Tokens":
    return Tokens(*(jnp.concatenate([getattr(p, f) for p in parts], axis=1)
                    for f in ("feat", "mask", "pos")))


class Stark(nn.Module):
  """STARK network. ``score_head=False`` is STARK-S; ``True`` is STARK-ST (two templates)."""

  backbone_depth: int = 50
  backbone_blocks: Sequence[int] | None = None
  backbone_width: int = 64
  backbone_norm: str = "frozen_bn"
  hidden_dim: int = 256
  num_heads: int = 8
  num_encoder_layers: int = 6
  num_decoder_layers: int = 6
  dim_feedforward: int = 2048
  dropout: float = 0.1
  num_queries: int = 1
  head_channels: Sequence[int] = (256, 128, 64, 32)
  feature_stride: int = 16
  search_size: int = 320
  score_head: bool = True
  dtype: Any = jnp.float32
  matmul_dtype: str | None = None  # None / 'float32' (reference) or 'bfloat16' (module docstring)

  def setup(self):
    matmul_dtype = check_matmul_dtype(self.matmul_dtype)
    self.backbone = ResNet(depth=self.backbone_depth, blocks=self.backbone_blocks,
                           width=self.backbone_width, outputs=("layer3",), norm=self.backbone_norm,
                           dtype=self.dtype, matmul_dtype=matmul_dtype)
    in_channels = self.backbone_width * 16
    self.bottleneck = Conv(
        self.hidden_dim, (1, 1), kernel_init=nn.initializers.variance_scaling(1 / 3, "fan_in", "uniform"),
        bias_init=torch_default_init(in_channels), dtype=self.dtype, matmul_dtype=matmul_dtype)
    self.transformer = Transformer(
        num_heads=self.num_heads, num_encoder_layers=self.num_encoder_layers,
        num_decoder_layers=self.num_decoder_layers, dim_feedforward=self.dim_feedforward,
        dropout=self.dropout, dtype=self.dtype, matmul_dtype=matmul_dtype)
    self.query_embed = self.param("query_embed", nn.initializers.normal(1.0),
                                  (self.num_queries, self.hidden_dim), jnp.float32)
    self.box_head = CornerHead(channels=tuple(self.head_channels), stride=self.feature_stride,
                               image_size=self.search_size, dtype=self.dtype,
                               matmul_dtype=matmul_dtype)
    if self.score_head:
      self.cls_head = MLP(self.hidden_dim, 1, 3, dtype=self.dtype, matmul_dtype=matmul_dtype)

  def encode(self, images, masks) -> Tokens:
    """Crops (B, H, W, 3) and masks (B, H, W) -> tokens of the stride-16 feature map."""
    feat = self.bottleneck(self.backbone(images)["layer3"])
    mask = downsample_mask(masks, self.feature_stride)
    pos = sine_position_encoding(mask, num_pos_feats=self.hidden_dim // 2)
    b, h, w, c = feat.shape
    return Tokens(feat.reshape(b, h * w, c), mask.reshape(b, h * w),
                  pos.reshape(b, h * w, c).astype(self.dtype))

  def decode(self, tokens: Tokens, train: bool = False, run_box_head: bool = True,
             run_score_head: bool | None = None) -> dict[str, jnp.ndarray]:
    """Transformer over ``tokens`` (templates first, search last) and the heads."""
    hs, memory = self.transformer(tokens.feat, tokens.mask, tokens.pos, self.query_embed,
                                  deterministic=not train)
    outputs = {}
    if run_box_head:
      side = self.search_size // self.feature_stride
      enc = memory[:, -side * side:]  # (B, HW, C) search tokens
      att = jnp.einsum("blc,bqc->blq", enc, hs)  # raw dot product, no softmax or scaling
      feat = enc[:, :, None, :] * att[..., None]  # (B, HW, Nq, C)
      b, _, nq, c = feat.shape
      feat = jnp.moveaxis(feat, 2, 1).reshape(b * nq, side, side, c)
      corners = self.box_head(feat, train)
      outputs["pred_boxes"] = xyxy_to_cxcywh(corners).reshape(b, nq, 4).astype(jnp.float32)
    if run_score_head is None:
      run_score_head = self.score_head
    if run_score_head:
      outputs["pred_logits"] = self.cls_head(hs).astype(jnp.float32)
    return outputs

  def track_step(self, template_tokens: Tokens, search_images, search_masks):
    """One tracking step: cached template tokens + a search crop -> outputs."""
    search = self.encode(search_images, search_masks)
    return self.decode(Tokens.concatenate([template_tokens, search]))

  def __call__(self, template_images, template_masks, search_images, search_masks,
               train: bool = False, run_box_head: bool = True,
               run_score_head: bool | None = None):
    """Training/evaluation forward on (B, T, H, W, 3) templates and a (B, H, W, 3) search crop."""
    b, t = template_images.shape[:2]
    templates = self.encode(template_images.reshape(b * t, *template_images.shape[2:]),
                            template_masks.reshape(b * t, *template_masks.shape[2:]))
    # (B*T, L, C) -> (B, T*L, C): template 0 tokens, then template 1 tokens, ...
    templates = Tokens(*(x.reshape(b, t * x.shape[1], *x.shape[2:])
                         for x in (templates.feat, templates.mask, templates.pos)))
    search = self.encode(search_images, search_masks)
    return self.decode(Tokens.concatenate([templates, search]), train=train,
                       run_box_head=run_box_head, run_score_head=run_score_head)


# Kernels of the single-query products (decoder, score head): left float32 by
# ``round_matmul_kernels`` (matrix-vector products are faster on float32 weights).
MATVEC_KERNELS = r"^(transformer/decoder_layers_\d+|cls_head)/"


def inference_variables(variables, matmul_dtype: str | None):
  """``variables`` as the jitted tracking functions should take them for ``matmul_dtype``.

  A new tree, computed once per variables object (the tracker caches it) by one jitted program; the
  stored parameters are untouched and ``Stark`` reads either form, which gives the same function
  of the inputs up to float32 rounding (the parity tests hold for both). Batch norms are folded
  into the convolutions before them (``convolution.fold_norms``) and attention in-projections split
  into three kernels (``transformer.split_in_projections``). float32: 3x3 stride-1 convolutions
  from 128 input channels get Winograd kernels (``convolution.winograd_kernels``). bfloat16:
  product kernels are rounded to bf16 once (``round_matmul_kernels``) instead of on every frame.
  """
  return _inference_form(variables, check_matmul_dtype(matmul_dtype))


@functools.partial(jax.jit, static_argnums=1)
def _inference_form(variables, matmul_dtype: str | None):
  variables = fold_norms(variables, resnet.CONV_NORM_PAIRS + heads.CONV_NORM_PAIRS)
  variables = split_in_projections(variables)
  if matmul_dtype is None:
    return winograd_kernels(variables, skip=strided_or_dilated_3x3())
  return round_matmul_kernels(variables, keep_float32=MATVEC_KERNELS)


def build_stark(model_config, dtype: Any = jnp.float32) -> Stark:
  """The ``Stark`` module described by ``config.model`` (``matmul_dtype`` defaults to float32)."""
  blocks = model_config.get("backbone_blocks")
  matmul_dtype = check_matmul_dtype(model_config.get("matmul_dtype", "float32"),
                                    "config.model.matmul_dtype")
  return Stark(
      backbone_depth=model_config.backbone_depth,
      backbone_blocks=tuple(blocks) if blocks else None,
      backbone_width=model_config.backbone_width,
      backbone_norm=model_config.get("backbone_norm", "frozen_bn"),
      hidden_dim=model_config.hidden_dim,
      num_heads=model_config.num_heads,
      num_encoder_layers=model_config.num_encoder_layers,
      num_decoder_layers=model_config.num_decoder_layers,
      dim_feedforward=model_config.dim_feedforward,
      dropout=model_config.dropout,
      num_queries=model_config.num_queries,
      head_channels=tuple(model_config.head_channels),
      feature_stride=model_config.feature_stride,
      search_size=model_config.search_size,
      score_head=model_config.score_head,
      dtype=dtype,
      matmul_dtype=matmul_dtype,
  )


def dummy_inputs(model_config, batch_size: int = 1):
  """Zero inputs with the shapes ``Stark.__call__`` expects (for ``init`` and ``eval_shape``)."""
  t, ts, ss = model_config.num_templates, model_config.template_size, model_config.search_size
  return (jnp.zeros((batch_size, t, ts, ts, 3), jnp.float32),
          jnp.zeros((batch_size, t, ts, ts), bool),
          jnp.zeros((batch_size, ss, ss, 3), jnp.float32),
          jnp.zeros((batch_size, ss, ss), bool))


def init_variables(model_config, rng, dtype: Any = jnp.float32) -> dict[str, Any]:
  """Fresh variables of the ``Stark`` module ``config.model`` describes (training's start)."""
  model = build_stark(model_config, dtype=dtype)
  return model.init({"params": rng, "dropout": rng}, *dummy_inputs(model_config), train=False)
