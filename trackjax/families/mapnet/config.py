"""MAPNet-R's defaults: the model, the losses and the tracker's post-processing as ConfigDicts.

Every reconstructed choice is a field, named for what it does; the values are TransT's
(chenxin-dlut/TransT, the closest public codebase) where MAPNet's paper gives none
(docs/mapnet.md has the table: what the paper says, what was chosen, why).

* ``model_config(variant)``: ``config.model`` (``''`` the full ResNet-50 model, ``'tiny'`` a
  network of a few thousand parameters per block for unit tests).
* ``loss_config(plain_transt=False)``: the loss fields of a training stage (merged into
  ``config.train.<stage>``); ``plain_transt=True`` is TransT's losses, for ablation.
* ``tracker_config()``: ``config.tracker``, TransT's inference defaults.

Config files are loaded by path, so they import this module instead of each other.
"""

from __future__ import annotations

import ml_collections

MODEL_VARIANTS = ("", "tiny")


def model_config(variant: str = "") -> ml_collections.ConfigDict:
  """``config.model`` of MAPNet-R (``variant='tiny'``: the unit-test size)."""
  if variant not in MODEL_VARIANTS:
    raise ValueError(f"unknown MAPNet model variant {variant!r}: use one of {MODEL_VARIANTS}")
  config = ml_collections.ConfigDict(dict(
      name="mapnet_r50",
      # Backbone: ResNet-50 cut after layer3, layer3 dilated (stride 8), 1024 channels; shared by
      # template and search, and by both branches.
      backbone_depth=50,
      backbone_blocks=ml_collections.FieldReference(None, field_type=tuple),  # override depth
      backbone_width=64,
      backbone_norm="frozen_bn",  # TransT; 'group_norm' for a backbone trained from scratch
      backbone_dilate=(False, True, False),  # layer2, layer3, layer4: torchvision dilation
      feature_stride=8,
      template_size=128,  # 16 x 16 tokens
      template_factor=2.0,
      search_size=256,  # 32 x 32 tokens
      search_factor=4.0,
      # Matchers: TransT's feature-fusion layers, one stack per branch.
      hidden_dim=256,
      num_heads=8,
      dim_feedforward=2048,
      dropout=0.1,  # also on attention weights
      num_matcher_layers=4,  # self + cross (+ gate) layers before the final cross layer
      matcher_final_layer=True,  # TransT's last CFA: search attends to template, then LayerNorm
      # 'attention': sine encodings added to queries and keys of every attention (TransT);
      # 'input': added once to the projected features.
      position_encoding_at="attention",
      cls_gate="channel",  # category-aware matcher: SE gate over channels ('spatial', 'none')
      reg_gate="spatial",  # spatial-aware matcher: per-position gate ('channel', 'none')
      # Which output the gate rescales: 'cross' (the cross-attention output, before its residual
      # add), 'self' (the self-attention output) or 'layer' (the layer's output).
      gate_position="cross",
      gate_reduction=16,  # hidden width of a gate's MLP = hidden_dim // gate_reduction
      # Dual alignment: 'cls_first' (classification attends to regression, then regression to the
      # aligned classification), 'reg_first' (the reverse) or 'none' (ablation: no alignment).
      alignment_order="cls_first",
      alignment_ffn=True,  # each alignment cross-attention followed by an FFN (as TransT's CFA)
      head_layers=3,  # MLPs of hidden_dim: 2 foreground/background logits and 4 box numbers
      # 'bfloat16': inference speed option (bf16 products, float32 accumulation). Same parameters.
      matmul_dtype="float32",
  ))
  if variant == "tiny":
    make_tiny_model(config)
  return config


def make_tiny_model(model: ml_collections.ConfigDict) -> None:
  """Shrinks ``model`` in place for unit tests: crops 64/128 (8x8 and 16x16 tokens), width 32."""
  model.name = "mapnet_tiny"
  model.backbone_blocks = (1, 1, 1)
  model.backbone_width = 8
  model.template_size = 64
  model.search_size = 128
  model.hidden_dim = 32
  model.num_heads = 2
  model.dim_feedforward = 64
  model.num_matcher_layers = 1
  model.gate_reduction = 4


def loss_config(plain_transt: bool = False) -> ml_collections.ConfigDict:
  """The loss fields of a stage (``losses.mapnet_losses``); TransT's plain losses when asked."""
  return ml_collections.ConfigDict(dict(
      # Precision-guided classification: a positive token's foreground target is the IoU of its
      # own regressed box with the ground truth (stop-gradient); False = TransT's hard label 1.
      precision_guided_cls=not plain_transt,
      # Confidence-guided regression: each positive token's L1 + GIoU weighted by its
      # stop-gradient foreground probability; False = TransT's plain mean over positives.
      confidence_guided_reg=not plain_transt,
      # Normaliser of the confidence-weighted sum: 'weights' (sum of the weights: a weighted
      # mean) or 'positives' (number of positives, as TransT).
      confidence_normaliser="weights",
      cls_weight=8.334,  # TransT's weight_dict
      l1_weight=5.0,
      giou_weight=2.0,
      background_weight=0.0625,  # TransT's eos_coef: CE weight of background tokens
      # 'transt': TransT's TrackingMatcher (token (i, j) is positive when its top-left corner
      # (j/L, i/L) lies in [x1, x2) x [y1, y2), at least one row/column); 'centre': its centre
      # ((j + .5)/L, (i + .5)/L) lies in the box, at least the token holding the box centre.
      positive_rule="transt",
      ignore_padded_tokens=False,  # TransT trains padded search tokens as background
  ))


def tracker_config() -> ml_collections.ConfigDict:
  """``config.tracker``: TransT's inference (``pytracking/tracker/transt``) defaults."""
  return ml_collections.ConfigDict(dict(
      window_influence=0.49,  # score * (1 - w) + hanning * w
      penalty_k=0.0,  # SiamRPN scale/ratio penalty exp(-(r * s - 1) * k); 0 = none (TransT)
      size_lr=1.0,  # new size = old * (1 - lr) + predicted * lr; TransT takes the prediction
      min_box_size=10.0,  # pixels
      # 'centre': TransT's _bbox_clip (centre into the frame, sizes in [min_box_size, frame]);
      # 'corners': trackjax.geometry.boxes.clip_box (corners into the frame, margin min_box_size).
      clip="centre",
  ))
