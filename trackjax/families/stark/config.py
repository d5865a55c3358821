"""The STARK recipe's hyper-parameters, shared by ``configs/stark_{s50,st50,st101}.py``.

Every value of the official implementation (researchmm/Stark, ``experiments/stark_s`` and
``stark_st{1,2}`` yamls plus their config.py defaults) is here, named for what it does. Variants:

* ``''`` (default): the reference recipe, on the reference's datasets (LaSOT, GOT-10k vottrain,
  COCO 2017, TrackingNet at 1:1:1:1; validation on GOT-10k votval). Their folders must be given:
  ``--config.data.roots.{lasot,got10k,coco,trackingnet}=...``, and the reference starts the backbone
  from ImageNet: ``--config.init_backbone_from=DIR`` (``python -m trackjax.convert resnet``).
* ``'got10k_only'``: the reference's ``*_got10k_only`` recipe: GOT-10k train (all 9335 videos) only,
  template update interval 200 everywhere.
* ``'tiny'``: a very small network and crops for unit tests (seconds on a CPU), synthetic data.
* ``'quickstart'``: a reduced STARK-ST that trains on the embedded synthetic dataset on a 2-core CPU.

Other data: ``--config.data.mix=custom:1 --config.data.roots.custom=/my/videos`` (docs/training.md).

Config files are loaded by path, so they import this module instead of each other. The fields
every family shares (run, data, train defaults, the evaluate / demo / speed jobs) come from
``trackjax.config_defaults``; this module adds the model, the tracker and the stages.
"""

from __future__ import annotations

import ml_collections

from trackjax import config_defaults

# Template update interval of STARK-ST per benchmark (``stark_st2/*.yaml``); other datasets use
# MAX_SAMPLE_INTERVAL = 200.
UPDATE_INTERVALS = {"lasot": 200, "got10k_test": 200, "trackingnet": 25, "vot20": 10,
                    "vot20lt": 200, "default": 200}
UPDATE_INTERVALS_ST101 = dict(UPDATE_INTERVALS, vot20lt=100)
# The *_got10k_only yamls set none: MAX_SAMPLE_INTERVAL everywhere.
UPDATE_INTERVALS_GOT10K_ONLY = {k: 200 for k in UPDATE_INTERVALS}

# The reference's training and validation data (DATA.TRAIN / DATA.VAL of every baseline yaml).
REFERENCE_MIX = "lasot:1,got10k_vottrain:1,coco:1,trackingnet:1"
REFERENCE_VAL_MIX = "got10k_votval:1"
GOT10K_ONLY_MIX = "got10k_train_full:1"
VARIANTS = ("", "got10k_only", "tiny", "quickstart")


def model_config(depth: int, score_head: bool) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(dict(
      name="stark_st" if score_head else "stark_s",
      backbone_depth=depth,  # ResNet-50 / -101 truncated after layer3: stride 16, 1024 channels
      backbone_blocks=ml_collections.FieldReference(None, field_type=tuple),  # override depth
      backbone_width=64,
      backbone_norm="frozen_bn",  # the reference; 'group_norm' for a backbone trained from scratch
      hidden_dim=256,
      num_heads=8,
      num_encoder_layers=6,
      num_decoder_layers=6,
      dim_feedforward=2048,
      dropout=0.1,  # also on attention weights
      num_queries=1,
      head_channels=(256, 128, 64, 32),  # corner head towers, then a 1x1 conv to one map
      feature_stride=16,
      score_head=score_head,
      num_templates=2 if score_head else 1,
      template_size=128,
      template_factor=2.0,
      search_size=320,
      search_factor=5.0,
      # 'bfloat16': inference speed option for CPUs with bf16 dot instructions (products on bf16
      # operands, float32 accumulation; trackjax.models.matmul_precision). Same parameters.
      matmul_dtype="float32",
  ))


def stage_config(epochs: int, lr_drop_epoch: int, trainable: str, box_loss: bool,
                 init_from_stage: str = "") -> ml_collections.ConfigDict:
  """One stage: the shared optimizer fields (lr 1e-4, backbone at 1e-5, AdamW weight decay 1e-4,
  clip 0.1, conv1 and layer1 frozen) and STARK's loss weights (``training``)."""
  stage = config_defaults.stage_defaults(epochs, lr_drop_epoch, trainable=trainable,
                                         frozen=r"^backbone/(conv1|layer1_\d+)/",
                                         init_from_stage=init_from_stage)
  stage.giou_weight = 2.0 if box_loss else 0.0
  stage.l1_weight = 5.0 if box_loss else 0.0
  stage.cls_weight = 0.0 if box_loss else 1.0
  stage.classification_samples = not box_loss  # stage 2: half negatives, BCE on the score head
  return stage


def get_stark_config(depth: int, score_head: bool, arg: str | None) -> ml_collections.ConfigDict:
  """The full recipe for STARK-S50 (depth 50, no score head), -ST50 and -ST101."""
  config = config_defaults.base_config("stark", arg, VARIANTS)
  variant = config.variant
  config.model = model_config(depth, score_head)
  # Crop sizes, template count and the stage's sample kind are taken from config.model /
  # config.train.<stage> by the train task (training.stark_data_config).
  config.data.mix = REFERENCE_MIX
  config.data.val_mix = REFERENCE_VAL_MIX
  config.train.global_batch_size = 128  # 16 per GPU x 8 GPUs in the reference
  config.train.samples_per_epoch = 60000
  if score_head:
    config.train.stages = ("stage1", "stage2")
    config.train.stage1 = stage_config(500, 400, trainable=r".*", box_loss=True)
    config.train.stage2 = stage_config(50, 40, trainable=r"^cls_head/", box_loss=False,
                                       init_from_stage="stage1")
    config.train.stage2.val_every_epochs = 10
  else:
    config.train.stages = ("stage1",)
    config.train.stage1 = stage_config(500, 400, trainable=r".*", box_loss=True)

  config.tracker = ml_collections.ConfigDict(dict(
      update_intervals=UPDATE_INTERVALS_ST101 if depth == 101 else UPDATE_INTERVALS,
      update_threshold=0.5,  # sigmoid(score) must exceed this for a template update
      box_margin=10,  # clip_box margin in pixels
      dataset="default",
  ))

  if variant == "got10k_only":
    config.data.mix = GOT10K_ONLY_MIX
    config.tracker.update_intervals.update(UPDATE_INTERVALS_GOT10K_ONLY)
  elif variant == "tiny":
    _make_tiny(config)
  elif variant == "quickstart":
    _make_quickstart(config)
  return config


def _make_tiny(config: ml_collections.ConfigDict) -> None:
  """A network of a few thousand parameters per block, crops 64/128: unit tests run in seconds."""
  m = config.model
  m.backbone_blocks = (1, 1, 1)
  m.backbone_width = 8
  m.hidden_dim = 32
  m.num_heads = 2
  m.num_encoder_layers = 1
  m.num_decoder_layers = 1
  m.dim_feedforward = 64
  m.head_channels = (16, 16, 8, 8)
  m.template_size = 64
  m.search_size = 128
  config_defaults.make_tiny(config)


def _make_quickstart(config: ml_collections.ConfigDict) -> None:
  """A reduced STARK-ST trained from scratch on the embedded synthetic dataset (2-core CPU).

  Narrow ResNet (1, 2, 2 blocks, width 16) with group norm (a from-scratch backbone has no
  statistics to freeze), 2+2 transformer layers of width 64 without dropout, crops 64/160, batch
  16, synthetic frames of 640x480. Nothing is frozen and the backbone trains at the full learning
  rate. Stage 1: 14 epochs of 1600 samples, lr 5e-4 dropped x0.1 after epoch 11; stage 2: one
  epoch on the score head. Then 16 held-out synthetic sequences are tracked and scored.

    python -m trackjax.main --config configs/stark_st50.py:quickstart --workdir runs/quick

  Figures measured through that command on a quiet 2-core CPU are in docs/training.md.
  """
  m = config.model
  m.backbone_blocks = (1, 2, 2)
  m.backbone_width = 16
  m.backbone_norm = "group_norm"
  m.hidden_dim = 64
  m.num_heads = 4
  m.num_encoder_layers = 2
  m.num_decoder_layers = 2
  m.dim_feedforward = 256
  m.dropout = 0.0
  m.head_channels = (64, 32, 16, 16)
  m.template_size = 64
  m.search_size = 160
  config_defaults.make_synthetic_quickstart(config, image_size=(480, 640))
  config.train.checkpoint_every_steps = 100
  config.train.val_every_epochs = 5
  config.train.stage1.epochs = 14
  config.train.stage1.lr_drop_epoch = 11
  config.train.stage1.learning_rate = 5e-4
  config.train.stage1.backbone_lr_scale = 1.0
  config.train.stage1.frozen = ""
  if "stage2" in config.train:  # STARK-ST
    config.train.stage2.epochs = 1
    config.train.stage2.lr_drop_epoch = 1
    config.train.stage2.learning_rate = 1e-3  # a fresh score head in 100 steps
  # Milder search-crop jitter than the reference (4.5 / 0.5): the synthetic targets move smoothly.
  config.data.processing.search_center_jitter = 3.0
  config.data.processing.search_scale_jitter = 0.25
