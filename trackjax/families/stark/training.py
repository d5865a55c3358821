"""STARK's training task for the generic loop (``trackjax.train.loop``): losses, heads, data.

STARK-ST trains in two stages (``config.train.stages``): stage 1 learns boxes
(``giou_weight * GIoU + l1_weight * L1`` on the corner head, 2 and 5 in the reference), stage 2
starts from stage 1's final weights and trains only the score head (``cls_weight`` times binary
cross-entropy on half-negative samples, box head not run, model in train mode so dropout is on).
STARK-S has stage 1 only. Heads the loss never reaches get no update at all (torch skips
parameters without gradient, so AdamW's weight decay does not touch them either): they are this
task's extra frozen patterns. The weights come from ``config.train.<stage>``
(``config.stage_config``); the loss terms from ``trackjax.train.losses``.

Input: template/search crops (``data_pipelines.sot_processing``) whose sizes, template count and
sample kind follow the model and the stage (``stark_data_config``), over the datasets of
``trackjax.train.train_data``. A batch holds ``template_images`` (B, T, S, S, 3) uint8,
``template_masks``, ``search_images`` (B, S', S', 3) uint8, ``search_masks``, ``search_anno``
(B, 4) normalised xywh, ``label`` (B,), the brightness multipliers ``*_pixel_scale`` and the skip
counts; ``STEP_KEYS`` go to the device.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from trackjax.families.stark.model import build_stark, dummy_inputs
from trackjax.models import image_normalization
from trackjax.train import checkpointing
from trackjax.train import losses
from trackjax.train import train_data
from trackjax.train.task import StageTask

STEP_KEYS = ("template_images", "template_masks", "template_pixel_scale", "search_images",
             "search_masks", "search_pixel_scale", "search_anno", "label")


class StarkTrainTask:
  """``trackjax.train.task.TrainTask`` for STARK-S and STARK-ST."""

  def __init__(self, config: ml_collections.ConfigDict):
    if config.model.get("matmul_dtype", "float32") not in ("float32", None):
      # Its bf16 rounding goes through integer bit operations, which have no gradient.
      raise ValueError(f"config.model.matmul_dtype={config.model.matmul_dtype!r} is an inference "
                       "option; train with config.train.compute_dtype='bfloat16' instead")
    self.config = config
    self.compute_dtype = jnp.dtype(config.train.compute_dtype)
    self.model = build_stark(config.model, dtype=self.compute_dtype)

  def init_variables(self, rng: jax.Array) -> dict[str, Any]:
    return self.model.init({"params": rng, "dropout": rng}, *dummy_inputs(self.config.model),
                           train=False)

  def stage(self, stage_name: str) -> StageTask:
    stage = self.config.train[stage_name]
    run_box_head = stage.giou_weight > 0 or stage.l1_weight > 0
    run_score_head = stage.cls_weight > 0
    if run_score_head and not self.config.model.score_head:
      raise ValueError(f"train.{stage_name}.cls_weight > 0 needs a model with a score head")
    frozen = []
    if self.config.model.score_head and not run_score_head:
      frozen.append(r"^cls_head/")
    if not run_box_head:
      frozen.append(r"^box_head/")
    model, dtype = self.model, self.compute_dtype

    def loss_fn(variables, batch, rng, train: bool):
      templates = image_normalization.normalize_images(
          batch["template_images"], dtype, batch["template_pixel_scale"])
      search = image_normalization.normalize_images(
          batch["search_images"], dtype, batch["search_pixel_scale"])
      outputs, updates = model.apply(
          variables, templates, batch["template_masks"], search, batch["search_masks"],
          train=train, run_box_head=run_box_head, run_score_head=run_score_head,
          rngs={"dropout": rng}, mutable=["batch_stats"] if train else [])
      terms = {}
      loss = jnp.zeros((), jnp.float32)
      if run_box_head:
        terms.update(losses.box_losses(outputs["pred_boxes"][:, 0], batch["search_anno"]))
        loss += stage.giou_weight * terms["giou"] + stage.l1_weight * terms["l1"]
      if run_score_head:
        logits = outputs["pred_logits"][:, 0, 0]
        terms["cls"] = losses.bce_with_logits(logits, batch["label"])
        terms["accuracy"] = jnp.mean(((logits > 0) == (batch["label"] > 0.5)).astype(jnp.float32))
        loss += stage.cls_weight * terms["cls"]
      return loss, (terms, updates)

    return StageTask(loss=loss_fn, frozen="|".join(frozen), batch_keys=STEP_KEYS)

  def make_iterator(self, config, stage, *, split, seed, global_batch_size, process_index=0,
                    process_count=1):
    return build_iterator(config, stage, split=split, seed=seed,
                          global_batch_size=global_batch_size, process_index=process_index,
                          process_count=process_count)

  def with_backbone(self, variables, directory: str, abstract_variables):
    return checkpointing.import_backbone(variables, directory, abstract_variables,
                                         self.config.model)

  def fresh_start_warning(self) -> str:
    return checkpointing.random_frozen_bn_warning(self.config.model, "the reference")


def train_task(config: ml_collections.ConfigDict) -> StarkTrainTask:
  """The family's ``TrainTask``; refuses ``config.model.matmul_dtype='bfloat16'``."""
  return StarkTrainTask(config)


def stark_data_config(config: ml_collections.ConfigDict, stage: str,
                      split: str = "train") -> ml_collections.ConfigDict:
  """The ``data_pipelines`` settings for ``stage`` of the recipe ``config`` and ``split``, with
  the datasets resolved (``train_datasets`` holds the entries of ``split``)."""
  data = train_data.crop_data_config(config, split)  # the reference's validation transform too
  model = config.model
  data.sampler.num_template = model.num_templates
  if model.num_templates == 1:
    data.sampler.mode = "causal"
  data.sampler.train_cls = bool(config.train[stage].classification_samples)
  return data


def build_iterator(config: ml_collections.ConfigDict, stage: str, *, split: str, seed: int,
                   global_batch_size: int, process_index: int = 0, process_count: int = 1):
  """The ``data_pipelines`` train iterator of template/search crops for ``stage`` and ``split``."""
  return train_data.crop_iterator(
      stark_data_config(config, stage, split), seed=seed, global_batch_size=global_batch_size,
      process_index=process_index, process_count=process_count)
