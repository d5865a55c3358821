"""Checkpoints of a training stage: model, optimizer state, step and input-iterator state together.

Layout of one stage directory (``WORKDIR/stage1``, ``WORKDIR/stage2``):

* ``checkpoints/<step>/{state,data}``: Orbax ``CheckpointManager`` items. ``state`` is the train
  state pytree (step, params, batch_stats, constants, opt_state); ``data`` the position of the
  global input stream (one JSON written by process 0: global batches consumed, the process count
  and each process's skip counts; ``TrainIterator.stream_state``), so a run resumes on any number
  of processes with the same global batches. Iterators without ``stream_state`` (and checkpoints
  of older versions) keep Grain's per-process JSON files, which restore onto the same process
  count only. Saves are asynchronous; the latest N and every ``keep_period``-th step are kept.
  A checkpoint is committed (renamed from its temporary name by process 0) only after every
  process finished writing it, so a killed run, one killed process included, leaves at most an
  unfinished temporary directory, which Orbax ignores: resume starts from the last complete one.
* ``final/``: the trained variables (``params``, ``batch_stats``, ``constants``) written with
  ``trackjax.weights.save_variables`` when the stage ends; what the tracker and the next stage load.

Initial weights: ``load_init_variables`` (``config.init_from``: a whole model) and
``load_backbone_variables`` (``config.init_backbone_from``: a converted ImageNet ResNet).

Parameters are replicated, so a checkpoint restores onto any device and process count (the
restore target carries the current mesh's sharding).
"""

from __future__ import annotations

import glob
import json
import os
from typing import Any

import grain
import jax
from jax.experimental import multihost_utils
import numpy as np
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers

from trackjax import weights

CHECKPOINT_DIR = "checkpoints"
FINAL_DIR = "final"
VARIABLE_COLLECTIONS = ("params", "batch_stats", "constants")


def make_manager(stage_dir: str, keep: int, keep_period: int = 0) -> ocp.CheckpointManager:
  """A manager for ``stage_dir/checkpoints`` keeping the last ``keep`` and every ``keep_period``-th."""
  policies = [checkpoint_managers.LatestN(max(int(keep), 1))]
  if keep_period and keep_period > 0:
    policies.append(checkpoint_managers.EveryNSteps(int(keep_period)))
  options = ocp.CheckpointManagerOptions(
      preservation_policy=checkpoint_managers.AnyPreservationPolicy(policies),
      enable_async_checkpointing=True, create=True)
  return ocp.CheckpointManager(
      os.path.join(os.path.abspath(stage_dir), CHECKPOINT_DIR),
      item_names=("state", "data"), options=options)


def save(manager: ocp.CheckpointManager, step: int, state: Any, iterator: Any) -> None:
  """Starts an asynchronous save of ``state`` and the iterator position after ``step`` steps.

  Every process must call it at the same step (the stream position is gathered from all).
  """
  args = {"state": ocp.args.StandardSave(state)}
  if hasattr(iterator, "stream_state"):
    stream = iterator.stream_state(_gather_json(iterator.get_state()))
    args["data"] = ocp.args.JsonSave(stream)
  elif iterator is not None:
    args["data"] = grain.checkpoint.CheckpointSave(iterator)
  manager.save(step, args=ocp.args.Composite(**args), force=True)


def restore_latest(manager: ocp.CheckpointManager, abstract_state: Any, iterator: Any):
  """(state, step) of the latest complete checkpoint, or (None, 0) when there is none.

  ``abstract_state`` gives shapes, dtypes and target shardings; ``iterator`` is set in place, for
  this process's slice of the saved global stream.

  Raises:
    ValueError: for a checkpoint with per-process iterator files of another process count.
  """
  step = manager.latest_step()
  if step is None:
    return None, 0
  args = {"state": ocp.args.StandardRestore(abstract_state)}
  per_process = sorted(glob.glob(os.path.join(str(manager.directory), str(step), "data",
                                              "process_*-of-*.json")))
  if iterator is not None and per_process:
    saved_count = int(per_process[0].rsplit("-of-", 1)[1].split(".")[0])
    if saved_count != jax.process_count():
      raise ValueError(
          f"{os.path.dirname(per_process[0])}: the input iterator was saved per process by "
          f"{saved_count} process(es) (an older checkpoint format, or an iterator without "
          f"stream_state); resume it with {saved_count} process(es), or start a new run from "
          "its weights with --config.init_from")
    args["data"] = grain.checkpoint.CheckpointRestore(iterator)
  elif iterator is not None:
    args["data"] = ocp.args.JsonRestore()
  restored = manager.restore(step, args=ocp.args.Composite(**args))
  if iterator is not None and not per_process:
    iterator.set_stream_state(restored["data"], jax.process_index(), jax.process_count())
  return restored["state"], step


def _gather_json(value: Any) -> list[Any]:
  """``value`` (JSON-able) of every process, in process order (a collective: all must call)."""
  if jax.process_count() == 1:
    return [value]
  encoded = np.frombuffer(json.dumps(value).encode(), np.uint8)
  lengths = multihost_utils.process_allgather(np.array([encoded.size], np.int32))
  padded = np.zeros(int(np.max(lengths)), np.uint8)
  padded[:encoded.size] = encoded
  rows = multihost_utils.process_allgather(padded)
  return [json.loads(bytes(row[:int(n)]).decode())
          for row, n in zip(np.asarray(rows), np.asarray(lengths).reshape(-1))]


def save_final_variables(stage_dir: str, variables: dict[str, Any], metadata: dict[str, Any]):
  weights.save_variables(os.path.join(stage_dir, FINAL_DIR), variables, metadata)


def has_final_variables(stage_dir: str) -> bool:
  return os.path.isdir(os.path.join(stage_dir, FINAL_DIR, "variables"))


def variables_of(state: Any) -> dict[str, Any]:
  return {name: getattr(state, name) for name in VARIABLE_COLLECTIONS}


def load_trained_variables(workdir: str, stages=("stage2", "stage1")) -> dict[str, Any]:
  """The variables of the most advanced finished stage of a training run in ``workdir``.

  ``stages`` are tried in order (default: stage 2, then stage 1; callers with a config pass its
  ``train.stages`` reversed). Also accepts one stage's directory or a directory of converted
  weights.
  """
  return weights.load_variables(trained_variables_dir(workdir, stages))


def trained_variables_dir(workdir: str, stages=("stage2", "stage1")) -> str:
  """The weights directory ``load_trained_variables(workdir, stages)`` reads."""
  workdir = os.path.abspath(workdir)
  if has_final_variables(workdir):  # a stage directory
    return os.path.join(workdir, FINAL_DIR)
  for stage in stages:
    stage_dir = os.path.join(workdir, stage)
    if has_final_variables(stage_dir):
      return os.path.join(stage_dir, FINAL_DIR)
  if os.path.isdir(os.path.join(workdir, "variables")):
    return workdir
  raise FileNotFoundError(
      f"{workdir} holds no finished training stage ({', '.join(stages)}/{FINAL_DIR}/) and no "
      "converted weights")


def load_init_variables(init_from: str, abstract_variables: dict[str, Any]) -> dict[str, Any]:
  """Variables for ``config.init_from``: converted weights or a (stage-1) training run.

  Collections missing from the source keep their fresh initialisation (non-strict, as the
  reference's stage-2 load); every array present must match the model's shapes.
  """
  loaded = load_trained_variables(init_from)
  out = {}
  for name, abstract in abstract_variables.items():
    if name not in loaded:
      out[name] = None
      continue
    _check_same_tree(f"init_from={init_from}", name, loaded[name], abstract)
    out[name] = loaded[name]
  return out


def load_backbone_variables(directory: str, abstract_variables: dict[str, Any],
                            model_config) -> dict[str, Any]:
  """``{'params': tree, 'constants': tree}`` of the backbone for ``config.init_backbone_from``.

  ``directory`` holds a converted ImageNet ResNet (``python -m trackjax.convert resnet``); its
  depth (blocks per stage), width and norm kind must be those of ``model_config``'s backbone.
  """
  field = f"config.init_backbone_from={directory}"
  meta = weights.load_metadata(directory).get("backbone")
  if not os.path.isdir(os.path.join(os.path.abspath(directory), "variables")) or not meta:
    raise ValueError(f"{field}: not a converted ResNet (no variables/ or no 'backbone' in "
                     f"{weights.METADATA_FILE}); write one with `python -m trackjax.convert resnet "
                     "--checkpoint resnet50.pth --out DIR`")
  from trackjax.models.resnet import RESNET_DEPTHS  # pylint: disable=g-import-not-at-top
  depth = int(model_config.backbone_depth)
  blocks = tuple(model_config.get("backbone_blocks") or RESNET_DEPTHS[depth][:3])
  have = tuple(meta["blocks"])[:len(blocks)]
  problems = []
  if have != blocks:
    problems.append(f"its blocks per stage are {tuple(meta['blocks'])} "
                    f"({_resnet_name(meta.get('depth'))}) but config.model.backbone_depth="
                    f"{depth} / backbone_blocks={model_config.get('backbone_blocks')} build "
                    f"{blocks}")
  if int(meta["width"]) != int(model_config.backbone_width):
    problems.append(f"its width is {meta['width']} but config.model.backbone_width="
                    f"{model_config.backbone_width}")
  norm = model_config.get("backbone_norm", "frozen_bn")
  if meta["norm"] != norm:
    problems.append(f"it holds {meta['norm']} statistics but config.model.backbone_norm="
                    f"{norm!r} (ImageNet starts use 'frozen_bn', as the reference)")
  if problems:
    raise ValueError(f"{field} does not fit the model's backbone: " + "; ".join(problems))
  loaded = weights.load_variables(directory)
  out = {}
  for collection in ("params", "constants"):
    abstract = abstract_variables.get(collection, {}).get("backbone")
    if abstract is None:
      continue
    tree = loaded.get(collection)
    if tree is None:
      raise ValueError(f"{field}: holds no {collection!r} collection")
    _check_same_tree(field, collection, tree, abstract)
    out[collection] = tree
  return out


def with_backbone(variables: dict[str, Any], backbone: dict[str, Any]) -> dict[str, Any]:
  """``variables`` with the ``backbone`` subtree of each collection in ``backbone`` replaced."""
  out = dict(variables)
  for collection, tree in backbone.items():
    out[collection] = dict(out[collection], backbone=tree)
  return out


def _resnet_name(depth) -> str:
  return f"ResNet-{depth}" if depth else "a non-standard ResNet"


def _check_same_tree(source: str, name: str, loaded: Any, abstract: Any) -> None:
  loaded_paths = {jax.tree_util.keystr(p): getattr(x, "shape", None)
                  for p, x in jax.tree_util.tree_flatten_with_path(loaded)[0]}
  wanted = {jax.tree_util.keystr(p): x.shape
            for p, x in jax.tree_util.tree_flatten_with_path(abstract)[0]}
  missing = sorted(set(wanted) - set(loaded_paths))
  wrong = sorted(k for k in set(wanted) & set(loaded_paths)
                 if tuple(loaded_paths[k]) != tuple(wanted[k]))
  if missing or wrong:
    detail = [f"missing {k}" for k in missing[:5]] + [
        f"{k}: {tuple(loaded_paths[k])} != {tuple(wanted[k])}" for k in wrong[:5]]
    raise ValueError(f"{source}: collection {name!r} does not fit the model: "
                     + "; ".join(detail))


def import_backbone(variables: dict[str, Any], directory: str, abstract_variables: dict[str, Any],
                    model_config) -> dict[str, Any]:
  """``variables`` with the ResNet trunk of a converted ImageNet ResNet (``python -m
  trackjax.convert resnet``) in ``directory``: a ``TrainTask.with_backbone``."""
  return with_backbone(variables,
                       load_backbone_variables(directory, abstract_variables, model_config))


def random_frozen_bn_warning(model_config, recipe: str = "the reference") -> str:
  """A ``TrainTask.fresh_start_warning`` for ResNet backbones with frozen batch norm."""
  if model_config.get("backbone_norm") != "frozen_bn":
    return ""
  return ("random backbone with frozen batch norm (identity statistics, so no normalisation "
          f"at all); {recipe} starts from ImageNet: python -m trackjax.convert resnet "
          "--checkpoint resnet50.pth --out DIR, then --config.init_backbone_from=DIR")
