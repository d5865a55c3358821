"""MAPNet-R's training task for the generic loop (``trackjax.train.loop``): loss, data, backbone.

One stage (``stage1``, TransT's recipe): ``losses.mapnet_losses`` with the stage's loss fields
(``config.loss_config()`` merged into ``config.train.stage1``: precision-guided classification,
confidence-guided regression, TransT's weights 8.334 / 5 / 2 and background weight 0.0625). The
loss reaches every parameter, so the task freezes nothing itself (the stage's ``frozen`` pattern
holds TransT's frozen conv1 and layer1).

Input: one template and one search crop per sample (TransT's sampler; ``data_pipelines``'
``'causal'`` mode with ``num_template=1``), crops 128 (factor 2) and 256 (factor 4) at stride 8
from ``config.model`` (``mapnet_data_config``). A batch holds ``template_images`` (B, 1, S, S, 3)
uint8 (template 0 is the one used), ``template_masks``, ``search_images`` (B, S', S', 3),
``search_masks``, ``search_anno`` (B, 4) normalised xywh, the brightness multipliers
``*_pixel_scale`` and the skip counts; ``STEP_KEYS`` go to the device.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from trackjax.families.mapnet.losses import mapnet_losses
from trackjax.families.mapnet.model import build_mapnet, dummy_inputs
from trackjax.models import image_normalization
from trackjax.models.position_encoding import downsample_mask
from trackjax.train import checkpointing
from trackjax.train import train_data
from trackjax.train.task import StageTask

STEP_KEYS = ("template_images", "template_masks", "template_pixel_scale", "search_images",
             "search_masks", "search_pixel_scale", "search_anno")


class MapnetTrainTask:
  """``trackjax.train.task.TrainTask`` for MAPNet-R."""

  def __init__(self, config: ml_collections.ConfigDict):
    if config.model.get("matmul_dtype", "float32") not in ("float32", None):
      # Its bf16 rounding goes through integer bit operations, which have no gradient.
      raise ValueError(f"config.model.matmul_dtype={config.model.matmul_dtype!r} is an inference "
                       "option; train with config.train.compute_dtype='bfloat16' instead")
    self.config = config
    self.compute_dtype = jnp.dtype(config.train.compute_dtype)
    self.model = build_mapnet(config.model, dtype=self.compute_dtype)

  def init_variables(self, rng: jax.Array) -> dict[str, Any]:
    return self.model.init({"params": rng, "dropout": rng}, *dummy_inputs(self.config.model),
                           train=False)

  def stage(self, stage_name: str) -> StageTask:
    stage = self.config.train[stage_name]
    model, dtype = self.model, self.compute_dtype
    stride = int(self.config.model.feature_stride)

    def loss_fn(variables, batch, rng, train: bool):
      templates = image_normalization.normalize_images(
          batch["template_images"][:, 0], dtype, batch["template_pixel_scale"][:, 0])
      search = image_normalization.normalize_images(
          batch["search_images"], dtype, batch["search_pixel_scale"])
      outputs, updates = model.apply(
          variables, templates, batch["template_masks"][:, 0], search, batch["search_masks"],
          train=train, rngs={"dropout": rng}, mutable=["batch_stats"] if train else [])
      padding = downsample_mask(batch["search_masks"], stride)
      padding = padding.reshape(padding.shape[0], -1)  # row-major search tokens
      loss, terms = mapnet_losses(outputs, batch["search_anno"], stage, search_padding=padding)
      terms = dict(terms)
      terms.pop("loss", None)
      return loss, (terms, updates)

    return StageTask(loss=loss_fn, frozen="", batch_keys=STEP_KEYS)

  def make_iterator(self, config, stage, *, split, seed, global_batch_size, process_index=0,
                    process_count=1):
    return build_iterator(config, stage, split=split, seed=seed,
                          global_batch_size=global_batch_size, process_index=process_index,
                          process_count=process_count)

  def with_backbone(self, variables, directory: str, abstract_variables):
    return checkpointing.import_backbone(variables, directory, abstract_variables,
                                         self.config.model)

  def fresh_start_warning(self) -> str:
    return checkpointing.random_frozen_bn_warning(self.config.model, "TransT's recipe")


def train_task(config: ml_collections.ConfigDict) -> MapnetTrainTask:
  """The family's ``TrainTask``; refuses ``config.model.matmul_dtype='bfloat16'``."""
  return MapnetTrainTask(config)


def mapnet_data_config(config: ml_collections.ConfigDict, stage: str,
                       split: str = "train") -> ml_collections.ConfigDict:
  """The ``data_pipelines`` settings for ``stage`` and ``split`` with the datasets resolved:
  MAPNet's crops (``config.model``) and one template per sample."""
  del stage  # one kind of sample in every stage
  data = train_data.crop_data_config(config, split)  # no augmentation on validation pairs
  data.sampler.num_template = 1  # TransTSampler: one template, one search frame
  data.sampler.mode = "causal"
  data.sampler.train_cls = False
  return data


def build_iterator(config: ml_collections.ConfigDict, stage: str, *, split: str, seed: int,
                   global_batch_size: int, process_index: int = 0, process_count: int = 1):
  """The ``data_pipelines`` train iterator of template/search crops for ``stage`` and ``split``."""
  return train_data.crop_iterator(
      mapnet_data_config(config, stage, split), seed=seed, global_batch_size=global_batch_size,
      process_index=process_index, process_count=process_count)
