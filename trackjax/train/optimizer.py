"""Parameter groups, freezing and the AdamW optimizer of a training stage, all from config.

Every parameter gets one label from its ``'a/b/c'`` path:

* ``'frozen'``: does not match ``stage.trainable`` or matches ``stage.frozen``. Its update is zero
  (``optax.set_to_zero``: no optimizer state is kept for it) and its gradient is left out of the
  clipping norm.
* ``'backbone'``: under ``backbone/``; learning rate x ``stage.backbone_lr_scale``.
* ``'other'``: everything else; learning rate ``stage.learning_rate``.

AdamW follows ``torch.optim.AdamW`` (betas 0.9/0.999, eps 1e-8 outside the square root, decoupled
weight decay ``p -= lr * wd * p`` on every trainable parameter). The learning rate is a per-epoch
``StepLR``: multiplied by ``stage.lr_drop_factor`` every ``stage.lr_drop_epoch`` epochs.
"""

from __future__ import annotations

import re
from typing import Any, Callable

import jax
import optax

FROZEN, BACKBONE, OTHER = "frozen", "backbone", "other"
GROUPS = (BACKBONE, OTHER)


def path_string(path) -> str:
  """A ``jax.tree_util`` key path as ``'a/b/c'``."""
  parts = []
  for key in path:
    for attr in ("key", "name", "idx"):
      if hasattr(key, attr):
        parts.append(str(getattr(key, attr)))
        break
    else:
      parts.append(str(key))
  return "/".join(parts)


def parameter_labels(params: Any, trainable: str, frozen: str = "") -> Any:
  """The tree of group labels (``FROZEN``, ``BACKBONE``, ``OTHER``) for ``params``."""
  try:
    trainable_re = re.compile(trainable)
    frozen_re = re.compile(frozen) if frozen else None
  except re.error as e:
    raise ValueError(f"stage.trainable / stage.frozen is not a valid regex: {e}") from e

  def label(path, _):
    name = path_string(path)
    if not trainable_re.search(name) or (frozen_re is not None and frozen_re.search(name)):
      return FROZEN
    return BACKBONE if name.startswith("backbone/") else OTHER

  labels = jax.tree_util.tree_map_with_path(label, params)
  if all(l == FROZEN for l in jax.tree_util.tree_leaves(labels)):
    raise ValueError(f"stage.trainable={trainable!r} / stage.frozen={frozen!r} leave no "
                     "parameter to train")
  return labels


def steps_per_epoch(samples_per_epoch: int, global_batch_size: int) -> int:
  steps = samples_per_epoch // global_batch_size
  if steps < 1:
    raise ValueError(f"train.samples_per_epoch={samples_per_epoch} is smaller than "
                     f"train.global_batch_size={global_batch_size}")
  return steps


def learning_rate_schedule(stage, num_steps_per_epoch: int, scale: float = 1.0) -> optax.Schedule:
  """Per-epoch StepLR: ``lr * factor ** (epoch // lr_drop_epoch)`` with epoch = step // spe."""
  if stage.lr_drop_epoch <= 0:
    return optax.constant_schedule(stage.learning_rate * scale)
  return optax.exponential_decay(
      stage.learning_rate * scale, transition_steps=stage.lr_drop_epoch * num_steps_per_epoch,
      decay_rate=stage.lr_drop_factor, staircase=True)


def group_schedules(stage, num_steps_per_epoch: int) -> dict[str, optax.Schedule]:
  return {BACKBONE: learning_rate_schedule(stage, num_steps_per_epoch, stage.backbone_lr_scale),
          OTHER: learning_rate_schedule(stage, num_steps_per_epoch)}


def build_optimizer(stage, labels: Any, num_steps_per_epoch: int) -> optax.GradientTransformation:
  """Zero frozen gradients, clip the rest by global norm, then AdamW per group."""
  schedules = group_schedules(stage, num_steps_per_epoch)
  frozen_mask = jax.tree_util.tree_map(lambda l: l == FROZEN, labels)

  def adamw(schedule: Callable) -> optax.GradientTransformation:
    return optax.adamw(schedule, b1=0.9, b2=0.999, eps=1e-8, weight_decay=stage.weight_decay)

  chain = [optax.masked(optax.set_to_zero(), frozen_mask)]
  if stage.grad_clip_norm and stage.grad_clip_norm > 0:
    chain.append(optax.clip_by_global_norm(stage.grad_clip_norm))
  chain.append(optax.partition(
      {FROZEN: optax.set_to_zero(), BACKBONE: adamw(schedules[BACKBONE]),
       OTHER: adamw(schedules[OTHER])}, labels))
  return optax.chain(*chain)


def trainable_grad_norm(grads: Any, labels: Any):
  """Global L2 norm of the gradients of trainable parameters (what the clipping sees)."""
  kept = jax.tree_util.tree_map(lambda g, l: g if l != FROZEN else None, grads, labels,
                                is_leaf=lambda x: x is None)
  return optax.tree.norm(kept)
