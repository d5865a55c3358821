"""What a tracker family gives the generic train loop: the ``TrainTask`` protocol.

A family's ``train_task(config)`` returns an object with these members (and raises on a config it
cannot train, before anything is written). The loop (``trackjax.train.loop``) owns everything else:
mesh, input iterators, optimizer groups and freezing from ``config.train.<stage>``, shardings, the
jitted steps, the restore order, logs, checkpoints, validation, final variables and the
evaluation after training. Variables are Flax collections: ``params`` (trained) and the others the
train state carries (``batch_stats``, updated by the loss in train mode; ``constants``, never).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Protocol

import jax
import ml_collections

# loss(variables, batch, rng, train) -> (loss, (metrics, updates)):
# * variables: {'params', 'batch_stats', 'constants'}; gradients are taken w.r.t. 'params';
# * batch: the step's arrays (``StageTask.batch_keys``) on the device, global batch first;
# * rng: a fresh key per step (dropout);
# * train: True in the train step, False in validation;
# * metrics: scalars to log (means over the batch); the loop adds 'loss' and 'grad_norm';
# * updates: the collections the model mutated in train mode (e.g. {'batch_stats': ...}), or {}.
LossFn = Callable[[Mapping[str, Any], Mapping[str, jax.Array], jax.Array, bool],
                  tuple[jax.Array, tuple[dict[str, jax.Array], dict[str, Any]]]]


@dataclasses.dataclass(frozen=True)
class StageTask:
  """One stage of a family's recipe, as the loop runs it.

  Attributes:
    loss: the stage's ``LossFn``.
    frozen: regex (over 'a/b/c' parameter paths) of parameters this stage never updates besides
      ``config.train.<stage>.frozen``, e.g. heads its loss never reaches (no gradient, so no
      weight decay either, as torch skips such parameters); '' for none.
    batch_keys: the batch fields the step takes to the device (the rest stays on the host).
  """

  loss: LossFn
  frozen: str = ""
  batch_keys: tuple[str, ...] = ()


class IteratorFactory(Protocol):
  """``make_iterator(config, stage, split=..., ...)``: the input iterator of one stage and split.

  Returns an iterator of per-process batches (dicts of numpy arrays with a leading batch
  dimension, holding at least the stage's ``batch_keys``; ``skipped`` / ``skipped_by_reason``
  counts are logged when present) whose ``get_state()/set_state()`` Grain's Orbax handler saves
  with the model. Tests pass their own factory to ``train_and_evaluate``.
  """

  def __call__(self, config: ml_collections.ConfigDict, stage: str, *, split: str, seed: int,
               global_batch_size: int, process_index: int, process_count: int) -> Any:
    ...


class TrainTask(Protocol):
  """A family's training recipe without a loop.

  Optional: ``check_datasets() -> str``, for a task whose data are not ``config.data.mix``
  (e.g. multi-object sequences): the loop calls it instead of its own dataset check, before
  anything is written, and logs the summary line it returns.
  """

  def init_variables(self, rng: jax.Array) -> dict[str, Any]:
    """Fresh variables (traceable: the loop runs it under ``jax.eval_shape`` and ``jax.jit``)."""
    ...

  def stage(self, stage_name: str) -> StageTask:
    """The loss, extra frozen parameters and batch keys of ``config.train.<stage_name>``."""
    ...

  def make_iterator(self, config: ml_collections.ConfigDict, stage: str, *, split: str,
                    seed: int, global_batch_size: int, process_index: int,
                    process_count: int) -> Any:
    """The family's ``IteratorFactory``: its samples over the datasets of
    ``trackjax.train.train_data``."""
    ...

  def with_backbone(self, variables: dict[str, Any], directory: str,
                    abstract_variables: dict[str, Any]) -> dict[str, Any]:
    """``variables`` with the backbone taken from ``directory`` (``config.init_backbone_from``,
    e.g. a converted ImageNet ResNet); raises when it does not fit the model."""
    ...

  def fresh_start_warning(self) -> str:
    """A warning for a first stage started from a fresh initialisation without
    ``config.init_backbone_from`` (e.g. a random backbone whose norms are frozen); '' for none."""
    ...
