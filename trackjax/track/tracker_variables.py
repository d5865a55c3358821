"""Network variables for the trackers: converted weights, a training workdir, or random.

``load_tracker_variables(model_config, weights)``:
* a converted-weights folder (``trackjax.weights``: ``variables/`` + ``weights.json``),
* a training workdir (``trackjax.train.checkpointing.load_trained_variables``),
* ``''``: random weights, with a loud warning (results are meaningless; for smoke tests and speed).
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any

import flax.traverse_util
import jax
import numpy as np

from trackjax import weights as weights_io
from trackjax.models.stark import build_stark, dummy_inputs


def abstract_variables(model_config) -> dict[str, Any]:
  """Shapes and dtypes of the model's variables (no computation)."""
  model = build_stark(model_config)
  return jax.eval_shape(model.init, jax.random.PRNGKey(0), *dummy_inputs(model_config))


def random_variables(model_config, seed: int = 0) -> dict[str, Any]:
  """Random variables in seconds (numpy, fan-in scaled normals), for tests and speed runs.

  Kernels and ``query_embed`` are N(0, 1/fan_in); biases 0; norm scales and frozen-BN weights 1;
  BN statistics mean 0 and variance 1. Not the training initialisation (``model.init``), which
  takes much longer to run eagerly and is not needed to exercise a tracker.
  """
  rng = np.random.default_rng(seed)
  flat = flax.traverse_util.flatten_dict(abstract_variables(model_config))
  out = {}
  for path, leaf in sorted(flat.items()):
    name = path[-1]
    if name in ('kernel', 'in_proj_kernel', 'query_embed'):
      fan_in = int(np.prod(leaf.shape[:-1])) or 1
      value = rng.normal(0.0, 1.0 / np.sqrt(fan_in), leaf.shape)
    elif name in ('scale', 'weight', 'var', 'running_var'):
      value = np.ones(leaf.shape)
    else:
      value = np.zeros(leaf.shape)
    out[path] = jax.numpy.asarray(value.astype(leaf.dtype))
  return flax.traverse_util.unflatten_dict(out)


def load_tracker_variables(model_config, weights: str, seed: int = 0) -> dict[str, Any]:
  """Variables from ``weights`` (see module docstring).

  Raises:
    FileNotFoundError: ``weights`` is neither a converted-weights folder nor a training workdir.
  """
  if not weights:
    message = ('NO WEIGHTS GIVEN (config.evaluate.weights / config.init_from is empty): tracking '
               'with RANDOM weights; boxes and scores are meaningless.')
    logging.warning(message)
    warnings.warn(message, stacklevel=2)
    return random_variables(model_config, seed)
  if not os.path.isdir(weights):
    raise FileNotFoundError(f'weights folder not found: {weights}')
  if os.path.isdir(os.path.join(weights, 'variables')):
    return weights_io.load_variables(weights, abstract=abstract_variables(model_config))
  try:
    from trackjax.train.checkpointing import load_trained_variables  # pylint: disable=g-import-not-at-top
  except ImportError as err:
    raise FileNotFoundError(
        f'{weights}: no converted weights (variables/ folder) and training checkpoints cannot be '
        f'read in this build ({err})') from err
  return load_trained_variables(weights)
