"""ACTrack's defaults: the model, the stages, the sequence loss and the tracker as ConfigDicts.

Every reconstructed choice is a field named for what it does (docs/actrack.md has the table:
what the paper says, what was chosen, why). Where the paper gives no number the values are
OSTrack's (the frozen one-stream ViT-B/16, its crops and training recipe), ControlNet's (zero
initialised projections) and ARTrack's (coordinate tokens, 400 bins over 2 search sides, the 7
previous boxes as the condition).

* ``model_config(variant)``: ``config.model`` (``''`` ViT-B/16 at 128/256, ``'tiny'`` a network
  of a few thousand parameters per block for unit tests).
* ``stage_config(kind, ...)``: one ``config.train.<stage>``; ``kind`` is ``'additive'``
  (ACTrack: the ViT frozen, the additive net and the decoder train), ``'full'`` (the same network
  with everything trainable: the fine-tuning baseline of the saving benchmark) or ``'backbone'``
  (a plain one-stream ViT tracker without the additive net, everything of it trainable: how the
  quickstart gets a "pretrained" backbone where none can be downloaded).
* ``tracker_config()``: ``config.tracker``.
* ``get_actrack_config(arg)``: the recipe for ``configs/actrack_vitb256.py``, variants ``''``
  (one ``additive`` stage from imported MAE / OSTrack weights, ``config.init_backbone_from``),
  ``'tiny'`` (unit tests, seconds) and ``'quickstart'`` (stages ``backbone`` then ``additive``
  on the embedded synthetic data, 2-core CPU).

Config files are loaded by path, so they import this module instead of each other.
"""

from __future__ import annotations

import ml_collections

from trackjax import config_defaults

MODEL_VARIANTS = ("", "tiny")
VARIANTS = ("", "tiny", "quickstart")
STAGE_KINDS = ("additive", "full", "backbone")
# OSTrack's training data (experiments/ostrack/vitb_256_mae_ce_32x4_ep300.yaml: LASOT,
# GOT10K_vottrain, COCO17, TRACKINGNET, ratios 1 each).
REFERENCE_MIX = "lasot:1,got10k_vottrain:1,coco:1,trackingnet:1"
REFERENCE_TRACKINGNET_CHUNKS = "0-11"


def model_config(variant: str = "") -> ml_collections.ConfigDict:
  """``config.model`` of ACTrack (``variant='tiny'``: the unit-test size)."""
  if variant not in MODEL_VARIANTS:
    raise ValueError(f"unknown ACTrack model variant {variant!r}: use one of {MODEL_VARIANTS}")
  config = ml_collections.ConfigDict(dict(
      name="actrack_vitb256",
      # Frozen backbone: OSTrack's one-stream ViT-B/16 (MAE weights), template 128 at factor 2,
      # search 256 at factor 4, each crop with its own position embedding.
      vit_width=768,
      vit_depth=12,
      vit_heads=12,
      vit_mlp_dim=3072,
      patch_size=16,
      feature_stride=16,  # = patch_size (what the data pipeline's padding check samples)
      template_size=128,
      template_factor=2.0,
      search_size=256,
      search_factor=4.0,
      # Additive siamese conv net: one conv stage per entry of additive_blocks, at strides 4, 8,
      # 16, ...; stage i's output is average-pooled to the patch grid, projected to vit_width by a
      # zero-initialised linear layer and added to the tokens entering ViT block
      # additive_blocks[i] (template and search alike, same weights).
      additive_blocks=(3, 6, 9),
      additive_widths=(64, 128, 256),
      additive_convs_per_stage=2,  # a strided 3x3 conv, then (n - 1) 3x3 convs
      additive_groups=8,  # GroupNorm groups after each conv ('norm; relu')
      # Temporal sequence decoding: ARTrack's coordinate tokens (x1, y1, x2, y2) quantised into
      # num_bins bins over coordinate_range search sides centred on the crop ([-0.5, 1.5] for 2).
      num_bins=400,
      coordinate_range=2.0,
      num_previous=7,  # boxes of the previous frames, mapped into the current crop: the prompt
      decoder_width=256,
      decoder_depth=2,
      decoder_heads=8,
      decoder_mlp_dim=1024,
      # The decoder's memory: 'search' (the search tokens of the ViT's output) or 'all'
      # (template and search tokens).
      decoder_memory="search",
      # ARTrack's decoder: the cross-attention keys are the memory plus position embeddings of
      # its token grids (and a type embedding per grid with 'all'); False = the memory alone.
      decoder_memory_position=True,
      # A hidden layer (Dense of this width, GELU) on the encoder tokens before the decoder's
      # memory projection; 0 = the linear projection alone (ARTrack's). The quickstart's small
      # decoder reads the frozen ViT's tokens faster with it (docs/actrack.md).
      decoder_memory_mlp_dim=0,
      # OSTrack's corner box head on the search tokens, trained only in a 'backbone' stage (the
      # quickstart's stand-in for a released OSTrack backbone); ACTrack's tracker never runs it.
      corner_head=False,
      corner_head_channels=(64, 32, 16, 16),
  ))
  if variant == "tiny":
    make_tiny_model(config)
  return config


def make_tiny_model(model: ml_collections.ConfigDict) -> None:
  """Shrinks ``model`` in place for unit tests: crops 32/64, patch 8 (4x4 and 8x8 tokens)."""
  model.name = "actrack_tiny"
  model.vit_width = 32
  model.vit_depth = 3
  model.vit_heads = 2
  model.vit_mlp_dim = 64
  model.patch_size = 8
  model.feature_stride = 8
  model.template_size = 32
  model.search_size = 64
  model.additive_blocks = (1, 2)
  model.additive_widths = (8, 16)
  model.additive_convs_per_stage = 1
  model.additive_groups = 4
  model.num_bins = 16
  model.num_previous = 2
  model.decoder_width = 32
  model.decoder_depth = 1
  model.decoder_heads = 2
  model.decoder_mlp_dim = 64
  model.corner_head = True  # the tiny recipe has the quickstart's 'backbone' stage
  model.corner_head_channels = (8, 8, 8, 8)


def stage_config(kind: str, epochs: int, lr_drop_epoch: int,
                 init_from_stage: str = "") -> ml_collections.ConfigDict:
  """One stage of ``kind`` (``STAGE_KINDS``) with OSTrack's optimizer and the sequence loss."""
  if kind not in STAGE_KINDS:
    raise ValueError(f"unknown ACTrack stage kind {kind!r}: use one of {STAGE_KINDS}")
  stage = config_defaults.stage_defaults(epochs, lr_drop_epoch, trainable=r".*",
                                         init_from_stage=init_from_stage)
  stage.kind = kind
  stage.learning_rate = 4e-4  # OSTrack: LR 0.0004, BACKBONE_MULTIPLIER 0.1, WEIGHT_DECAY 1e-4
  stage.backbone_lr_scale = 0.1  # read only when the backbone trains ('full', 'backbone')
  stage.weight_decay = 1e-4
  stage.grad_clip_norm = 0.1  # OSTrack's GRAD_CLIP_NORM
  stage.ce_weight = 1.0  # cross-entropy over bins, mean over the 4 coordinate tokens
  stage.giou_weight = 2.0  # GIoU of the expected (soft-argmax) box; 0 = cross-entropy alone
  stage.label_smoothing = 0.0
  # The previous boxes of a sample (training.previous_boxes): the latest is the box the search
  # crop was centred on (aspect of the target, side = 1 / search_factor of the crop); earlier
  # ones step back with a random constant velocity plus noise, independent of the target.
  stage.trajectory_velocity_noise = 0.1  # x sqrt(w h) per frame, drawn once per sample
  stage.trajectory_centre_noise = 0.05  # x sqrt(w h), per step
  stage.trajectory_scale_noise = 0.05  # log-size, per step
  stage.trajectory_dropout = 0.1  # probability of replacing the whole prompt by the latest box
  # Box loss of the corner head (model.corner_head), read in 'backbone' stages only: STARK's /
  # OSTrack's L1 5 and GIoU 2 on the corner head's box.
  stage.corner_l1_weight = 5.0 if kind == "backbone" else 0.0
  stage.corner_giou_weight = 2.0 if kind == "backbone" else 0.0
  return stage


def tracker_config() -> ml_collections.ConfigDict:
  """``config.tracker``: greedy decoding, an optional Hanning window over bins, box clipping."""
  return ml_collections.ConfigDict(dict(
      # Blend of the bin probabilities with a Hanning window over the bins of the search crop
      # (SeqTrack's option): p * (1 - w) + hanning * w; 0 = plain argmax (ARTrack).
      window_influence=0.0,
      min_box_size=10.0,  # pixels; clip mode as the other families' 'centre'
      size_lr=1.0,  # new size = old * (1 - lr) + predicted * lr
  ))


def get_actrack_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """The full ACTrack recipe (module docstring); ``arg`` is the variant."""
  config = config_defaults.base_config("actrack", arg, VARIANTS)
  variant = config.variant
  config.model = model_config()
  config.data.mix = REFERENCE_MIX
  config.data.val_mix = ""
  config.data.trackingnet_chunks = REFERENCE_TRACKINGNET_CHUNKS
  config.data.sampler.max_gap = 200  # OSTrack's MAX_SAMPLE_INTERVAL
  p = config.data.processing
  p.search_center_jitter = 3.0  # OSTrack: SEARCH CENTER_JITTER 3, SCALE_JITTER 0.25
  p.search_scale_jitter = 0.25
  p.template_center_jitter = 0.0
  p.template_scale_jitter = 0.0
  p.grayscale_prob = 0.05
  p.brightness_jitter = 0.2
  p.joint_flip_prob = 0.5  # OSTrack: RandomHorizontalFlip(0.5) on the joint frames
  p.crop_flip_prob = 0.0
  config.train.global_batch_size = 128  # OSTrack: 32 per GPU x 4
  config.train.samples_per_epoch = 60000
  config.train.val_every_epochs = 0
  config.train.stages = ("additive",)
  # The paper trains only the additive net and the decoder; how long is not known: OSTrack's
  # 300-epoch schedule (lr drop at 240) is the upper bound taken here.
  config.train.additive = stage_config("additive", 300, 240)
  config.tracker = tracker_config()

  if variant == "tiny":
    make_tiny_model(config.model)
    config.train.stages = ("backbone", "additive")
    config.train.backbone = stage_config("backbone", 2, 1)
    config.train.additive = stage_config("additive", 2, 1, init_from_stage="backbone")
    config_defaults.make_tiny(config)
    config.train.val_every_epochs = 20
    for stage in config.train.stages:
      config.train[stage].backbone_lr_scale = 1.0
  elif variant == "quickstart":
    _make_quickstart(config)
  return config


def _make_quickstart(config: ml_collections.ConfigDict) -> None:
  """A reduced ACTrack on the embedded synthetic dataset (2-core CPU).

  No pretrained ViT can be downloaded here, so stage ``backbone`` trains a small one-stream ViT
  tracker (width 64, 4 blocks, patch 16, crops 64/160, the same sequence decoder, plus OSTrack's
  corner head on its search tokens) from scratch; stage ``additive`` freezes that ViT and
  trains ACTrack's additive siamese net and the decoder.
  Then the held-out synthetic sequences are tracked and scored.

    python -m trackjax.main --config configs/actrack_vitb256.py:quickstart --workdir runs/quick_actrack

  Stage ``additive`` passes ~13 times over 300 kept batches (``replay_batches``): the decoder's
  first coordinate learns to read the image from many passes, more than the input pipeline
  renders fresh crops for in the time. Measured (docs/actrack.md): 11 min 5 s end to end on a
  2-core CPU, held-out AUC 33.1% / AO 35.5% (random weights 1.7%).
  """
  m = config.model
  m.name = "actrack_quickstart"
  m.vit_width = 64
  m.vit_depth = 4
  m.vit_heads = 4
  m.vit_mlp_dim = 192
  m.patch_size = 16
  m.feature_stride = 16
  m.template_size = 64
  m.search_size = 160
  m.additive_blocks = (1, 2, 3)
  m.additive_widths = (16, 32, 64)
  m.additive_convs_per_stage = 1
  m.additive_groups = 4
  m.num_bins = 64
  m.num_previous = 3
  m.decoder_width = 64
  m.decoder_depth = 2
  m.decoder_heads = 4
  m.decoder_mlp_dim = 192
  m.decoder_memory_mlp_dim = 128  # reads the small ViT's tokens faster (docs/actrack.md)
  m.corner_head = True  # the backbone stage's localisation loss (training.py)
  m.corner_head_channels = (64, 32, 16, 16)
  config_defaults.make_synthetic_quickstart(config, image_size=(480, 640))
  config.data.trackingnet_chunks = ""
  config.data.processing.joint_flip_prob = 0.0
  config.train.checkpoint_every_steps = 200
  config.train.val_every_epochs = 0
  config.train.stages = ("backbone", "additive")
  # Milder search jitter than OSTrack's 3 / 0.25: the synthetic targets move smoothly, and a
  # ViT trained from scratch in 1200 steps first has to find targets near the crop centre.
  config.data.processing.search_center_jitter = 2.0
  config.data.processing.search_scale_jitter = 0.2
  config.train.backbone = stage_config("backbone", 12, 9)
  config.train.backbone.learning_rate = 3e-4
  config.train.backbone.backbone_lr_scale = 1.0
  config.train.backbone.giou_weight = 1.0
  # 4000 additive steps at lr 1e-3 on 300 kept batches (4,800 crops, ~13 passes): the decoder's
  # first coordinate needs many more passes than the ViT's corner head, and the input pipeline
  # cannot render that many fresh crops in the time (docs/actrack.md, the replay runs).
  config.train.additive = stage_config("additive", 40, 32, init_from_stage="backbone")
  config.train.additive.learning_rate = 1e-3
  config.train.additive.giou_weight = 1.0
  config.train.additive.replay_batches = 300
