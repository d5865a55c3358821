"""Loading ``configs/*.py`` files by path, as ml_collections' ``config_flags`` does.

``load_config('configs/<model>.py:tiny')`` imports the file and calls ``get_config('tiny')``.
"""

from __future__ import annotations

import importlib.util
import os

import ml_collections


def load_config(spec: str) -> ml_collections.ConfigDict:
  path, _, arg = spec.partition(":")
  if not os.path.isfile(path):
    raise FileNotFoundError(f"config file not found: {path}")
  module_spec = importlib.util.spec_from_file_location(
      "trackjax_config_" + os.path.splitext(os.path.basename(path))[0], path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  if not hasattr(module, "get_config"):
    raise AttributeError(f"{path} defines no get_config(arg)")
  return module.get_config(arg or None)
