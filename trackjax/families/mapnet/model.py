"""MAPNet-R (multi-attention associate prediction network, arXiv 2403.16395) as one Flax module.

The paper's method section is not available: its abstract gives the composition (a category-aware
matcher for classification, a spatial-aware matcher for regression, a dual alignment module of two
cascaded cross-attentions, and two guided losses); the rest is taken from TransT
(chenxin-dlut/TransT), the closest public codebase. Every reconstructed choice is a field of
``config.model`` (``config.model_config``); docs/mapnet.md has the full table.

Data flow, per pair (template crop 128 px, search crop 256 px, NHWC, ImageNet-normalised, bool
padding masks with True on padded pixels):

1. ``encode``: shared ResNet-50 up to a dilated layer3 (stride 8, ``backbone_dilate``), a 1x1
   convolution to ``hidden_dim`` (shared by both branches, as TransT's ``input_proj``), the padding
   mask sampled at stride 8 and DETR's sine encoding of it. Tokens are row-major: 16x16 template,
   32x32 search.
2. Two matcher stacks, one per branch, each ``num_matcher_layers`` TransT fusion layers (self-
   attention in each stream, cross-attention both ways, FFN) and TransT's final cross layer (search
   attends to template, FFN, LayerNorm). Chosen: the category-aware stack gates with an SE channel
   attention (``cls_gate='channel'``: ``x * sigmoid(MLP(masked mean of x))`` per channel, as
   SiamAttn/SENet), the spatial-aware stack with a per-position gate (``reg_gate='spatial'``:
   ``x * sigmoid(MLP(x_i))`` per token). The gate rescales the cross-attention output before its
   residual add (``gate_position='cross'``: it selects what the matching brings in), in both
   streams and in the final cross layer. Position encodings are added to queries and keys of every
   attention (``position_encoding_at='attention'``, TransT), never to values.
3. Dual alignment: classification search features attend to the regression ones (queries and keys
   with the search encoding, padded search keys masked), then the regression features attend to
   the aligned classification ones (``alignment_order='cls_first'``); each cross-attention is a
   TransT cross layer with its FFN (``alignment_ffn``).
4. Heads (TransT's MLPs, ``head_layers=3`` of ``hidden_dim``): per search token, 2 logits
   (foreground first, background second: TransT's softmax) from the aligned classification
   features and a sigmoid-normalised (cx, cy, w, h) box from the aligned regression features.

Outputs: ``pred_logits`` (B, L, 2) and ``pred_boxes`` (B, L, 4), L = 32 * 32 search tokens.

Trackers may run the network on ``inference_variables(variables, model_config)``: the same function
in fewer operations (frozen batch norms folded into the kernels, split attention in-projections,
Winograd kernels for the undilated stride-1 3x3 convolutions, or bf16-rounded kernels with
``matmul_dtype='bfloat16'``), as STARK's tracker does; ``MapNet`` reads either form.

Entry points: ``encode_template(images, masks)`` once per sequence; ``track_step(template_tokens,
search_images, search_masks)`` per frame; ``__call__`` for training on a (template, search) pair.
Masked keys get a ``finfo.min`` bias in every attention and the channel gate averages valid tokens
only, so the features of padded tokens never reach a valid token after the backbone.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp

from trackjax.models import resnet
from trackjax.models.convolution import Conv, fold_norms, winograd_kernels
from trackjax.models.heads import MLP, torch_default_init
from trackjax.models.matmul_precision import check_matmul_dtype, round_matmul_kernels
from trackjax.models.position_encoding import downsample_mask, sine_position_encoding
from trackjax.models.resnet import ResNet, strided_or_dilated_3x3
from trackjax.models.transformer import (FeedForward, MultiheadAttention, dense,
                                         split_in_projections)

GATES = ("channel", "spatial", "none")
GATE_POSITIONS = ("cross", "self", "layer")
ALIGNMENT_ORDERS = ("cls_first", "reg_first", "none")
POSITION_ENCODING_AT = ("attention", "input")


@flax.struct.dataclass
class Tokens:
  """Flattened (row-major) feature tokens of a crop."""

  feat: jnp.ndarray  # (B, L, C)
  mask: jnp.ndarray  # (B, L) bool, True = padded
  pos: jnp.ndarray  # (B, L, C)


def _layer_norm(name, dtype):
  return nn.LayerNorm(epsilon=1e-5, name=name, dtype=dtype)


def masked_mean(x, mask):
  """Mean over tokens of (B, L, C) ``x`` whose (B, L) ``mask`` is False; zeros if none is."""
  if mask is None:
    return jnp.mean(x, axis=1)
  valid = jnp.logical_not(mask)[..., None].astype(x.dtype)
  return jnp.sum(x * valid, axis=1) / jnp.maximum(jnp.sum(valid, axis=1), 1.0)


class ChannelGate(nn.Module):
  """SE channel attention on tokens: ``x * sigmoid(W2 relu(W1 mean(x)))``, one gate per channel.

  The mean runs over valid (unpadded) tokens; the (B, 1, C) gate rescales channels only.
  """

  reduction: int = 16
  dtype: Any = jnp.float32
  matmul_dtype: str | None = None

  @nn.compact
  def __call__(self, x, mask=None):
    c = x.shape[-1]
    hidden = max(c // self.reduction, 1)
    squeezed = masked_mean(x, mask)
    h = nn.relu(dense(hidden, c, "fc1", self.dtype, self.matmul_dtype)(squeezed))
    gate = jax.nn.sigmoid(dense(c, hidden, "fc2", self.dtype, self.matmul_dtype)(h))
    return x * gate[:, None, :]


class SpatialGate(nn.Module):
  """Per-position attention on tokens: ``x * sigmoid(w2 relu(W1 x_i))``, one gate per token.

  The (B, L, 1) gate rescales positions only; each token's gate depends on that token alone.
  """

  reduction: int = 16
  dtype: Any = jnp.float32
  matmul_dtype: str | None = None

  @nn.compact
  def __call__(self, x, mask=None):
    del mask  # per token: padded tokens cannot reach valid ones
    c = x.shape[-1]
    hidden = max(c // self.reduction, 1)
    h = nn.relu(dense(hidden, c, "fc1", self.dtype, self.matmul_dtype)(x))
    gate = jax.nn.sigmoid(dense(1, hidden, "fc2", self.dtype, self.matmul_dtype)(h))
    return x * gate


def make_gate(kind: str, reduction: int, name: str, dtype, matmul_dtype):
  """The gate module of ``kind`` ('channel', 'spatial'), or None for 'none'."""
  if kind not in GATES:
    raise ValueError(f"unknown gate {kind!r}: use one of {GATES}")
  if kind == "none":
    return None
  cls = ChannelGate if kind == "channel" else SpatialGate
  return cls(reduction, name=name, dtype=dtype, matmul_dtype=matmul_dtype)


def _with_pos(x, pos):
  return x if pos is None else x + pos


class MatcherLayer(nn.Module):
  """TransT's feature-fusion layer (ECA + CFA) with a gate in each stream.

  Both streams first attend to themselves; then each attends to the other's self-attended
  features (both cross-attentions read the same inputs), then an FFN. Post-norm, as TransT.
  Sub-module names follow TransT's (``self_attn1``/``2``, ``multihead_attn1``/``2``, ``norm11``..
  ``norm23``; stream 1 = template, 2 = search).
  """

  num_heads: int
  dim_feedforward: int
  dropout: float
  gate: str = "none"
  gate_position: str = "cross"
  gate_reduction: int = 16
  dtype: Any = jnp.float32
  matmul_dtype: str | None = None

  @nn.compact
  def __call__(self, template: Tokens, search: Tokens, deterministic: bool = True):
    if self.gate_position not in GATE_POSITIONS:
      raise ValueError(f"unknown gate_position {self.gate_position!r}: use one of {GATE_POSITIONS}")
    drop = lambda t: nn.Dropout(self.dropout)(t, deterministic=deterministic)
    mha = lambda name: MultiheadAttention(self.num_heads, self.dropout, name=name,
                                          dtype=self.dtype, matmul_dtype=self.matmul_dtype)
    gates = {s: make_gate(self.gate, self.gate_reduction, f"gate{s}", self.dtype,
                          self.matmul_dtype) for s in (1, 2)}

    def gated(stream, where, y, mask):
      gate = gates[stream]
      return y if gate is None or self.gate_position != where else gate(y, mask)

    streams = {1: template, 2: search}
    feats = {}
    for s, tok in streams.items():
      qk = _with_pos(tok.feat, tok.pos)
      y = mha(f"self_attn{s}")(qk, qk, tok.feat, tok.mask, deterministic)
      y = gated(s, "self", y, tok.mask)
      feats[s] = _layer_norm(f"norm{s}1", self.dtype)(tok.feat + drop(y))
    crossed = {}
    for s, other in ((1, 2), (2, 1)):
      crossed[s] = mha(f"multihead_attn{s}")(
          _with_pos(feats[s], streams[s].pos), _with_pos(feats[other], streams[other].pos),
          feats[other], streams[other].mask, deterministic)
    out = {}
    for s, tok in streams.items():
      y = gated(s, "cross", crossed[s], tok.mask)
      x = _layer_norm(f"norm{s}2", self.dtype)(feats[s] + drop(y))
      ff = FeedForward(self.dim_feedforward, self.dropout, name=f"ffn{s}", dtype=self.dtype,
                       matmul_dtype=self.matmul_dtype)(x, deterministic)
      x = _layer_norm(f"norm{s}3", self.dtype)(x + drop(ff))
      out[s] = tok.replace(feat=gated(s, "layer", x, tok.mask))
    return out[1], out[2]


class CrossLayer(nn.Module):
  """TransT's CFA layer: queries attend to a memory, add & norm, FFN, add & norm.

  ``gate`` rescales the cross-attention output (``gate_position='cross'``) or the layer's output
  (``'layer'``); ``'self'`` has no self-attention here, so it leaves this layer ungated.
  """

  num_heads: int
  dim_feedforward: int
  dropout: float
  ffn: bool = True
  gate: str = "none"
  gate_position: str = "cross"
  gate_reduction: int = 16
  dtype: Any = jnp.float32
  matmul_dtype: str | None = None

  @nn.compact
  def __call__(self, query: Tokens, memory: Tokens, deterministic: bool = True):
    drop = lambda t: nn.Dropout(self.dropout)(t, deterministic=deterministic)
    gate = make_gate(self.gate, self.gate_reduction, "gate", self.dtype, self.matmul_dtype)
    y = MultiheadAttention(self.num_heads, self.dropout, name="multihead_attn", dtype=self.dtype,
                           matmul_dtype=self.matmul_dtype)(
        _with_pos(query.feat, query.pos), _with_pos(memory.feat, memory.pos), memory.feat,
        memory.mask, deterministic)
    if gate is not None and self.gate_position == "cross":
      y = gate(y, query.mask)
    x = _layer_norm("norm1", self.dtype)(query.feat + drop(y))
    if self.ffn:
      ff = FeedForward(self.dim_feedforward, self.dropout, name="ffn", dtype=self.dtype,
                       matmul_dtype=self.matmul_dtype)(x, deterministic)
      x = _layer_norm("norm2", self.dtype)(x + drop(ff))
    if gate is not None and self.gate_position == "layer":
      x = gate(x, query.mask)
    return query.replace(feat=x)


class Matcher(nn.Module):
  """One branch's matcher: ``num_layers`` ``MatcherLayer`` then TransT's final cross layer.

  Returns the search tokens (B, Ls, C): after the final layer and its LayerNorm when
  ``final_layer``, else the search stream of the last fusion layer.
  """

  num_layers: int
  num_heads: int
  dim_feedforward: int
  dropout: float
  gate: str = "none"
  gate_position: str = "cross"
  gate_reduction: int = 16
  final_layer: bool = True
  dtype: Any = jnp.float32
  matmul_dtype: str | None = None

  @nn.compact
  def __call__(self, template: Tokens, search: Tokens, deterministic: bool = True) -> Tokens:
    options = dict(gate=self.gate, gate_position=self.gate_position,
                   gate_reduction=self.gate_reduction, dtype=self.dtype,
                   matmul_dtype=self.matmul_dtype)
    for i in range(self.num_layers):
      template, search = MatcherLayer(self.num_heads, self.dim_feedforward, self.dropout,
                                      name=f"layers_{i}", **options)(template, search,
                                                                     deterministic)
    if not self.final_layer:
      return search
    search = CrossLayer(self.num_heads, self.dim_feedforward, self.dropout, name="decoder",
                        **options)(search, template, deterministic)
    return search.replace(feat=_layer_norm("decoder_norm", self.dtype)(search.feat))


class DualAlignment(nn.Module):
  """Two cascaded cross-attentions between the branches' search features.

  ``'cls_first'``: ``cls' = Cross(cls <- reg)``, then ``reg' = Cross(reg <- cls')``;
  ``'reg_first'``: ``reg' = Cross(reg <- cls)``, then ``cls' = Cross(cls <- reg')``;
  ``'none'``: both unchanged. Returns ``(cls', reg')``.
  """

  num_heads: int
  dim_feedforward: int
  dropout: float
  order: str = "cls_first"
  ffn: bool = True
  dtype: Any = jnp.float32
  matmul_dtype: str | None = None

  @nn.compact
  def __call__(self, cls: Tokens, reg: Tokens, deterministic: bool = True):
    if self.order not in ALIGNMENT_ORDERS:
      raise ValueError(f"unknown alignment_order {self.order!r}: use one of {ALIGNMENT_ORDERS}")
    if self.order == "none":
      return cls, reg
    layer = lambda name: CrossLayer(self.num_heads, self.dim_feedforward, self.dropout,
                                    ffn=self.ffn, name=name, dtype=self.dtype,
                                    matmul_dtype=self.matmul_dtype)
    if self.order == "cls_first":
      cls = layer("cls_from_reg")(cls, reg, deterministic)
      reg = layer("reg_from_cls")(reg, cls, deterministic)
    else:
      reg = layer("reg_from_cls")(reg, cls, deterministic)
      cls = layer("cls_from_reg")(cls, reg, deterministic)
    return cls, reg


class MapNet(nn.Module):
  """MAPNet-R network (module docstring). Fields mirror ``config.model``."""

  backbone_depth: int = 50
  backbone_blocks: Sequence[int] | None = None
  backbone_width: int = 64
  backbone_norm: str = "frozen_bn"
  backbone_dilate: Sequence[bool] = (False, True, False)
  feature_stride: int = 8
  hidden_dim: int = 256
  num_heads: int = 8
  dim_feedforward: int = 2048
  dropout: float = 0.1
  num_matcher_layers: int = 4
  matcher_final_layer: bool = True
  position_encoding_at: str = "attention"
  cls_gate: str = "channel"
  reg_gate: str = "spatial"
  gate_position: str = "cross"
  gate_reduction: int = 16
  alignment_order: str = "cls_first"
  alignment_ffn: bool = True
  head_layers: int = 3
  dtype: Any = jnp.float32
  matmul_dtype: str | None = None

  def setup(self):
    if self.position_encoding_at not in POSITION_ENCODING_AT:
      raise ValueError(f"unknown position_encoding_at {self.position_encoding_at!r}: use one of "
                       f"{POSITION_ENCODING_AT}")
    matmul_dtype = check_matmul_dtype(self.matmul_dtype)
    self.backbone = ResNet(depth=self.backbone_depth, blocks=self.backbone_blocks,
                           width=self.backbone_width, dilate=tuple(self.backbone_dilate),
                           outputs=("layer3",), norm=self.backbone_norm, dtype=self.dtype,
                           matmul_dtype=matmul_dtype)
    in_channels = self.backbone_width * 16
    self.input_proj = Conv(
        self.hidden_dim, (1, 1),
        kernel_init=nn.initializers.variance_scaling(1 / 3, "fan_in", "uniform"),
        bias_init=torch_default_init(in_channels), dtype=self.dtype, matmul_dtype=matmul_dtype)
    matcher = lambda gate: Matcher(
        self.num_matcher_layers, self.num_heads, self.dim_feedforward, self.dropout, gate=gate,
        gate_position=self.gate_position, gate_reduction=self.gate_reduction,
        final_layer=self.matcher_final_layer, dtype=self.dtype, matmul_dtype=matmul_dtype)
    self.cls_matcher = matcher(self.cls_gate)
    self.reg_matcher = matcher(self.reg_gate)
    self.alignment = DualAlignment(self.num_heads, self.dim_feedforward, self.dropout,
                                   order=self.alignment_order, ffn=self.alignment_ffn,
                                   dtype=self.dtype, matmul_dtype=matmul_dtype)
    self.class_embed = MLP(self.hidden_dim, 2, self.head_layers, dtype=self.dtype,
                           matmul_dtype=matmul_dtype)
    self.bbox_embed = MLP(self.hidden_dim, 4, self.head_layers, dtype=self.dtype,
                          matmul_dtype=matmul_dtype)

  def encode(self, images, masks) -> Tokens:
    """Crops (B, H, W, 3) and padding masks (B, H, W) -> stride-8 tokens (B, H*W/64, C)."""
    feat = self.input_proj(self.backbone(images)["layer3"])
    mask = downsample_mask(masks, self.feature_stride)
    pos = sine_position_encoding(mask, num_pos_feats=self.hidden_dim // 2)
    b, h, w, c = feat.shape
    return Tokens(feat.reshape(b, h * w, c), mask.reshape(b, h * w),
                  pos.reshape(b, h * w, c).astype(self.dtype))

  def encode_template(self, images, masks) -> Tokens:
    """Template tokens, computed once per sequence and passed to ``track_step``."""
    return self.encode(images, masks)

  def match(self, template: Tokens, search: Tokens, train: bool = False) -> dict[str, jnp.ndarray]:
    """Matchers, dual alignment and heads on encoded tokens."""
    deterministic = not train
    if self.position_encoding_at == "input":  # once, on the features; none in the attentions
      template = Tokens(template.feat + template.pos, template.mask, None)
      search = Tokens(search.feat + search.pos, search.mask, None)
    cls = self.cls_matcher(template, search, deterministic)
    reg = self.reg_matcher(template, search, deterministic)
    cls, reg = self.alignment(cls, reg, deterministic)
    return {
        "pred_logits": self.class_embed(cls.feat).astype(jnp.float32),
        "pred_boxes": jax.nn.sigmoid(self.bbox_embed(reg.feat).astype(jnp.float32)),
    }

  def track_step(self, template_tokens: Tokens, search_images, search_masks):
    """One tracking step: cached template tokens + a search crop -> outputs."""
    return self.match(template_tokens, self.encode(search_images, search_masks))

  def __call__(self, template_images, template_masks, search_images, search_masks,
               train: bool = False):
    """Training/evaluation forward on (B, H, W, 3) template and search crops."""
    return self.match(self.encode(template_images, template_masks),
                      self.encode(search_images, search_masks), train=train)


def build_mapnet(model_config, dtype: Any = jnp.float32) -> MapNet:
  """The ``MapNet`` module ``config.model`` describes (``matmul_dtype`` defaults to float32)."""
  blocks = model_config.get("backbone_blocks")
  return MapNet(
      backbone_depth=model_config.backbone_depth,
      backbone_blocks=tuple(blocks) if blocks else None,
      backbone_width=model_config.backbone_width,
      backbone_norm=model_config.backbone_norm,
      backbone_dilate=tuple(model_config.backbone_dilate),
      feature_stride=model_config.feature_stride,
      hidden_dim=model_config.hidden_dim,
      num_heads=model_config.num_heads,
      dim_feedforward=model_config.dim_feedforward,
      dropout=model_config.dropout,
      num_matcher_layers=model_config.num_matcher_layers,
      matcher_final_layer=model_config.matcher_final_layer,
      position_encoding_at=model_config.position_encoding_at,
      cls_gate=model_config.cls_gate,
      reg_gate=model_config.reg_gate,
      gate_position=model_config.gate_position,
      gate_reduction=model_config.gate_reduction,
      alignment_order=model_config.alignment_order,
      alignment_ffn=model_config.alignment_ffn,
      head_layers=model_config.head_layers,
      dtype=dtype,
      matmul_dtype=check_matmul_dtype(model_config.get("matmul_dtype", "float32"),
                                      "config.model.matmul_dtype"),
  )


def dummy_inputs(model_config, batch_size: int = 1):
  """Zero inputs with the shapes ``MapNet.__call__`` expects (for ``init`` and ``eval_shape``)."""
  ts, ss = model_config.template_size, model_config.search_size
  return (jnp.zeros((batch_size, ts, ts, 3), jnp.float32),
          jnp.zeros((batch_size, ts, ts), bool),
          jnp.zeros((batch_size, ss, ss, 3), jnp.float32),
          jnp.zeros((batch_size, ss, ss), bool))


def init_variables(model_config, rng):
  """Fresh variables (``params`` and ``constants``); traceable, for ``jax.eval_shape``."""
  return build_mapnet(model_config).init(rng, *dummy_inputs(model_config))


def inference_variables(variables, model_config):
  """``variables`` in the inference form of ``config.model`` (module docstring); a new tree."""
  matmul_dtype = check_matmul_dtype(model_config.get("matmul_dtype", "float32"),
                                    "config.model.matmul_dtype")
  return _inference_form(variables, matmul_dtype, tuple(model_config.backbone_dilate))


@functools.partial(jax.jit, static_argnums=(1, 2))
def _inference_form(variables, matmul_dtype: str | None, dilate: tuple[bool, ...]):
  variables = split_in_projections(fold_norms(variables, resnet.CONV_NORM_PAIRS))
  if matmul_dtype is None:
    return winograd_kernels(variables, skip=strided_or_dilated_3x3(dilate))
  return round_matmul_kernels(variables)
