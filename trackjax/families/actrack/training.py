"""ACTrack's training task for the generic loop (``trackjax.train.loop``): stages, loss, data.

Stage kinds (``config.train.<stage>.kind``):

* ``'additive'`` (ACTrack): the ViT is frozen: the loss applies ``jax.lax.stop_gradient`` to the
  ``backbone`` parameters, so XLA never computes their gradient, and the task's
  ``StageTask.frozen = '^backbone/'`` gives them ``optax.set_to_zero`` (no optimizer state). The
  additive net and the decoder train.
* ``'full'``: the same network with everything trainable (the fine-tuning baseline measured by
  ``benchmarks/actrack_saving.py``).
* ``'backbone'``: the one-stream ViT tracker without the additive net (``use_additive=False``;
  ``'^additive/'`` frozen, it stays zero): the quickstart's stand-in for a pretrained ViT.

Sample: one template and one search crop (``data_pipelines``' ``'causal'`` mode, OSTrack's
crops from ``config.model``) plus the previous boxes, built on the device from the sample's
target and the step's rng (``previous_boxes``), as the shared pipeline yields pairs of frames:
the latest previous box is the box the search crop was centred on (the crop centre, the target's
aspect ratio, side ``1 / search_factor`` of the crop: what the tracker's previous box is in its
crop); earlier ones step back with a constant random velocity (``trajectory_velocity_noise`` x
the box side per frame, drawn per sample) plus centre and log-size noise per frame
(``trajectory_centre_noise``, ``trajectory_scale_noise``); with probability
``trajectory_dropout`` every previous box is the latest one (the tracker's first frames). The
trajectory is drawn independently of where the target is in the search crop: a first version
stepped back along the crop-centre-to-target offset, and the tracker learned to extrapolate the
prompt's motion and ran away from the target in a few frames (quickstart AUC 3%).

Loss (``losses.sequence_loss``): cross-entropy over bins of the 4 coordinate tokens, teacher
forced, plus ``giou_weight`` x GIoU of the expected box (softmax-weighted bin values). In a
``backbone`` stage of a model with ``corner_head=True`` (the quickstart) the ViT's search tokens
also feed OSTrack's corner box head, with STARK's / OSTrack's box loss ``corner_l1_weight`` x L1
+ ``corner_giou_weight`` x GIoU: the dense localisation signal a released OSTrack backbone was
trained with, which the coordinate tokens alone did not give a ViT trained from scratch. The head
is frozen (and not run) in the other stages.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from trackjax.families.actrack import sequence as seq
from trackjax.families.actrack.config import STAGE_KINDS
from trackjax.families.actrack.losses import sequence_loss
from trackjax.families.actrack.model import build_actrack, dummy_inputs
from trackjax.families.actrack import vit_checkpoint
from trackjax.geometry.device_boxes import xyxy_to_cxcywh
from trackjax.models import image_normalization
from trackjax.train import train_data
from trackjax.train.losses import box_losses
from trackjax.train.task import StageTask

STEP_KEYS = ("template_images", "template_pixel_scale", "search_images", "search_pixel_scale",
             "search_anno")
FROZEN_BY_KIND = {"additive": r"^backbone/", "full": "", "backbone": r"^additive/"}
CORNER_HEAD = r"^corner_head/"


def previous_boxes(rng, target_xywh, num_previous: int, search_size: int, search_factor: float,
                   centre_noise: float, scale_noise: float, dropout: float = 0.0,
                   velocity_noise: float = 0.0):
  """(B, 4) crop-normalised targets -> (B, N, 4) previous boxes, oldest first (module docstring)."""
  b = target_xywh.shape[0]
  target = target_xywh.astype(jnp.float32)
  aspect = jnp.maximum(target[:, 2], 1e-4) / jnp.maximum(target[:, 3], 1e-4)
  side = 1.0 / float(search_factor)
  latest_wh = jnp.stack([side * jnp.sqrt(aspect), side / jnp.sqrt(aspect)], axis=-1)
  latest_c = jnp.full((b, 2), (search_size - 1) / (2.0 * search_size), jnp.float32)
  k_motion, k_centre, k_scale, k_drop = jax.random.split(rng, 4)
  n = int(num_previous)
  back = jnp.arange(n, dtype=jnp.float32)[None, :, None]  # 0 = latest
  size = jnp.sqrt(latest_wh[:, 0] * latest_wh[:, 1])[:, None, None]
  step = jax.random.normal(k_motion, (b, 2)) * velocity_noise * size[:, 0]  # per frame
  first = (jnp.arange(n) > 0).astype(jnp.float32)[None, :, None]  # the latest box has no noise
  centre_walk = jnp.cumsum(
      jax.random.normal(k_centre, (b, n, 2)) * first * centre_noise * size, axis=1)
  scale_walk = jnp.cumsum(jax.random.normal(k_scale, (b, n, 1)) * first * scale_noise, axis=1)
  centres = latest_c[:, None] - back * step[:, None] + centre_walk
  wh = latest_wh[:, None] * jnp.exp(scale_walk)
  drop = jax.random.uniform(k_drop, (b, 1, 1)) < dropout
  centres = jnp.where(drop, latest_c[:, None], centres)
  wh = jnp.where(drop, latest_wh[:, None], wh)
  boxes = jnp.concatenate([centres - 0.5 * wh, wh], axis=-1)
  return boxes[:, ::-1]  # oldest first


class ActrackTrainTask:
  """``trackjax.train.task.TrainTask`` for ACTrack."""

  def __init__(self, config: ml_collections.ConfigDict):
    for stage in config.train.stages:
      kind = config.train[stage].get("kind")
      if kind not in STAGE_KINDS:
        raise ValueError(f"config.train.{stage}.kind={kind!r}: use one of {STAGE_KINDS}")
    self.config = config
    self.compute_dtype = jnp.dtype(config.train.compute_dtype)
    self.model = build_actrack(config.model, dtype=self.compute_dtype)

  def init_variables(self, rng: jax.Array) -> dict[str, Any]:
    return self.model.init(rng, *dummy_inputs(self.config.model))

  def stage(self, stage_name: str) -> StageTask:
    stage = self.config.train[stage_name]
    frozen = FROZEN_BY_KIND[stage.kind]
    if self.config.model.get("corner_head", False) and not trains_corner_head(
        self.config.model, stage):
      frozen = "|".join(p for p in (frozen, CORNER_HEAD) if p)
    return StageTask(loss=make_loss(self.model, self.config.model, stage, self.compute_dtype),
                     frozen=frozen, batch_keys=STEP_KEYS)

  def make_iterator(self, config, stage, *, split, seed, global_batch_size, process_index=0,
                    process_count=1):
    return build_iterator(config, stage, split=split, seed=seed,
                          global_batch_size=global_batch_size, process_index=process_index,
                          process_count=process_count)

  def with_backbone(self, variables, directory: str, abstract_variables):
    return vit_checkpoint.import_vit_backbone(variables, directory, abstract_variables,
                                              self.config.model)

  def fresh_start_warning(self) -> str:
    kinds = {self.config.train[s].kind for s in self.config.train.stages}
    if "additive" in kinds and "backbone" not in kinds:
      return ("random ViT frozen in the additive stage: ACTrack starts from a pretrained ViT-B/16 "
              "(MAE or OSTrack weights): --config.init_backbone_from=mae_pretrain_vit_base.pth")
    return ""


def trains_corner_head(model_config, stage) -> bool:
  """Whether ``stage`` trains the corner head: the model has one, and it is a ``backbone`` stage
  with a corner loss weight."""
  weights = stage.get("corner_l1_weight", 0.0) + stage.get("corner_giou_weight", 0.0)
  return bool(model_config.get("corner_head", False)) and stage.kind == "backbone" and weights > 0


def make_loss(model, model_config, stage, dtype):
  """The ``LossFn`` of one stage (module docstring)."""
  kind = stage.kind
  with_corners = trains_corner_head(model_config, stage)
  use_additive = kind != "backbone"
  num_bins = int(model_config.num_bins)
  coordinate_range = float(model_config.coordinate_range)
  prompt_length = seq.NUM_COORDINATES * int(model_config.num_previous)

  def loss_fn(variables, batch, rng, train: bool):
    if kind == "additive":  # no gradient w.r.t. the frozen ViT: XLA drops that computation
      params = dict(variables["params"])
      params["backbone"] = jax.lax.stop_gradient(params["backbone"])
      variables = dict(variables, params=params)
    templates = image_normalization.normalize_images(
        batch["template_images"][:, 0], dtype, batch["template_pixel_scale"][:, 0])
    search = image_normalization.normalize_images(
        batch["search_images"], dtype, batch["search_pixel_scale"])
    target = batch["search_anno"].astype(jnp.float32)
    previous = previous_boxes(
        rng, target, int(model_config.num_previous), int(model_config.search_size),
        float(model_config.search_factor), float(stage.trajectory_centre_noise),
        float(stage.trajectory_scale_noise), float(stage.trajectory_dropout),
        float(stage.trajectory_velocity_noise))
    prompt = seq.prompt_tokens(previous, num_bins, coordinate_range)
    targets = seq.box_tokens(target, num_bins, coordinate_range)
    sequence = seq.teacher_forced_sequence(prompt, targets, num_bins)
    updates = {}
    if with_corners:  # the corner head's batch norms update their statistics in training
      (logits, corners), updates = model.apply(
          variables, templates, search, sequence, use_additive=use_additive, return_corners=True,
          train=train, mutable=["batch_stats"] if train else [])
    else:
      logits = model.apply(variables, templates, search, sequence, use_additive=use_additive)
    logits = seq.coordinate_logits(logits, prompt_length)
    loss, terms = sequence_loss(logits, target, num_bins, coordinate_range,
                                ce_weight=float(stage.ce_weight),
                                giou_weight=float(stage.giou_weight),
                                label_smoothing=float(stage.get("label_smoothing", 0.0)))
    if with_corners:
      box_terms = box_losses(xyxy_to_cxcywh(corners), target)
      terms.update(corner_l1=box_terms["l1"], corner_giou=box_terms["giou"],
                   corner_iou=box_terms["iou"])
      loss = (loss + float(stage.corner_l1_weight) * box_terms["l1"]
              + float(stage.corner_giou_weight) * box_terms["giou"])
    return loss, (terms, updates)

  return loss_fn


def train_task(config: ml_collections.ConfigDict) -> ActrackTrainTask:
  """The family's ``TrainTask``; refuses an unknown stage kind."""
  return ActrackTrainTask(config)


def actrack_data_config(config: ml_collections.ConfigDict, stage: str,
                        split: str = "train") -> ml_collections.ConfigDict:
  """The ``data_pipelines`` settings: ACTrack's crops and one template per sample."""
  del stage  # one kind of sample in every stage
  data = train_data.crop_data_config(config, split)
  data.sampler.num_template = 1
  data.sampler.mode = "causal"
  data.sampler.train_cls = False
  return data


def build_iterator(config: ml_collections.ConfigDict, stage: str, *, split: str, seed: int,
                   global_batch_size: int, process_index: int = 0, process_count: int = 1):
  """The ``data_pipelines`` iterator of template/search crops for ``stage`` and ``split``."""
  return train_data.crop_iterator(
      actrack_data_config(config, stage, split), seed=seed, global_batch_size=global_batch_size,
      process_index=process_index, process_count=process_count)
