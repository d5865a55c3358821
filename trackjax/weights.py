"""Model weights on disk: an Orbax checkpoint of the Flax variables plus a JSON description.

This is what ``python -m trackjax.convert`` writes and what training (``config.init_from``) and the
trackers load. Layout: ``DIR/variables/`` (Orbax PyTree) and ``DIR/weights.json`` (family, model
config, origin).
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Mapping

import jax
import numpy as np
import orbax.checkpoint as ocp

METADATA_FILE = "weights.json"


def save_variables(directory: str, variables: Mapping[str, Any], metadata: Mapping[str, Any]):
  """Writes ``variables`` (numpy or jax arrays) and ``metadata`` (JSON-serialisable) to ``directory``."""
  directory = os.path.abspath(directory)
  os.makedirs(directory, exist_ok=True)
  variables = jax.tree_util.tree_map(np.asarray, _without_empty_collections(variables))
  with ocp.StandardCheckpointer() as checkpointer:
    checkpointer.save(os.path.join(directory, "variables"), variables, force=True)
  with open(os.path.join(directory, METADATA_FILE), "w") as f:
    json.dump(dict(metadata), f, indent=2, default=str)


def load_variables(directory: str, abstract: Mapping[str, Any] | None = None) -> dict[str, Any]:
  """Reads variables saved by ``save_variables``; with ``abstract`` the tree is checked against it."""
  directory = os.path.abspath(directory)
  path = os.path.join(directory, "variables")
  if not os.path.isdir(path):
    raise FileNotFoundError(f"{directory} holds no converted weights (no variables/ folder); "
                            "create them with `python -m trackjax.convert`")
  with ocp.StandardCheckpointer() as checkpointer:
    if abstract is None:
      return checkpointer.restore(path)
    target = jax.tree_util.tree_map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), _without_empty_collections(abstract))
    return checkpointer.restore(path, target)


def _without_empty_collections(variables: Mapping[str, Any]) -> dict[str, Any]:
  """Drops collections without arrays (e.g. ``constants`` of a group-norm backbone): they carry
  nothing, and Orbax would otherwise insist that saver and loader agree on them."""
  return {name: tree for name, tree in variables.items() if jax.tree_util.tree_leaves(tree)}


def load_metadata(directory: str) -> dict[str, Any]:
  path = os.path.join(os.path.abspath(directory), METADATA_FILE)
  if not os.path.isfile(path):
    return {}
  with open(path) as f:
    return json.load(f)


def check_family(directory: str, family: str, field: str = "weights") -> None:
  """Raises when ``directory``'s ``weights.json`` names a family other than ``family``.

  Weights written before trackjax had families carry no ``family``: they are read as ``family``
  (the config's), with a note in the log.
  """
  written = load_metadata(directory).get("family")
  if written is None:
    logging.info("%s=%s: %s names no family (written before trackjax had families); read as "
                 "config.family=%r", field, directory, METADATA_FILE, family)
  elif written != family:
    raise ValueError(f"{field}={directory} holds weights of the {written!r} family but "
                     f"config.family={family!r}; use a config of the {written!r} family")
