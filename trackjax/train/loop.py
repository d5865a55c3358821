"""The one train loop: ``train_and_evaluate(config, workdir)`` runs the config's stages.

The family (``config.family``, ``trackjax.families.get_family``) supplies a ``TrainTask``
(``trackjax.train.task``): initialisation, each stage's loss, extra frozen parameters and batch
keys, the input iterator and the backbone import. Everything else is here and the same for every
family: ``config.train.stages`` run in order, a stage starting from the previous one's final
weights when ``config.train.<stage>.init_from_stage`` names it; parameter groups, freezing and
AdamW from ``config.train.<stage>`` (``trackjax.train.optimizer``); data-parallel shardings;
restore; log, checkpoint and validation cadence; final variables; the evaluation after training.

Each stage lives in ``WORKDIR/<stage>/`` (checkpoints, final variables); ``WORKDIR/metrics.jsonl``
and ``WORKDIR/tensorboard/`` hold the logs. Running the same command again resumes where the run
stopped, with the same batches and the same result. Before anything is written, the family checks
the config and the datasets (``config.data.mix`` / ``val_mix`` over ``config.data.roots``) are
resolved by ``check_datasets``, so a missing root or validation set fails at once.

Read top to bottom: mesh, data, model and optimizer, shardings, step, restore, loop.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import os
import time
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from data_pipelines import config as data_config_lib
from data_pipelines import replay
from data_pipelines.train_samples import SKIP_REASONS
from trackjax import console
from trackjax.families import get_family
from trackjax.train import checkpointing
from trackjax.train import metrics_log
from trackjax.train import optimizer as optimizer_lib
from trackjax.train import sharding
from trackjax.train import train_data
from trackjax.train.task import IteratorFactory, TrainTask


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  batch_stats: Any
  constants: Any  # frozen backbone batch-norm statistics: saved, never trained
  opt_state: Any


@dataclasses.dataclass
class StageResult:
  name: str
  steps: int
  last_metrics: dict[str, float]
  val_metrics: dict[str, float]


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, *,
                       make_iterator: IteratorFactory | None = None) -> list[StageResult]:
  """Trains every stage of ``config.train.stages`` in order, resuming from ``workdir``.

  ``make_iterator`` replaces the family's input iterator (tests); the datasets are then not
  checked either.
  """
  family = get_family(config.family)
  task = family.train_task(config)  # refuses a config the family cannot train
  if make_iterator is None:  # before anything is written or compiled; a task reading other
    # datasets than data.mix (e.g. multi-object sequences) checks them itself
    task_check = getattr(task, "check_datasets", None)
    data_summary = task_check() if task_check is not None else check_datasets(config)
  sharding.maybe_initialize_distributed()
  workdir = os.path.abspath(workdir)
  os.makedirs(workdir, exist_ok=True)
  if make_iterator is None and jax.process_index() == 0:
    console.show(data_summary)
  results = []
  for index, stage in enumerate(config.train.stages):
    if stage not in config.train:
      raise ValueError(f"config.train.stages names {stage!r} but config.train.{stage} is missing")
    results.append(train_stage(config, workdir, stage, index, task,
                               make_iterator or task.make_iterator))
  if config.get("evaluate") and config.evaluate.after_training and jax.process_index() == 0:
    evaluate_trained_tracker(config, workdir, family.TASK)
  return results


def validation_every_epochs(config: ml_collections.ConfigDict, stage_name: str) -> int:
  """Validation interval of a stage in epochs; 0 = no validation in it, final one included.

  ``train.val_every_epochs = 0`` (or ``train.val_samples = 0``) switches validation off in every
  stage; ``train.<stage>.val_every_epochs`` > 0 sets that stage's interval, 0 switches it off
  there, -1 keeps the global one.
  """
  global_every = int(config.train.val_every_epochs)
  stage_every = int(config.train[stage_name].get("val_every_epochs", -1))
  if global_every <= 0 or stage_every == 0 or int(config.train.val_samples) <= 0:
    return 0
  return stage_every if stage_every > 0 else global_every


def check_datasets(config: ml_collections.ConfigDict) -> str:
  """Resolves the training data and, for stages that validate, the validation data.

  Raises naming the fields and flags to set (dataset roots, mixes, val_every_epochs) before a run
  writes or compiles anything; returns a summary line for the log.
  """
  train = train_data.training_datasets(config)
  summary = f"[data] training: {data_config_lib.describe(train)}"
  validating = [s for s in config.train.stages if validation_every_epochs(config, s) > 0]
  if validating:
    try:
      val = train_data.validation_datasets(config)
    except ValueError as e:
      raise ValueError(f"{e} (validating in {', '.join(validating)})") from e
    summary += f"; validation: {data_config_lib.describe(val)}"
  else:
    summary += "; no validation"
  return summary


def evaluate_trained_tracker(config: ml_collections.ConfigDict, workdir: str, task: str = "sot"):
  """Runs ``config.evaluate``'s benchmark (held-out synthetic sequences by default) on the run,
  with the benchmark runner of the family's task (``trackjax.<task>.benchmark_runner``)."""
  runner = importlib.import_module(f"trackjax.{task}.benchmark_runner")
  eval_config = ml_collections.ConfigDict(config.to_dict())
  eval_config.evaluate.weights = workdir
  return runner.evaluate(eval_config, os.path.join(workdir, "evaluation"))


def train_stage(config: ml_collections.ConfigDict, workdir: str, stage_name: str,
                stage_index: int, task: TrainTask, make_iterator: IteratorFactory) -> StageResult:
  """One stage: builds everything, restores or initialises, runs the loop, exports the weights."""
  stage = config.train[stage_name]
  stage_task = task.stage(stage_name)
  stage_dir = os.path.join(workdir, stage_name)
  is_main = jax.process_index() == 0

  # ---------------------------------------------------------------- mesh
  mesh = sharding.make_data_mesh()
  global_batch_size, _ = sharding.resolve_batch_sizes(
      config.train, jax.device_count(), jax.process_count())
  replicated = sharding.replicated(mesh)
  batch_sharding = sharding.batch_sharding(mesh)

  # ---------------------------------------------------------------- data
  steps_per_epoch = optimizer_lib.steps_per_epoch(config.train.samples_per_epoch,
                                                  global_batch_size)
  total_steps = stage.epochs * steps_per_epoch
  if config.train.max_steps > 0:
    total_steps = min(total_steps, config.train.max_steps)
  data_seed = config.seed * 1000 + stage_index
  train_iter = make_iterator(config, stage_name, split="train", seed=data_seed,
                             global_batch_size=global_batch_size,
                             process_index=jax.process_index(),
                             process_count=jax.process_count())
  if int(stage.get("replay_batches", 0)) > 0:
    train_iter = replay.ReplayIterator(train_iter, int(stage.replay_batches), seed=data_seed)
  val_every = validation_every_epochs(config, stage_name) * steps_per_epoch
  val_steps = max(config.train.val_samples // global_batch_size, 1)

  # ---------------------------------------------------------------- model and optimizer
  init_rng, dropout_rng = jax.random.split(jax.random.key(config.seed))
  init_variables = task.init_variables
  abstract_variables = jax.eval_shape(init_variables, init_rng)
  # The stage's frozen patterns, then those of the family (e.g. heads the loss never reaches).
  frozen = "|".join(p for p in (stage.frozen, stage_task.frozen) if p)
  labels = optimizer_lib.parameter_labels(abstract_variables["params"], stage.trainable, frozen)
  tx = optimizer_lib.build_optimizer(stage, labels, steps_per_epoch)
  schedules = optimizer_lib.group_schedules(stage, steps_per_epoch)

  def state_from_variables(variables) -> TrainState:
    return TrainState(step=jnp.zeros((), jnp.int32), params=variables["params"],
                      batch_stats=variables.get("batch_stats", {}),
                      constants=variables.get("constants", {}),
                      opt_state=tx.init(variables["params"]))

  # ---------------------------------------------------------------- shardings
  # Parameters and optimizer state are replicated (a single sharding is a prefix of the whole
  # state tree); batches are split over the data axis.
  abstract_state = jax.eval_shape(state_from_variables, abstract_variables)
  abstract_state = sharding.abstract_with_sharding(abstract_state, replicated)

  # ---------------------------------------------------------------- step
  def forward(params, state, batch, rng, train: bool):
    variables = {"params": params, "batch_stats": state.batch_stats,
                 "constants": state.constants}
    loss, (terms, updates) = stage_task.loss(variables, batch, rng, train)
    terms = dict(terms, loss=loss)
    return loss, (terms, updates)

  def train_step(state: TrainState, batch):
    rng = jax.random.fold_in(dropout_rng, state.step)
    grad_fn = jax.value_and_grad(forward, has_aux=True)
    (_, (terms, updates)), grads = grad_fn(state.params, state, batch, rng, True)
    terms["grad_norm"] = optimizer_lib.trainable_grad_norm(grads, labels)
    param_updates, opt_state = tx.update(grads, state.opt_state, state.params)
    new_state = state.replace(
        step=state.step + 1, params=optax.apply_updates(state.params, param_updates),
        opt_state=opt_state, batch_stats=updates.get("batch_stats", state.batch_stats))
    return new_state, terms

  def eval_step(state: TrainState, batch):
    _, (terms, _) = forward(state.params, state, batch, dropout_rng, False)
    return terms

  p_train_step = jax.jit(train_step, in_shardings=(replicated, batch_sharding),
                         out_shardings=(replicated, replicated), donate_argnums=0)
  p_eval_step = jax.jit(eval_step, in_shardings=(replicated, batch_sharding),
                        out_shardings=replicated)

  def device_batch(local_batch):
    keys = stage_task.batch_keys or tuple(k for k in local_batch if not k.startswith("skipped"))
    return sharding.global_batch({k: local_batch[k] for k in keys}, batch_sharding,
                                 global_batch_size)

  # ---------------------------------------------------------------- restore
  # Order: this stage's own checkpoint, else the previous stage's final weights (stage 2) or
  # config.init_from (first stage), else a fresh initialisation, whose backbone comes from
  # config.init_backbone_from (first stage, ImageNet weights) when set.
  manager = checkpointing.make_manager(stage_dir, config.train.keep_checkpoints,
                                       config.train.keep_period_steps)
  state, start_step = checkpointing.restore_latest(manager, abstract_state, train_iter)
  if state is None:
    init_source = ""
    if stage.get("init_from_stage"):
      init_source = os.path.join(workdir, stage.init_from_stage)
      if not checkpointing.has_final_variables(init_source):
        raise FileNotFoundError(f"train.{stage_name} starts from {stage.init_from_stage}, but "
                                f"{init_source} holds no finished stage")
    elif stage_index == 0 and config.get("init_from"):
      init_source = config.init_from
    fresh = jax.jit(init_variables, out_shardings=replicated)(init_rng)
    backbone_source = config.get("init_backbone_from") if stage_index == 0 else ""
    if init_source:
      loaded = checkpointing.load_init_variables(init_source, abstract_variables)
      fresh = {k: loaded[k] if loaded.get(k) is not None else v for k, v in fresh.items()}
      console.show(f"[{stage_name}] initialised from {init_source}"
                   + (" (config.init_backbone_from ignored: init_from gives the whole model)"
                      if backbone_source else ""))
    elif backbone_source:
      fresh = task.with_backbone(fresh, backbone_source, abstract_variables)
      console.show(f"[{stage_name}] backbone initialised from {backbone_source}")
    elif stage_index == 0 and is_main and (warning := task.fresh_start_warning()):
      logging.warning(f"[{stage_name}] {warning}")
    state = jax.jit(state_from_variables, out_shardings=replicated)(fresh)
  else:
    console.show(f"[{stage_name}] resumed from step {start_step}")
  if start_step >= total_steps and checkpointing.has_final_variables(stage_dir):
    manager.close()
    _close(train_iter)
    console.show(f"[{stage_name}] already finished ({start_step} steps)")
    return StageResult(stage_name, start_step, {}, {})

  # ---------------------------------------------------------------- loop
  logger = metrics_log.MetricsLogger(workdir, stage_name, total_steps, start_step,
                                     enabled=is_main)
  log_every = max(int(config.train.log_every_steps), 1)
  checkpoint_every = max(int(config.train.checkpoint_every_steps), 1)
  pending: list[tuple[int, Any]] = []  # (step, device metrics) not yet checked on the host
  sums: dict[str, float] = {}
  counted = 0
  skipped = None  # draws skipped on bad data since this process started, per dataset
  skipped_by_reason = None  # ... and per reason (data_pipelines.train_samples.SKIP_REASONS)
  data_wait = 0.0
  last_metrics: dict[str, float] = {}
  val_metrics: dict[str, float] = {}
  interval_start = time.perf_counter()
  interval_steps = 0

  def check_pending():
    nonlocal counted
    for pending_step, device_metrics in pending:
      host = {k: float(v) for k, v in sharding.to_host(device_metrics).items()}
      metrics_log.check_finite(stage_name, pending_step, host)
      for k, v in host.items():
        sums[k] = sums.get(k, 0.0) + v
      counted += 1
    pending.clear()

  def validate() -> dict[str, float]:
    val_iter = make_iterator(config, stage_name, split="val", seed=config.seed + 10_000,
                             global_batch_size=global_batch_size,
                             process_index=jax.process_index(),
                             process_count=jax.process_count())
    totals: dict[str, float] = {}
    try:
      for _ in range(val_steps):
        terms = sharding.to_host(p_eval_step(state, device_batch(next(val_iter))))
        for k, v in terms.items():
          totals[k] = totals.get(k, 0.0) + float(v)
    finally:
      _close(val_iter)
    return {k: v / val_steps for k, v in totals.items()}

  step = start_step
  try:
    while step < total_steps:
      t0 = time.perf_counter()
      local_batch = next(train_iter)
      data_wait += time.perf_counter() - t0
      if "skipped" in local_batch:
        counts = np.asarray(local_batch["skipped"]).sum(axis=0)
        skipped = counts if skipped is None else skipped + counts
      if "skipped_by_reason" in local_batch:
        counts = np.asarray(local_batch["skipped_by_reason"]).sum(axis=0)
        skipped_by_reason = counts if skipped_by_reason is None else skipped_by_reason + counts
      state, device_metrics = p_train_step(state, device_batch(local_batch))
      step += 1
      interval_steps += 1
      # Check the previous step's metrics while this one runs (keeps the device busy).
      if len(pending) >= 1:
        check_pending()
      pending.append((step, device_metrics))
      logger.advance(step)

      if step % log_every == 0 or step == total_steps:
        check_pending()
        elapsed = time.perf_counter() - interval_start
        last_metrics = {k: v / max(counted, 1) for k, v in sums.items()}
        scalars = dict(last_metrics)
        scalars["samples_per_s"] = interval_steps * global_batch_size / max(elapsed, 1e-9)
        scalars["data_wait_s"] = data_wait / max(interval_steps, 1)
        scalars["epoch"] = step / steps_per_epoch
        for group, schedule in schedules.items():
          scalars[f"lr_{group}"] = float(schedule(step - 1))
        if skipped is not None:
          for i, count in enumerate(np.atleast_1d(skipped)):
            scalars[f"skipped_dataset{i}"] = float(count)
        if skipped_by_reason is not None:
          for (i, r), count in np.ndenumerate(skipped_by_reason):
            if count:
              scalars[f"skipped_dataset{i}_{SKIP_REASONS[r]}"] = float(count)
        logger.write(step, scalars)
        logger.advance(step, scalars)
        sums.clear()
        counted = 0
        data_wait = 0.0
        interval_steps = 0
        interval_start = time.perf_counter()

      if step % checkpoint_every == 0 or step == total_steps:
        check_pending()  # never save a state whose step has not been checked
        checkpointing.save(manager, step, state, train_iter)

      if val_every > 0 and (step % val_every == 0 or step == total_steps):
        val_metrics = validate()
        logger.write(step, val_metrics, prefix="val")
    check_pending()
    manager.wait_until_finished()
    checkpointing.save_final_variables(
        stage_dir, checkpointing.variables_of(state),
        {"family": config.family, "model": config.model.to_dict(),
         "origin": f"trackjax training, {stage_name}", "step": int(step)})
  finally:
    manager.wait_until_finished()
    manager.close()
    logger.close()
    _close(train_iter)
  return StageResult(stage_name, step, last_metrics, val_metrics)


def initial_rng(config: ml_collections.ConfigDict) -> jax.Array:
  return jax.random.split(jax.random.key(config.seed))[0]


def _close(iterator) -> None:
  close = getattr(iterator, "close", None)
  if callable(close):
    close()
