"""The STARK input pipeline as the recipe sees it: an iterator factory over ``data_pipelines``.

``build_iterator(config, stage, split=..., seed=..., global_batch_size=..., process_index=...,
process_count=...)`` returns an iterator of per-process batches (dicts of numpy arrays with a
leading batch dimension: ``template_images`` (B, T, S, S, 3) uint8, ``template_masks``,
``search_images`` (B, S', S', 3) uint8, ``search_masks``, ``search_anno`` (B, 4) normalised xywh,
``label`` (B,), ``skipped`` (B, num_datasets)) whose ``get_state()/set_state()`` Grain's Orbax
handler saves. Tests pass their own factory with the same signature to ``train_and_evaluate``.

The data settings come from ``config.data`` (``data_pipelines.config.default_data_config()`` when
absent); crop sizes, template count and the stage's sample kind come from the model and stage so
that they cannot disagree. With no dataset configured, the embedded synthetic dataset is used:
split ``train`` for training, ``val`` for validation.
"""

from __future__ import annotations

from typing import Any, Protocol

import ml_collections

STEP_KEYS = ("template_images", "template_masks", "search_images", "search_masks",
             "search_anno", "label")


class IteratorFactory(Protocol):

  def __call__(self, config: ml_collections.ConfigDict, stage: str, *, split: str, seed: int,
               global_batch_size: int, process_index: int, process_count: int) -> Any:
    ...


def stark_data_config(config: ml_collections.ConfigDict, stage: str,
                      split: str = "train") -> ml_collections.ConfigDict:
  """The ``data_pipelines`` settings for ``stage`` of the recipe ``config`` and ``split``."""
  if config.get("data") is not None:
    data = ml_collections.ConfigDict(config.data.to_dict())
  else:
    from data_pipelines import config as data_config_lib  # pylint: disable=g-import-not-at-top
    data = data_config_lib.default_data_config()
  model = config.model
  data.processing.template_size = model.template_size
  data.processing.search_size = model.search_size
  data.processing.template_factor = model.template_factor
  data.processing.search_factor = model.search_factor
  data.processing.backbone_stride = model.feature_stride
  data.sampler.num_template = model.num_templates
  if model.num_templates == 1:
    data.sampler.mode = "causal"
  data.sampler.train_cls = bool(config.train[stage].classification_samples)
  data.samples_per_epoch = config.train.samples_per_epoch
  if split == "val":
    datasets = list(data.get("val_datasets") or [])
    if not datasets and not data.train_datasets:
      datasets = [synthetic_dataset(config, "val")]
    if not datasets:
      raise ValueError("config.data.val_datasets is empty: name held-out sequences for "
                       "validation (or set train.val_every_epochs = 0)")
    data.train_datasets = datasets
  elif not data.train_datasets:
    data.train_datasets = [synthetic_dataset(config, "train")]
  return data


def synthetic_dataset(config: ml_collections.ConfigDict, split: str) -> dict[str, Any]:
  """The embedded synthetic dataset entry (``config.synthetic`` sizes when present)."""
  synth = config.get("synthetic") or {}
  size = tuple(synth.get("image_size", (240, 320)))
  return {"name": "synthetic", "ratio": 1, "options": {
      "num_sequences": int(synth.get("num_sequences" if split == "train" else "val_sequences",
                                     200 if split == "train" else 20)),
      "num_frames": int(synth.get("num_frames", 100)),
      "image_size": size, "seed": int(synth.get("seed", 0)), "split": split}}


def build_iterator(config: ml_collections.ConfigDict, stage: str, *, split: str, seed: int,
                   global_batch_size: int, process_index: int = 0, process_count: int = 1):
  """The ``data_pipelines`` train iterator for ``stage`` and ``split``."""
  from data_pipelines import train_iterator  # pylint: disable=g-import-not-at-top
  return train_iterator.build_train_iterator(
      stark_data_config(config, stage, split), seed=seed, global_batch_size=global_batch_size,
      process_index=process_index, process_count=process_count)
