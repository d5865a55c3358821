"""A small deterministic stand-in for the STARK input pipeline (a real Grain iterator).

Batch ``k`` depends only on (seed, split, k): a bright square on noise, its box as the target, so
that the same seed gives the same batches after a checkpoint restore. ``nan_at_batch`` makes one
batch's target NaN (non-finite loss tests); ``sleep_s`` slows the iterator (kill tests).
"""

from __future__ import annotations

import time

import grain
import numpy as np

from trackjax.families.stark import config as stark_config


def tiny_config(max_steps: int, stages=("stage1",), checkpoint_every: int = 2):
  """The ``:tiny`` STARK-ST recipe cut to ``max_steps`` steps per stage."""
  config = stark_config.get_stark_config(depth=50, score_head=True, arg="tiny")
  config.train.stages = tuple(stages)
  config.train.global_batch_size = 8  # divisible by 8 simulated devices
  config.train.samples_per_epoch = 32
  config.train.max_steps = max_steps
  config.train.checkpoint_every_steps = checkpoint_every
  config.train.log_every_steps = 2
  return config


class FakeStarkData:
  """An ``IteratorFactory`` for ``train_and_evaluate(..., make_iterator=FakeStarkData())``."""

  def __init__(self, nan_at_batch: int = -1, sleep_s: float = 0.0):
    self.nan_at_batch = nan_at_batch
    self.sleep_s = sleep_s

  def __call__(self, config, stage, *, split, seed, global_batch_size, process_index=0,
               process_count=1):
    model = config.model
    local = global_batch_size // process_count
    t, ts, ss = model.num_templates, model.template_size, model.search_size
    split_offset = {"train": 0, "val": 1}[split]
    nan_at, sleep_s = self.nan_at_batch, self.sleep_s

    def make_sample(index: int):
      batch_index = index // local
      global_index = batch_index * global_batch_size + process_index * local + index % local
      rng = np.random.default_rng([seed, split_offset, global_index])
      templates = rng.integers(0, 80, (t, ts, ts, 3), dtype=np.uint8)
      templates[:, ts // 4: 3 * ts // 4, ts // 4: 3 * ts // 4] = 230
      search = rng.integers(0, 80, (ss, ss, 3), dtype=np.uint8)
      w, h = rng.uniform(0.15, 0.35, 2)
      x, y = rng.uniform(0.1, 0.9 - w), rng.uniform(0.1, 0.9 - h)
      search[int(y * ss): int((y + h) * ss), int(x * ss): int((x + w) * ss)] = 230
      anno = np.array([x, y, w, h], np.float32)
      if batch_index == nan_at:
        anno[:] = np.nan
      if sleep_s:
        time.sleep(sleep_s)
      return {
          "template_images": templates,
          "template_masks": np.zeros((t, ts, ts), bool),
          "template_anno": np.tile(np.array([0.25, 0.25, 0.5, 0.5], np.float32), (t, 1)),
          "template_pixel_scale": np.full((t,), 1 / 255, np.float32),
          "search_pixel_scale": np.float32(1 / 255),
          "search_images": search,
          "search_masks": np.zeros((ss, ss), bool),
          "search_anno": anno,
          "label": np.float32(global_index % 2),
          "skipped": np.zeros((1,), np.int32),
      }

    dataset = grain.MapDataset.range(1 << 40).map(make_sample).batch(local)
    return dataset.to_iter_dataset().__iter__()
