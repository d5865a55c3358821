"""Tracker families: one package per paper, ``trackjax/families/<name>/``, picked by ``config.family``.

``get_family(name)`` imports ``trackjax.families.<name>``. Generic code (the train loop, the SOT
jobs, ``python -m trackjax.convert``, ``trackjax.main``) reaches a family only through it, never by
importing one by name. Every family package exports the same few names:

* ``TASK``: ``'sot'`` (single-object tracking; the jobs of ``trackjax.sot``) or ``'mot'``.
* ``build_model(model_config, dtype=jnp.float32)``: the Flax module ``config.model`` describes.
* ``init_variables(model_config, rng) -> variables``: a fresh initialisation (``params`` and the
  other collections); traceable, so ``jax.eval_shape`` gives the variable shapes without running.
* ``train_task(config) -> trackjax.train.task.TrainTask``: what the generic loop
  (``trackjax.train.loop``) needs: initialisation, the loss and frozen patterns of each stage,
  the batch keys, the input iterator, the backbone import. Raises on a config the family cannot
  train, before anything is written.
* ``build_tracker(config, dataset=None, dtype=jnp.float32)``: an object satisfying
  ``trackjax.sot.tracker.SotTracker`` (``init``/``track`` with explicit state and the hooks of
  batched streams); ``dataset`` names the benchmark for per-dataset tracker settings.
* ``checkpoint_rules(model_config) -> list[trackjax.convert.torch_rules.Rule]`` (optional): the
  import of the paper's PyTorch weights (``python -m trackjax.convert <name>``), with the optional
  ``check_checkpoint(state_dict, model_config)`` raising ``CheckpointError`` on a state dict of
  another variant and ``CHECKPOINT_HELP`` (one line for ``--help``).

A family's configs (``configs/<model>.py``) set ``config.family = '<name>'`` through the family's
config helper, which builds on ``trackjax.config_defaults``. Adding a family: docs/architecture.md.
"""

from __future__ import annotations

import importlib
import os
import types


def available_families() -> list[str]:
  """Names of the family folders (packages) under ``trackjax/families``, sorted."""
  here = os.path.dirname(os.path.abspath(__file__))
  return sorted(name for name in os.listdir(here)
                if os.path.isfile(os.path.join(here, name, "__init__.py")))


def get_family(name: str) -> types.ModuleType:
  """The family package ``trackjax.families.<name>``; an unknown name lists the available ones."""
  name = str(name or "").strip()
  available = available_families()
  if name not in available:
    raise ValueError(f"config.family={name!r} is not a tracker family; available: "
                     f"{', '.join(available) or 'none'} (folders of trackjax/families/)")
  return importlib.import_module(f"{__name__}.{name}")
