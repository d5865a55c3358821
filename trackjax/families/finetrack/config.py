"""FineTrack's defaults: the model, the losses, the sampling, the tracker and the MOT jobs.

Every reconstructed choice is a field, named for what it does (docs/finetrack.md has the table:
what the paper says, what was chosen, why, from which codebase). The paper's method section was
not available; where it gives no value, the closest public codebases fill in: SFNet (alignment
module), FastReID (ReID losses and optimiser), ByteTrack (association), torchvision (ROIAlign).

* ``model_config(variant)``: ``config.model`` (``''`` ResNet-50, ``'tiny'`` unit-test size).
* ``loss_config()``: the loss fields of a stage (merged into ``config.train.stage1``).
* ``tracker_config()``: ``config.tracker``: ``trackjax.mot.association.association_config()`` with
  the appearance term on, plus ``max_detections`` (the embedder's static padding).
* ``get_finetrack_config(arg)``: the recipe for ``configs/finetrack_r50.py``, variants ``''``
  (MOT17 train, ImageNet ResNet-50), ``'tiny'`` (unit tests, seconds) and ``'quickstart'`` (a
  reduced network trained on the synthetic MOT set on a 2-core CPU, then the held-out synthetic
  sequences tracked with FineTrack and the IoU-only baseline side by side).

Config files are loaded by path, so they import this module instead of each other.
"""

from __future__ import annotations

import ml_collections

from trackjax import config_defaults
from trackjax.mot import association
from trackjax.mot import config as mot_config

MODEL_VARIANTS = ("", "tiny")
VARIANTS = ("", "tiny", "quickstart")


def model_config(variant: str = "") -> ml_collections.ConfigDict:
  """``config.model`` of FineTrack (``variant='tiny'``: the unit-test size)."""
  if variant not in MODEL_VARIANTS:
    raise ValueError(f"unknown FineTrack model variant {variant!r}: use one of {MODEL_VARIANTS}")
  config = ml_collections.ConfigDict(dict(
      name="finetrack_r50",
      # Backbone: ResNet-50 layer1..layer4 (strides 4, 8, 16, 32), torchvision layout.
      backbone_depth=50,
      backbone_blocks=ml_collections.FieldReference(None, field_type=tuple),  # 4 stages; override
      backbone_width=64,
      backbone_norm="frozen_bn",  # ImageNet start; 'group_norm' for a backbone from scratch
      # Whole frames resized to (height, width) (no letterbox): JDE/FairMOT's 1088 x 608 input.
      image_size=(608, 1088),
      # Flow Alignment FPN (SFNet's alignment module between adjacent levels).
      fpn_levels=4,  # ResNet stages feeding it: layer1..layer<fpn_levels> (strides 4..32)
      fpn_width=256,  # the usual FPN width
      fpn_norm="group_norm",  # SFNet: batch norm; group norm carries no batch statistics
      fpn_fusion="finest",  # output: the stride-4 level ('concat': SFNet's fusion of all levels)
      flow_init="zeros",  # flow convolution starts at zero: a fresh FAM is bilinear upsampling
      flow_align_corners=True,  # SFNet's grid (linspace(-1, 1)) and grid_sample of torch < 1.3
      # ROIAlign on the stride-4 map (torchvision semantics, aligned=True).
      roi_size=(16, 8),  # (height, width) bins: a 2:1 pedestrian box
      roi_sampling_ratio=2,  # samples per bin side (static; torchvision's adaptive count is not)
      # Multi-head part mask generator.
      num_parts=4,  # K attention heads, one part mask each
      part_attention_dim=64,
      # Embeddings and identity classifiers.
      embedding_dim=128,  # per branch (FairMOT's ReID width); tracking embedding 128 x (1 + K)
      part_embedding_weight=1.0,  # scale of the normalised part embeddings in the concatenation
      num_identities=1024,  # classifier width; >= identities of the training mix (checked)
      classifier="cosine",  # scaled cosine logits ('linear': FastReID's linear head)
      classifier_scale=16.0,
  ))
  if variant == "tiny":
    make_tiny_model(config)
  return config


def make_tiny_model(model: ml_collections.ConfigDict) -> None:
  """Shrinks ``model`` in place for unit tests: 64 x 96 frames, width 8, one block per stage."""
  model.name = "finetrack_tiny"
  model.backbone_blocks = (1, 1, 1, 1)
  model.backbone_width = 8
  model.backbone_norm = "group_norm"
  model.image_size = (64, 96)
  model.fpn_width = 16
  model.roi_size = (4, 2)
  model.num_parts = 2
  model.part_attention_dim = 8
  model.embedding_dim = 8
  model.num_identities = 64


def loss_config() -> ml_collections.ConfigDict:
  """The loss fields of a stage (``losses.finetrack_losses``)."""
  return ml_collections.ConfigDict(dict(
      label_smoothing=0.1,  # FastReID's CE smoothing epsilon
      ce_weight=1.0,  # on CE_global + mean_k CE_part_k
      triplet_margin=0.3,  # FastReID's margin; 0 = soft margin
      triplet_normalise=True,  # distances between L2-normalised embeddings (FastReID norm_feat)
      triplet_weight=1.0,  # on T_global + mean_k T_part_k
      diversity_weight=1.0,  # mean pairwise cosine similarity of the K part masks
  ))


def tracker_config() -> ml_collections.ConfigDict:
  """``config.tracker``: ByteTrack's association with the appearance term, and the embedder's
  static padding."""
  tracker = association.association_config()
  tracker.appearance_weight = 0.5  # fused cost: 0.5 IoU distance + 0.5 appearance distance
  tracker.max_detections = 128  # boxes per jitted embedding call (more boxes: more calls)
  return tracker


def data_config(data: ml_collections.ConfigDict) -> None:
  """The MOT data and Shuffle-Group Sampling fields, added to ``config.data`` in place."""
  data.mot_mix = "mot17"  # comma-separated: mot17, mot20, dancetrack, synthetic_mot (name@split)
  data.mot_val_mix = ""  # e.g. 'synthetic_mot@test'; '' with validation off
  data.mot_split = "train"
  data.mot_roots = ml_collections.ConfigDict(dict(mot17="", mot20="", dancetrack="",
                                                  synthetic_mot=""))  # '' synthetic: generated
  data.mot_synthetic = ml_collections.ConfigDict(dict(
      train_sequences=8, test_sequences=4, frames=120, image_size=(320, 240), targets=(3, 6),
      seed=0, cache_dir="~/.cache/trackjax/synthetic_mot"))
  data.sgs = ml_collections.ConfigDict(dict(
      frames_per_group=4,  # K frames per group (FastReID's NUM_INSTANCE 4)
      group_span=30,  # frames of one group's window (1 s at 30 fps)
  ))
  data.rois = ml_collections.ConfigDict(dict(
      max_per_frame=64,  # ROIs per frame (padding; more boxes: a random subset)
      min_visibility=0.3,  # ground-truth boxes seen less than this are not trained on
      flip_prob=0.5,  # horizontal flip of frame and boxes
      box_jitter=0.05,  # box centre/size noise (fraction of the size), detector-like
  ))


def stage_config() -> ml_collections.ConfigDict:
  """One stage: FastReID's Bag-of-Tricks optimiser (Adam, lr 3.5e-4, weight decay 5e-4) on the
  loop's AdamW / StepLR; 60 epochs with the drop at 40 and the frozen stem are chosen here."""
  stage = config_defaults.stage_defaults(60, 40, trainable=r".*", frozen=r"^backbone/(conv1|bn1)/")
  stage.learning_rate = 3.5e-4
  stage.backbone_lr_scale = 1.0
  stage.weight_decay = 5e-4
  stage.grad_clip_norm = 0.0  # FastReID does not clip
  stage.update(loss_config())
  return stage


def get_finetrack_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """The full FineTrack recipe (module docstring); ``arg`` is the variant."""
  config = config_defaults.base_config("finetrack", arg, VARIANTS)
  variant = config.variant
  config.model = model_config()
  data_config(config.data)
  config.train.global_batch_size = 16  # 4 groups x 4 frames
  config.train.samples_per_epoch = 16 * 500
  config.train.val_every_epochs = 0  # ReID quality is measured by tracking (mode=evaluate)
  config.train.stages = ("stage1",)
  config.train.stage1 = stage_config()
  config.tracker = tracker_config()
  mot_config.add_mot_jobs(config, tracker_name="finetrack")
  config.evaluate.dataset = "mot17"
  config.evaluate.split = "train"
  config.evaluate.after_training = False  # a MOT17 run names its benchmark (dataset_root) itself

  if variant == "tiny":
    _make_tiny(config)
  elif variant == "quickstart":
    _make_quickstart(config)
  return config


def _synthetic_benchmark(config: ml_collections.ConfigDict) -> None:
  """Evaluation on the held-out synthetic MOT split, FineTrack beside the IoU-only baseline."""
  config.evaluate.dataset = "synthetic_mot"
  config.evaluate.dataset_root = ""
  config.evaluate.split = "test"
  config.evaluate.compare_baseline = True
  config.data.mot_mix = "synthetic_mot"
  config.data.mot_roots.synthetic_mot = ""


def _make_tiny(config: ml_collections.ConfigDict) -> None:
  make_tiny_model(config.model)
  _synthetic_benchmark(config)
  config.data.mot_synthetic.update(dict(train_sequences=2, test_sequences=1, frames=12,
                                        image_size=(96, 64), targets=(2, 3)))
  config.data.sgs.frames_per_group = 2
  config.data.sgs.group_span = 6
  config.data.rois.max_per_frame = 4
  config.data.rois.min_visibility = 0.0
  config.tracker.max_detections = 8
  config.train.global_batch_size = 4
  config.train.samples_per_epoch = 8
  config.train.log_every_steps = 1
  config.train.checkpoint_every_steps = 2
  config.train.val_samples = 8
  config.train.stage1.epochs = 2
  config.train.stage1.lr_drop_epoch = 1
  mot_config.make_tiny_jobs(config)


def _make_quickstart(config: ml_collections.ConfigDict) -> None:
  """A reduced FineTrack trained from scratch on the synthetic MOT set (2-core CPU), then the
  held-out synthetic sequences tracked with it and with the IoU-only baseline.

    python -m trackjax.main --config configs/finetrack_r50.py:quickstart --workdir runs/quick_ft
  """
  m = config.model
  m.name = "finetrack_quickstart"
  m.backbone_blocks = (1, 1, 1, 1)
  m.backbone_width = 16
  m.fpn_levels = 3  # layer1..layer3 (no layer4: 0.3M parameters, a fixture under 2 MB)
  m.backbone_norm = "group_norm"
  m.image_size = (120, 160)  # half the synthetic frames' size: targets about 20 x 50 pixels
  m.fpn_width = 64
  m.roi_size = (8, 4)
  m.num_parts = 3
  m.part_attention_dim = 32
  m.embedding_dim = 32
  m.num_identities = 64
  _synthetic_benchmark(config)
  config.data.rois.max_per_frame = 8
  config.data.sgs.frames_per_group = 2
  config.data.sgs.group_span = 20
  config.tracker.max_detections = 16
  config.train.global_batch_size = 8  # 4 groups x 2 frames
  config.train.samples_per_epoch = 800
  config.train.log_every_steps = 20
  config.train.checkpoint_every_steps = 100
  config.train.val_every_epochs = 0
  stage = config.train.stage1
  stage.epochs = 10
  stage.lr_drop_epoch = 8
  stage.learning_rate = 1e-3
  stage.weight_decay = 1e-4
  stage.frozen = ""
  config.evaluate.after_training = True
  config.evaluate.synthetic_sequences = 6
  config.evaluate.synthetic_frames = 90
