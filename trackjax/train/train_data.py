"""Which datasets a run trains and validates on, resolved once for every family.

The datasets are ``config.data.mix`` / ``val_mix`` over ``config.data.roots`` plus the Python
lists ``train_datasets`` / ``val_datasets``, resolved by ``data_pipelines.config.resolve_datasets``;
validation falls back to the synthetic val split only when training on the synthetic dataset
alone. ``split_data_config(config, split)`` is the ``data_pipelines`` config of one split with
those entries resolved; a family's train task adds what its recipe fixes (crop sizes, template
count, sample kind) and builds its iterator from it (``trackjax.train.task.IteratorFactory``).
"""

from __future__ import annotations

from typing import Any

import ml_collections

from data_pipelines import config as data_config_lib


def split_data_config(config: ml_collections.ConfigDict,
                      split: str = "train") -> ml_collections.ConfigDict:
  """A copy of ``config.data`` (defaults when absent) for ``split``: ``train_datasets`` holds the
  resolved entries of ``split``, the mixes and ``val_datasets`` are empty, and
  ``samples_per_epoch`` is ``config.train.samples_per_epoch``."""
  data = ml_collections.ConfigDict(_data_config(config).to_dict())
  if config.get("train") is not None and "samples_per_epoch" in config.train:
    data.samples_per_epoch = config.train.samples_per_epoch
  entries = training_datasets(config) if split == "train" else validation_datasets(config)
  data.mix, data.val_mix, data.val_datasets = "", "", []
  data.train_datasets = entries
  return data


def training_datasets(config: ml_collections.ConfigDict) -> list[dict[str, Any]]:
  """Source entries of ``config.data.mix`` + ``config.data.train_datasets``."""
  data = _data_config(config)
  try:
    entries = data_config_lib.resolve_datasets(data, "train", synthetic=_synthetic_sizes(config))
  except ValueError as e:
    if data.get("train_datasets"):
      raise ValueError(f"{e} (config.data.train_datasets entries are added to the mix: set "
                       "config.data.mix='' to train on them alone)") from e
    if config.get("variant", "") not in ("tiny", "quickstart"):  # a recipe on real datasets
      raise ValueError(f"{e}. Without datasets at hand, the config's :quickstart variant trains "
                       "on the embedded synthetic data") from e
    raise
  if not entries:
    raise ValueError("no training data: config.data.mix and config.data.train_datasets are empty; "
                     "set e.g. --config.data.mix=custom:1 --config.data.roots.custom=/my/videos "
                     "(or --config.data.mix=synthetic:1)")
  return entries


def validation_datasets(config: ml_collections.ConfigDict) -> list[dict[str, Any]]:
  """Source entries of ``config.data.val_mix`` + ``config.data.val_datasets``.

  When both are empty and the training data is the synthetic dataset alone, its held-out val
  split is used; otherwise there is no validation data, which is an error.
  """
  data = _data_config(config)
  off = "or switch validation off with --config.train.val_every_epochs=0"
  try:
    entries = data_config_lib.resolve_datasets(data, "val", synthetic=_synthetic_sizes(config))
  except ValueError as e:
    raise ValueError(f"{e}; {off}") from e
  if entries:
    return entries
  train = training_datasets(config)
  if all(e["name"] == "synthetic" for e in train):
    return [synthetic_dataset(config, "val")]
  raise ValueError(
      "no validation data: config.data.val_mix and config.data.val_datasets are empty while "
      f"training on {data_config_lib.describe(train)}. Name held-out sequences, e.g. "
      "--config.data.val_mix=custom@/my/held_out_videos:1, or "
      "--config.data.val_mix=got10k_votval:1 --config.data.roots.got10k=/path/to/got10k; "
      f"{off}")


def synthetic_dataset(config: ml_collections.ConfigDict, split: str) -> dict[str, Any]:
  """The embedded synthetic dataset entry (``config.synthetic`` sizes when present)."""
  data = data_config_lib.default_data_config()
  data.mix = data.val_mix = "synthetic:1"
  return data_config_lib.resolve_datasets(
      data, "train" if split == "train" else "val", synthetic=_synthetic_sizes(config))[0]


def _data_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  if config.get("data") is not None:
    return config.data
  return data_config_lib.default_data_config()


def _synthetic_sizes(config: ml_collections.ConfigDict) -> dict[str, Any]:
  synth = config.get("synthetic") or {}
  return {k: synth[k] for k in data_config_lib.SYNTHETIC_DEFAULTS if k in synth}


def crop_data_config(config: ml_collections.ConfigDict,
                     split: str = "train") -> ml_collections.ConfigDict:
  """``split_data_config`` with the template/search crops of ``config.model`` (sizes, factors,
  stride); validation samples without augmentation (the reference trackers' validation transform:
  no brightness jitter, no flip). The family adds its sampler settings."""
  data = split_data_config(config, split)
  model = config.model
  data.processing.template_size = model.template_size
  data.processing.search_size = model.search_size
  data.processing.template_factor = model.template_factor
  data.processing.search_factor = model.search_factor
  data.processing.backbone_stride = model.feature_stride
  if split == "val":
    data.processing.brightness_jitter = 0.0
    data.processing.crop_flip_prob = 0.0
  return data


def crop_iterator(data_config: ml_collections.ConfigDict, *, seed: int, global_batch_size: int,
                  process_index: int = 0, process_count: int = 1):
  """The ``data_pipelines`` train iterator of template/search crops (``sot_processing``)."""
  from data_pipelines import sot_processing  # pylint: disable=g-import-not-at-top
  from data_pipelines import train_iterator  # pylint: disable=g-import-not-at-top
  return train_iterator.build_train_iterator(
      data_config, seed=seed, global_batch_size=global_batch_size,
      build_processor=sot_processing.build_processor, process_index=process_index,
      process_count=process_count)
