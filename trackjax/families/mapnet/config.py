"""MAPNet-R's defaults: the model, the losses and the tracker's post-processing as ConfigDicts.

Every reconstructed choice is a field, named for what it does; the values are TransT's
(chenxin-dlut/TransT, the closest public codebase) where MAPNet's paper gives none
(docs/mapnet.md has the table: what the paper says, what was chosen, why).

* ``model_config(variant)``: ``config.model`` (``''`` the full ResNet-50 model, ``'tiny'`` a
  network of a few thousand parameters per block for unit tests).
* ``loss_config(plain_transt=False)``: the loss fields of a training stage (merged into
  ``config.train.<stage>``); ``plain_transt=True`` is TransT's losses, for ablation.
* ``tracker_config()``: ``config.tracker``, TransT's inference defaults.
* ``get_mapnet_config(arg)``: the full recipe for ``configs/mapnet_r50.py``, variants ``''``
  (TransT's training recipe, ``ltr/train_settings/transt/transt.py``, on the reference datasets:
  LaSOT, GOT-10k vottrain, COCO 2017, TrackingNet TRAIN_0-3; one stage), ``'tiny'`` (unit tests,
  seconds) and ``'quickstart'`` (a reduced network trained on the embedded synthetic dataset on a
  2-core CPU).

Config files are loaded by path, so they import this module instead of each other.
"""

from __future__ import annotations

import ml_collections

from trackjax import config_defaults

MODEL_VARIANTS = ("", "tiny")
VARIANTS = ("", "tiny", "quickstart")
# TransT's training data (transt.py: Lasot train, Got10k vottrain, MSCOCOSeq, TrackingNet
# set_ids=range(4), ratios [1, 1, 1, 1]); it trains without validation.
REFERENCE_MIX = "lasot:1,got10k_vottrain:1,coco:1,trackingnet:1"
REFERENCE_TRACKINGNET_CHUNKS = "0-3"


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


def stage_config() -> ml_collections.ConfigDict:
  """TransT's single stage (transt.py) plus MAPNet's loss fields (``loss_config``)."""
  stage = config_defaults.stage_defaults(
      1000, 500,  # trainer.train(1000, ...), StepLR(optimizer, 500)
      # TransT's backbone (DETR's): only layer2 and layer3 train; conv1 and layer1 frozen.
      trainable=r".*", frozen=r"^backbone/(conv1|layer1_\d+)/")
  stage.learning_rate = 1e-4  # AdamW lr=1e-4
  stage.backbone_lr_scale = 0.1  # backbone param group lr 1e-5
  stage.weight_decay = 1e-4  # AdamW weight_decay=1e-4
  stage.grad_clip_norm = 0.1  # TransT's trainer: clip_grad_norm_(..., 0.1)
  stage.update(loss_config())
  return stage


def get_mapnet_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """The full MAPNet-R recipe (module docstring); ``arg`` is the variant."""
  config = config_defaults.base_config("mapnet", arg, VARIANTS)
  variant = config.variant
  config.model = model_config()
  # Crop sizes and factors come from config.model (training.mapnet_data_config); one template
  # and one search frame per sample (TransTSampler), i.e. the sampler's 'causal' mode.
  config.data.mix = REFERENCE_MIX
  config.data.val_mix = ""
  config.data.trackingnet_chunks = REFERENCE_TRACKINGNET_CHUNKS
  config.data.sampler.max_gap = 100  # TransTSampler(max_gap=100)
  p = config.data.processing
  p.search_center_jitter = 3.0  # center_jitter_factor {'search': 3, 'template': 0}
  p.search_scale_jitter = 0.25  # scale_jitter_factor {'search': 0.25, 'template': 0}
  p.template_center_jitter = 0.0
  p.template_scale_jitter = 0.0
  p.grayscale_prob = 0.05  # transform_joint: ToGrayscale(probability=0.05)
  p.brightness_jitter = 0.2  # ToTensorAndJitter(0.2)
  p.joint_flip_prob = 0.0  # TransT has no flips
  p.crop_flip_prob = 0.0
  config.train.global_batch_size = 38  # settings.batch_size = 38
  config.train.samples_per_epoch = 1000 * 38  # samples_per_epoch=1000*settings.batch_size
  config.train.val_every_epochs = 0  # TransT validates nothing
  config.train.stages = ("stage1",)
  config.train.stage1 = stage_config()
  config.tracker = tracker_config()

  if variant == "tiny":
    make_tiny_model(config.model)
    config_defaults.make_tiny(config)
    config.train.val_every_epochs = 20
  elif variant == "quickstart":
    _make_quickstart(config)
  return config


def _make_quickstart(config: ml_collections.ConfigDict) -> None:
  """A reduced MAPNet-R trained from scratch on the embedded synthetic dataset (2-core CPU).

  ResNet blocks (1, 2, 2) of width 16 with group norm (a from-scratch backbone has no statistics
  to freeze), hidden width 64, one matcher layer, no dropout, sine encodings added once to the
  features (not to every attention's queries and keys), crops 64/128 (8x8 and 16x16 tokens),
  batch 16, 12 epochs of 1600 pairs (1200 steps; lr drop after epoch 10), nothing frozen,
  backbone at the full learning rate 5e-4, GIoU weight 0.5; 640x480 synthetic frames.

    python -m trackjax.main --config configs/mapnet_r50.py:quickstart --workdir runs/quick_mapnet
  """
  m = config.model
  m.name = "mapnet_quickstart"
  # Two blocks in layer2 and layer3 (STARK-ST's quickstart trunk) and the position encodings in
  # the features themselves: with (1, 1, 1) and TransT's encodings on queries and keys only, the
  # regression branch predicted a box proportional to the crop whatever the target's size, and
  # the tracker drifted (held-out AUC 13.8 against 38.2 now; docs/mapnet.md).
  m.backbone_blocks = (1, 2, 2)
  m.backbone_width = 16
  m.backbone_norm = "group_norm"
  m.position_encoding_at = "input"
  m.hidden_dim = 64
  m.num_heads = 4
  m.dim_feedforward = 256
  m.dropout = 0.0
  m.num_matcher_layers = 1
  m.gate_reduction = 4
  m.template_size = 64
  m.search_size = 128
  # 640x480 frames, as STARK-ST's quickstart: at 320x240 the targets are 5-20 pixels, under
  # TransT's 10-pixel minimum box, and their crops are mostly upsampled blur.
  config_defaults.make_synthetic_quickstart(config, image_size=(480, 640))
  config.data.trackingnet_chunks = ""
  config.train.checkpoint_every_steps = 100
  config.train.val_every_epochs = 0
  stage = config.train.stage1
  stage.epochs = 12
  stage.lr_drop_epoch = 10
  stage.learning_rate = 5e-4
  stage.backbone_lr_scale = 1.0
  stage.frozen = ""
  # GIoU at 0.5 instead of TransT's 2 (L1 stays 5): on the earlier (1, 1, 1) trunk, one run
  # each, held-out AUC 13.8 against 8.7 (docs/mapnet.md).
  stage.giou_weight = 0.5
