"""FineTrack's training task for the generic loop (``trackjax.train.loop``): loss, data, backbone.

One stage (``stage1``): ``losses.finetrack_losses`` with the stage's loss fields (identity
cross-entropy with label smoothing on the global and every part embedding, batch-hard triplet
loss on both, the mask diversity term). The loss reaches every parameter, so the task freezes
nothing itself.

Input (``sampling``): whole frames of MOT training sequences (``config.data.mot_mix`` over
``config.data.mot_roots``, read by ``data_pipelines.sources.mot_challenge``), resized to
``config.model.image_size``, with their ground-truth training boxes as ROIs, batched by
Shuffle-Group Sampling (``config.data.sgs``). A batch holds ``images`` (B, H, W, 3) uint8,
``boxes`` (B, R, 4) xyxy pixels, ``labels`` (B, R) identity indices, ``valid`` (B, R) and the
skip counts; ``STEP_KEYS`` go to the device. The synthetic MOT set (``synthetic_mot`` with an
empty root) is written once into ``config.data.mot_synthetic.cache_dir``.

The Grain backend of ``data_pipelines`` (``GrainBatches`` over the sample function, wrapped in
the generic ``TrainIterator``: skip-rate guard, checkpointable position) carries the batches; a
sample is a pure function of (seed, global index), so the loop's exact resume holds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from trackjax.families.finetrack.losses import finetrack_losses
from trackjax.families.finetrack.model import build_finetrack, dummy_inputs
from trackjax.families.finetrack.sampling import MotGroupSampleFn
from trackjax.models import image_normalization
from trackjax.train import checkpointing
from trackjax.train.task import StageTask

STEP_KEYS = ("images", "boxes", "labels", "valid")
MOT_DATASETS = ("mot17", "mot20", "dancetrack", "synthetic_mot")


def synthetic_root(synthetic: ml_collections.ConfigDict) -> str:
  """The folder of the synthetic MOT set of these sizes (written on first use, atomically)."""
  from data_pipelines.synthetic import mot  # pylint: disable=g-import-not-at-top
  sizes = dict(train_sequences=int(synthetic.train_sequences),
               test_sequences=int(synthetic.test_sequences), frames=int(synthetic.frames),
               image_size=tuple(int(s) for s in synthetic.image_size),
               targets=tuple(int(t) for t in synthetic.targets), seed=int(synthetic.seed))
  key = hashlib.sha1(json.dumps(sizes, sort_keys=True).encode()).hexdigest()[:12]
  root = os.path.join(os.path.expanduser(synthetic.cache_dir), key)
  if not os.path.isdir(root):
    os.makedirs(os.path.dirname(root), exist_ok=True)
    scratch = tempfile.mkdtemp(prefix=".writing_", dir=os.path.dirname(root))
    mot.write_synthetic_mot(scratch, **sizes)
    try:
      os.rename(scratch, root)
    except OSError:  # another process wrote it first
      shutil.rmtree(scratch, ignore_errors=True)
    logging.info("synthetic MOT data written to %s (%s)", root, sizes)
  return root


def dataset_entries(config: ml_collections.ConfigDict, split: str = "train") -> list[dict]:
  """``config.data.mot_mix`` (train) or ``mot_val_mix`` (val) as reader entries.

  An entry is ``name`` or ``name@split`` (e.g. ``dancetrack@val``); roots from
  ``config.data.mot_roots.<name>``; ``synthetic_mot`` with an empty root is the generated set
  (its ``test`` split is the held-out one).
  """
  data = config.data
  mix = data.mot_mix if split == "train" else data.mot_val_mix
  names = [n.strip() for n in str(mix or "").split(",") if n.strip()]
  if not names:
    if split == "train":
      raise ValueError("no MOT training data: config.data.mot_mix is empty; set e.g. "
                       "--config.data.mot_mix=mot17 --config.data.mot_roots.mot17=/data/MOT17 "
                       "(or the :quickstart variant, synthetic_mot)")
    raise ValueError("no MOT validation data: set config.data.mot_val_mix (e.g. "
                     "synthetic_mot@test) or --config.train.val_every_epochs=0")
  entries = []
  for item in names:
    name, _, item_split = item.partition("@")
    if name not in MOT_DATASETS:
      raise ValueError(f"config.data.mot_mix: unknown MOT dataset {name!r}; use "
                       f"{', '.join(MOT_DATASETS)}")
    root = str(data.mot_roots.get(name, "") or "")
    if not root and name == "synthetic_mot":
      root = synthetic_root(data.mot_synthetic)
    if not root:
      raise ValueError(f"config.data.mot_roots.{name} is empty: set it to the dataset folder "
                       f"(holding train/<seq>/seqinfo.ini)")
    entries.append(dict(dataset=name, root=root,
                        split=item_split or (data.mot_split if split == "train" else "test")))
  return entries


def sample_fn(config: ml_collections.ConfigDict, split: str, seed: int,
              global_batch_size: int) -> MotGroupSampleFn:
  """The shuffle-group sample function of ``split`` (module docstring)."""
  data, model = config.data, config.model
  train = split == "train"
  return MotGroupSampleFn(
      dataset_entries(config, split), seed=seed, global_batch_size=global_batch_size,
      frames_per_group=int(data.sgs.frames_per_group), group_span=int(data.sgs.group_span),
      image_size=tuple(model.image_size), max_rois=int(data.rois.max_per_frame),
      min_visibility=float(data.rois.min_visibility),
      flip_prob=float(data.rois.flip_prob) if train else 0.0,
      box_jitter=float(data.rois.box_jitter) if train else 0.0,
      num_identities=int(model.num_identities) if train else None)


class FinetrackTrainTask:
  """``trackjax.train.task.TrainTask`` for FineTrack."""

  def __init__(self, config: ml_collections.ConfigDict):
    if int(config.data.sgs.frames_per_group) <= 0 or (
        int(config.train.global_batch_size) % int(config.data.sgs.frames_per_group)):
      raise ValueError(f"config.train.global_batch_size={config.train.global_batch_size} must be "
                       f"a multiple of config.data.sgs.frames_per_group="
                       f"{config.data.sgs.frames_per_group} (whole groups per batch)")
    self.config = config
    self.compute_dtype = jnp.dtype(config.train.compute_dtype)
    self.model = build_finetrack(config.model, dtype=self.compute_dtype)

  def init_variables(self, rng: jax.Array) -> dict[str, Any]:
    return self.model.init({"params": rng}, *dummy_inputs(self.config.model))

  def stage(self, stage_name: str) -> StageTask:
    fields = self.config.train[stage_name]
    model, dtype = self.model, self.compute_dtype

    def loss_fn(variables, batch, rng, train: bool):
      del rng  # nothing random in the network
      images = image_normalization.normalize_images(batch["images"], dtype)
      outputs = model.apply(variables, images, batch["boxes"], train=train)
      loss, terms = finetrack_losses(outputs, batch["labels"], batch["valid"], fields)
      return loss, (terms, {})

    return StageTask(loss=loss_fn, frozen="", batch_keys=STEP_KEYS)

  def check_datasets(self) -> str:
    """The loop's data check (before anything is written): the training sequences are read
    and the identities counted against ``config.model.num_identities``."""
    fn = sample_fn(self.config, "train", 0, int(self.config.train.global_batch_size))
    return f"[data] training: {fn.describe()}"

  def make_iterator(self, config, stage, *, split, seed, global_batch_size, process_index=0,
                    process_count=1):
    del stage  # one kind of sample
    from data_pipelines import train_iterator  # pylint: disable=g-import-not-at-top
    if global_batch_size % process_count:
      raise ValueError(f"global batch {global_batch_size} does not split over {process_count} "
                       "processes")
    fn = sample_fn(config, split, seed, global_batch_size)
    logging.info("MOT %s data: %s", split, fn.describe())
    local_batch = global_batch_size // process_count
    data = config.data
    if data.backend == "tfdata":
      from data_pipelines import tfdata_pipeline  # pylint: disable=g-import-not-at-top
      backend = tfdata_pipeline.TfDataBatches(fn, local_batch, global_batch_size, process_index,
                              num_parallel_calls=data.num_workers)
    else:
      from data_pipelines.grain_pipeline import GrainBatches  # pylint: disable=g-import-not-at-top
      backend = GrainBatches(fn, local_batch, global_batch_size, process_index,
                             num_workers=data.num_workers,
                             worker_buffer_size=data.worker_buffer_size,
                             read_threads=data.read_threads)
    return train_iterator.TrainIterator(backend, fn.dataset_names(), data.max_skip_rate,
                                        data.skip_check_min_draws, local_batch=local_batch)

  def with_backbone(self, variables, directory: str, abstract_variables):
    """The converted ImageNet ResNet's stem and layer1-3 (``python -m trackjax.convert resnet``
    leaves layer4 out); layer4 keeps its fresh initialisation, with a warning."""
    trunk = {c: {"backbone": {k: v for k, v in tree.get("backbone", {}).items()
                              if not k.startswith("layer4_")}}
             for c, tree in abstract_variables.items() if "backbone" in tree}
    model = ml_collections.ConfigDict(self.config.model.to_dict())
    if model.get("backbone_blocks"):  # the converted trunk has three stages
      model.backbone_blocks = tuple(model.backbone_blocks)[:3]
    loaded = checkpointing.load_backbone_variables(directory, trunk, model)
    out = dict(variables)
    for collection, tree in loaded.items():
      merged = dict(out[collection]["backbone"], **tree)
      out[collection] = dict(out[collection], backbone=merged)
    logging.warning("config.init_backbone_from=%s: stem and layer1-3 imported; layer4 starts "
                    "from a fresh initialisation (the converter leaves it out)", directory)
    return out

  def fresh_start_warning(self) -> str:
    return checkpointing.random_frozen_bn_warning(self.config.model, "FineTrack's recipe")


def train_task(config: ml_collections.ConfigDict) -> FinetrackTrainTask:
  """The family's ``TrainTask``; refuses a batch that does not hold whole groups."""
  return FinetrackTrainTask(config)
