"""Network variables for the trackers: converted weights, a training workdir, or random.

``load_tracker_variables(config, weights)``, for the model of ``config.family`` / ``config.model``:
* a converted-weights folder (``trackjax.weights``: ``variables/`` + ``weights.json``),
* a training workdir (``trackjax.train.checkpointing.load_trained_variables``: the last of
  ``config.train.stages`` that finished),
* ``''``: random weights, with a loud warning (results are meaningless; for smoke tests and speed).
Weights whose ``weights.json`` names another family are refused; weights written before trackjax
had families (no ``family``) are read as the config's family, with a note in the log.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import flax.traverse_util
import jax
import numpy as np

from trackjax import weights as weights_io
from trackjax.families import get_family


def abstract_variables(config) -> dict[str, Any]:
  """Shapes and dtypes of the model's variables (no computation)."""
  family = get_family(config.family)
  return jax.eval_shape(lambda: family.init_variables(config.model, jax.random.PRNGKey(0)))


def random_variables(config, seed: int = 0) -> dict[str, Any]:
  """Random variables in seconds (numpy, fan-in scaled normals), for tests and speed runs.

  Kernels (``kernel``, ``in_proj_kernel``) and learned queries (``query_embed``) are
  N(0, 1/fan_in); biases 0; norm scales and frozen-BN weights 1; BN statistics mean 0 and variance
  1. Not the training initialisation (``init_variables``), which takes much longer to run eagerly
  and is not needed to exercise a tracker.
  """
  rng = np.random.default_rng(seed)
  flat = flax.traverse_util.flatten_dict(abstract_variables(config))
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


def load_tracker_variables(config, weights: str, seed: int = 0) -> dict[str, Any]:
  """Variables from ``weights`` (see module docstring).

  Raises:
    FileNotFoundError: ``weights`` is neither a converted-weights folder nor a training workdir.
    ValueError: the weights belong to another family.
  """
  if not weights:
    message = ('NO WEIGHTS GIVEN (config.evaluate.weights / config.init_from is empty): tracking '
               'with RANDOM weights; boxes and scores are meaningless.')
    # One warning: trackjax.console routes Python warnings to the console and WORKDIR/log.txt.
    warnings.warn(message, stacklevel=2)
    return random_variables(config, seed)
  if not os.path.isdir(weights):
    raise FileNotFoundError(f'weights folder not found: {weights}')
  if os.path.isdir(os.path.join(weights, 'variables')):
    weights_io.check_family(weights, config.family)
    return weights_io.load_variables(weights, abstract=abstract_variables(config))
  try:
    from trackjax.train import checkpointing  # pylint: disable=g-import-not-at-top
  except ImportError as err:
    raise FileNotFoundError(
        f'{weights}: no converted weights (variables/ folder) and training checkpoints cannot be '
        f'read in this build ({err})') from err
  stages = tuple(reversed(tuple(config.train.stages))) if config.get('train') else ()
  directory = checkpointing.trained_variables_dir(weights, stages or ('stage2', 'stage1'))
  weights_io.check_family(directory, config.family)
  return weights_io.load_variables(directory)
