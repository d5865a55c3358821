"""The config fields every family shares: run, data, train defaults and the tracking jobs.

A family's config helper (``trackjax/families/<name>/config.py``) starts from ``base_config`` and
adds ``config.model``, ``config.tracker`` and its stages (``stage_defaults`` plus its loss
fields); ``configs/<model>.py`` files call that helper (config files are loaded by path, so they
never import each other). Fields:

* ``family``, ``variant``, ``mode`` (train | evaluate | track | benchmark), ``seed``,
  ``init_from`` (converted weights or another run's workdir), ``init_backbone_from``;
* ``data`` (``data_pipelines.config.default_data_config``) and ``synthetic`` (sizes of the
  embedded synthetic dataset);
* ``train``: batch, epoch size, dtype, log / checkpoint / validation cadence, ``stages``; each
  ``train.<stage>`` holds at least ``stage_defaults``' fields (read by ``trackjax.train.loop``
  and ``trackjax.train.optimizer``);
* ``evaluate`` / ``demo`` / ``speed``: the SOT jobs (``trackjax.sot.benchmark_runner``,
  ``video_demo``, ``speed_benchmark``). Defaults are small enough for a CPU.

``make_tiny`` shrinks the shared parts for unit tests (a ``:tiny`` variant);
``make_synthetic_quickstart`` sets the shared part of a synthetic ``:quickstart``.
"""

from __future__ import annotations

import ml_collections

from data_pipelines import config as data_config_lib


def base_config(family: str, variant: str, variants) -> ml_collections.ConfigDict:
  """The shared fields for ``family``'s config variant ``variant`` (one of ``variants``)."""
  variant = (variant or "").strip()
  if variant not in variants:
    raise ValueError(f"unknown config variant {variant!r}: use one of "
                     f"{', '.join(map(repr, variants))}")
  config = ml_collections.ConfigDict()
  config.family = family  # trackjax/families/<family>/
  config.variant = variant
  config.mode = "train"  # train | evaluate | track | benchmark
  config.seed = 0
  config.init_from = ""  # converted official weights (trackjax.convert) or another run's workdir
  # ImageNet backbone (python -m trackjax.convert resnet ...), as the reference recipes start
  # training: the first stage of a fresh run takes the backbone parameters and frozen batch-norm
  # statistics from it. Ignored when resuming and when init_from is set (it gives the whole model).
  config.init_backbone_from = ""
  # Input pipeline (data_pipelines.config). The family's train task sets what its model fixes
  # (crop sizes, template count, the stage's sample kind). Datasets: data.mix / data.val_mix
  # ('name:ratio,...') over the folders data.roots.<kind>; an empty val_mix validates on the
  # synthetic val split when training on synthetic data alone (trackjax.train.train_data).
  config.data = data_config_lib.default_data_config()
  # The embedded synthetic dataset's sizes (data_pipelines.config.SYNTHETIC_DEFAULTS; its
  # cache_sequences keeps every training sequence's textures in memory).
  config.synthetic = ml_collections.ConfigDict(dict(data_config_lib.SYNTHETIC_DEFAULTS))
  config.train = train_defaults()
  add_tracking_jobs(config, tracker_name=family)
  return config


def train_defaults() -> ml_collections.ConfigDict:
  """``config.train`` without stages (the family adds ``stages`` and ``train.<stage>``)."""
  return ml_collections.ConfigDict(dict(
      global_batch_size=128,
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


def stage_defaults(epochs: int, lr_drop_epoch: int, trainable: str = r".*", frozen: str = "",
                   init_from_stage: str = "") -> ml_collections.ConfigDict:
  """The fields of ``config.train.<stage>`` the loop and the optimizer read."""
  return ml_collections.ConfigDict(dict(
      epochs=epochs,
      lr_drop_epoch=lr_drop_epoch,  # StepLR(step_size=lr_drop_epoch, gamma=0.1), stepped per epoch
      lr_drop_factor=0.1,
      learning_rate=1e-4,
      weight_decay=1e-4,
      backbone_lr_scale=0.1,  # parameters under backbone/ train at learning_rate x this
      grad_clip_norm=0.1,
      # Parameters whose path matches `trainable` (regex over 'a/b/c' paths) and not `frozen` train.
      trainable=trainable,
      frozen=frozen,
      init_from_stage=init_from_stage,  # start from that stage's final weights
      # Validation interval of this stage: -1 = train.val_every_epochs, 0 = none in this stage.
      # train.val_every_epochs = 0 switches validation off in every stage.
      val_every_epochs=-1,
      # > 0: the stage draws this many batches, keeps them in memory and passes over them again
      # and again (data_pipelines.replay), compute-bound where fresh samples are the bottleneck.
      replay_batches=0,
  ))


def make_tiny(config: ml_collections.ConfigDict) -> None:
  """Synthetic data, a few small held-out sequences, tiny batches and 2-epoch stages: the shared
  part of a ``:tiny`` variant (the family shrinks its model)."""
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


def make_synthetic_quickstart(config: ml_collections.ConfigDict,
                              image_size=(480, 640)) -> None:
  """The shared part of a ``:quickstart`` variant: training on the embedded synthetic dataset
  (frames of ``image_size`` (H, W), batch 16, 1600 samples per epoch, log every 20 steps, 256
  validation samples) and tracking its 16 held-out sequences of the same size afterwards. The
  family shrinks its model and sets its schedule."""
  config.data.mix = "synthetic:1"  # validation: its val split
  config.data.val_mix = ""
  config.synthetic.image_size = tuple(image_size)
  config.evaluate.synthetic_image_size = tuple(image_size)
  config.evaluate.synthetic_sequences = 16
  config.train.global_batch_size = 16
  config.train.samples_per_epoch = 1600
  config.train.log_every_steps = 20
  config.train.val_samples = 256


# ------------------------------------------------------------------------------------------------
# Tracking jobs: benchmark runner (mode=evaluate), video demo (mode=track), speed (mode=benchmark).
# Read by trackjax/sot/benchmark_runner.py, trackjax/sot/video_demo.py and
# trackjax/sot/speed_benchmark.py. Defaults are small enough for a CPU.
# ------------------------------------------------------------------------------------------------


def add_tracking_jobs(config: ml_collections.ConfigDict, tracker_name: str) -> None:
  config.evaluate = ml_collections.ConfigDict(dict(
      # got10k | lasot | trackingnet | otb | uav123 | nfs | custom | synthetic
      dataset="synthetic",
      dataset_root="",  # benchmark root folder (unused for synthetic)
      split="test",  # got10k: val | test; lasot: test; trackingnet: test (TEST chunk)
      # Converted weights (python -m trackjax.convert) or a training workdir; '' falls back to
      # config.init_from, and if that is empty too, RANDOM weights with a loud warning.
      weights="",
      results_dir="",  # '' -> <workdir>/results/<dataset>_<split>/<tracker_name>
      tracker_name=tracker_name,
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
