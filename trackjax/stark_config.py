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

Config files are loaded by path, so they import this module instead of each other.
"""

from __future__ import annotations

import ml_collections

from data_pipelines import config as data_config_lib

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
  return ml_collections.ConfigDict(dict(
      epochs=epochs,
      lr_drop_epoch=lr_drop_epoch,  # StepLR(step_size=lr_drop_epoch, gamma=0.1), stepped per epoch
      lr_drop_factor=0.1,
      learning_rate=1e-4,
      weight_decay=1e-4,
      backbone_lr_scale=0.1,  # parameters under backbone/ train at 1e-5
      grad_clip_norm=0.1,
      # Parameters whose path matches `trainable` (regex over 'a/b/c' paths) and not `frozen` train.
      trainable=trainable,
      frozen=r"^backbone/(conv1|layer1_\d+)/",
      giou_weight=2.0 if box_loss else 0.0,
      l1_weight=5.0 if box_loss else 0.0,
      cls_weight=0.0 if box_loss else 1.0,
      classification_samples=not box_loss,  # stage 2: half negatives, BCE on the score head
      init_from_stage=init_from_stage,
      # Validation interval of this stage: -1 = train.val_every_epochs, 0 = none in this stage.
      # train.val_every_epochs = 0 switches validation off in every stage.
      val_every_epochs=-1,
  ))


def get_stark_config(depth: int, score_head: bool, arg: str | None) -> ml_collections.ConfigDict:
  """The full recipe for STARK-S50 (depth 50, no score head), -ST50 and -ST101."""
  variant = (arg or "").strip()
  if variant not in VARIANTS:
    raise ValueError(f"unknown config variant {variant!r}: use one of "
                     f"{', '.join(map(repr, VARIANTS))}")
  config = ml_collections.ConfigDict()
  config.variant = variant
  config.mode = "train"  # train | evaluate | track | benchmark
  config.seed = 0
  config.init_from = ""  # converted official weights (trackjax.convert) or another run's workdir
  # ImageNet backbone (python -m trackjax.convert resnet ...), as the reference starts training:
  # the first stage of a fresh run takes the backbone parameters and frozen batch-norm statistics
  # from it. Ignored when resuming and when init_from is set (it gives the whole model).
  config.init_backbone_from = ""
  config.model = model_config(depth, score_head)
  # Input pipeline (data_pipelines.config). Crop sizes, template count and the stage's sample kind
  # are taken from config.model / config.train.<stage> by trackjax.train.train_data. Datasets:
  # data.mix / data.val_mix ('name:ratio,...') over the folders data.roots.<kind>; an empty
  # val_mix validates on the synthetic val split when training on synthetic data alone.
  config.data = data_config_lib.default_data_config()
  config.data.mix = REFERENCE_MIX
  config.data.val_mix = REFERENCE_VAL_MIX
  config.synthetic = ml_collections.ConfigDict(dict(
      num_sequences=200, val_sequences=20, num_frames=100, image_size=(240, 320), seed=0))

  config.train = ml_collections.ConfigDict(dict(
      global_batch_size=128,  # 16 per GPU x 8 GPUs in the reference
      samples_per_epoch=60000,
      compute_dtype="float32",  # 'bfloat16' computes in bf16 with float32 parameters
      log_every_steps=50,
      checkpoint_every_steps=1000,
      keep_checkpoints=3,
      keep_period_steps=0,  # also keep every N-th step forever (0 = off)
      # Validation loss every N epochs and at the end of each stage; 0 = no validation at all.
      val_every_epochs=20,
      val_samples=10000,  # 0 = no validation either
      max_steps=-1,  # stop early after this many steps (-1: run the schedule)
  ))
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

  _add_tracking_jobs(config)

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
  config.data.mix = "synthetic:1"  # validation: its val split
  config.data.val_mix = ""
  config.evaluate.after_training = False  # tests that want it switch it on
  config.evaluate.synthetic_sequences = 3
  config.evaluate.synthetic_frames = 8
  config.evaluate.synthetic_image_size = (72, 96)
  config.evaluate.num_streams = 2
  config.speed.stream_counts = (1, 2)
  config.speed.num_frames = 3
  config.speed.warmup_frames = 1
  config.speed.repeats = 2
  config.speed.image_size = (72, 96)
  config.train.global_batch_size = 4
  config.train.samples_per_epoch = 16
  config.train.log_every_steps = 1
  config.train.checkpoint_every_steps = 2
  config.train.val_samples = 8
  for stage in config.train.stages:
    config.train[stage].epochs = 2
    config.train[stage].lr_drop_epoch = 1


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
  config.data.mix = "synthetic:1"  # validation: its val split
  config.data.val_mix = ""
  config.synthetic.image_size = (480, 640)
  config.evaluate.synthetic_image_size = (480, 640)
  config.evaluate.synthetic_sequences = 16
  config.train.global_batch_size = 16
  config.train.samples_per_epoch = 1600
  config.train.log_every_steps = 20
  config.train.checkpoint_every_steps = 100
  config.train.val_samples = 256
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


# ------------------------------------------------------------------------------------------------
# Tracking jobs: benchmark runner (mode=evaluate), video demo (mode=track), speed (mode=benchmark).
# Read by trackjax/evaluate/benchmark_runner.py, trackjax/track/video_demo.py and
# trackjax/track/speed_benchmark.py. Defaults are small enough for a CPU.
# ------------------------------------------------------------------------------------------------


def _add_tracking_jobs(config: ml_collections.ConfigDict) -> None:
  config.evaluate = ml_collections.ConfigDict(dict(
      # got10k | lasot | trackingnet | otb | uav123 | nfs | custom | synthetic
      dataset="synthetic",
      dataset_root="",  # benchmark root folder (unused for synthetic)
      split="test",  # got10k: val | test; lasot: test; trackingnet: test (TEST chunk)
      # Converted weights (python -m trackjax.convert) or a training workdir; '' falls back to
      # config.init_from, and if that is empty too, RANDOM weights with a loud warning.
      weights="",
      results_dir="",  # '' -> <workdir>/results/<dataset>_<split>/<tracker_name>
      tracker_name="stark",
      num_streams=8,  # sequences tracked at once as batched streams (slots refilled)
      sequences="",  # comma-separated sequence names to run; '' = all
      report=True,  # score the results when ground truth is available
      after_training=True,  # mode=train ends by evaluating the trained tracker on this benchmark
      reader_threads=4,  # threads decoding frames for the streams
      # Held-out synthetic benchmark (split 'test' of SyntheticSource), generated on the fly.
      synthetic_sequences=8,
      synthetic_frames=60,
      synthetic_image_size=(240, 320),
      synthetic_seed=1234,
  ))
  config.demo = ml_collections.ConfigDict(dict(
      source="",  # video file, image folder, or camera index ('0')
      init_box="",  # 'x,y,w,h' of the target in the first frame; '' = draw it (needs a display)
      # Several targets: 'x,y,w,h;x,y,w,h;...' tracked as batched streams (overrides init_box);
      # 'draw' = draw them with the mouse (cv2.selectROIs, needs a display). Target k's boxes go to
      # output_boxes with _<k> before the suffix (demo_boxes_0.txt, ...).
      init_boxes="",
      weights="",  # as config.evaluate.weights
      output_video="demo.mp4",  # relative to the workdir; '' = none (mp4v codec)
      output_gif="demo.gif",  # '' = none
      output_boxes="demo_boxes.txt",  # x,y,w,h per frame; demo_boxes_<k>.txt per target if several
      gif_max_side=320,  # GIF frames are downscaled to this longest side
      gif_every=2,  # keep every n-th frame in the GIF
      max_frames=0,  # 0 = all frames
      fps=0.0,  # output video fps; 0 = the source's (or 25)
  ))
  config.speed = ml_collections.ConfigDict(dict(
      stream_counts=(1, 8, 32, 128),  # K for the batched throughput runs
      num_frames=30,  # timed frames per run (after warm-up)
      warmup_frames=3,
      repeats=3,  # runs per measurement; the median is reported
      image_size=(480, 640),  # synthetic frames, (height, width)
      compute_dtype="float32",  # 'bfloat16' as an option
      weights="",  # '' = random weights (speed does not depend on them)
      output="tracking_speed.json",  # relative to the workdir
  ))
