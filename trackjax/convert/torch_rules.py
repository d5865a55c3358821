"""PyTorch state dicts -> Flax variables by a table of rules, and safe reading of ``.pth`` files.

A ``Rule`` maps a PyTorch key pattern to a Flax collection/path with a tensor transform, and back;
``convert_state_dict`` applies a rule list to a state dict against the expected Flax tree (every key
consumed, every leaf filled with the right shape, else ``CheckpointError`` naming the keys) and
``state_dict_from_variables`` is its exact inverse. The rule builders for common layers
(convolutions OIHW -> HWIO, linears, multi-head attention, layer norm, frozen batch norm) and for a
torchvision ResNet trunk live here; each model family lists its own rules from them (its
``checkpoint_rules``, see ``trackjax.families``) and so does ``resnet_checkpoint``. Files are
read with ``torch.load(weights_only=True)``: no arbitrary object is ever unpickled.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable, Mapping

import numpy as np
from flax import traverse_util


class CheckpointError(ValueError):
  """The checkpoint does not match the model; the message names the offending keys."""


def _oihw_to_hwio(x):
  return np.transpose(x, (2, 3, 1, 0))


def _hwio_to_oihw(x):
  return np.transpose(x, (3, 2, 0, 1))


def _identity(x):
  return x


@dataclasses.dataclass(frozen=True)
class Rule:
  torch_pattern: str  # regex over the PyTorch key, groups are substituted into ``flax_path``
  collection: str
  flax_path: str  # '/'-separated, with \1 \2 ... from the regex
  to_flax: Callable[[np.ndarray], np.ndarray] = _identity
  to_torch: Callable[[np.ndarray], np.ndarray] = _identity


_BN_CONST = [("weight", "weight"), ("bias", "bias"), ("running_mean", "running_mean"),
             ("running_var", "running_var")]


def frozen_bn_rules(torch_prefix: str, flax_prefix: str) -> list[Rule]:
  return [Rule(rf"{torch_prefix}\.{t}", "constants", f"{flax_prefix}/{f}") for t, f in _BN_CONST]


def linear_rules(torch_prefix: str, flax_prefix: str) -> list[Rule]:
  return [Rule(rf"{torch_prefix}\.weight", "params", f"{flax_prefix}/kernel", np.transpose,
               np.transpose),
          Rule(rf"{torch_prefix}\.bias", "params", f"{flax_prefix}/bias")]


def conv_rules(torch_prefix: str, flax_prefix: str, bias: bool) -> list[Rule]:
  rules = [Rule(rf"{torch_prefix}\.weight", "params", f"{flax_prefix}/kernel", _oihw_to_hwio,
                _hwio_to_oihw)]
  if bias:
    rules.append(Rule(rf"{torch_prefix}\.bias", "params", f"{flax_prefix}/bias"))
  return rules


def attention_rules(torch_prefix: str, flax_prefix: str) -> list[Rule]:
  return [Rule(rf"{torch_prefix}\.in_proj_weight", "params", f"{flax_prefix}/in_proj_kernel",
               np.transpose, np.transpose),
          Rule(rf"{torch_prefix}\.in_proj_bias", "params", f"{flax_prefix}/in_proj_bias"),
          *linear_rules(rf"{torch_prefix}\.out_proj", f"{flax_prefix}/out_proj")]


def layer_norm_rules(torch_prefix: str, flax_prefix: str) -> list[Rule]:
  return [Rule(rf"{torch_prefix}\.weight", "params", f"{flax_prefix}/scale"),
          Rule(rf"{torch_prefix}\.bias", "params", f"{flax_prefix}/bias")]


def resnet_rules(torch_prefix: str = "", flax_prefix: str = "") -> list[Rule]:
  """torchvision ResNet keys (``conv1``, ``bn1``, ``layerL.B.*``) -> ``trackjax.models.resnet``.

  ``torch_prefix`` / ``flax_prefix`` locate the trunk (``backbone.0.body`` / ``backbone`` in a
  DETR-style tracker); empty for a bare torchvision state dict and a bare ``ResNet`` tree.
  """
  p = rf"{torch_prefix}\." if torch_prefix else ""
  f = f"{flax_prefix}/" if flax_prefix else ""
  block = rf"{p}layer(\d+)\.(\d+)"
  fblock = rf"{f}layer\1_\2"
  rules = conv_rules(rf"{p}conv1", f"{f}conv1", bias=False)
  rules += frozen_bn_rules(rf"{p}bn1", f"{f}bn1")
  for i in (1, 2, 3):
    rules += conv_rules(rf"{block}\.conv{i}", rf"{fblock}/conv{i}", bias=False)
    rules += frozen_bn_rules(rf"{block}\.bn{i}", rf"{fblock}/bn{i}")
  rules += conv_rules(rf"{block}\.downsample\.0", rf"{fblock}/downsample_conv", bias=False)
  rules += frozen_bn_rules(rf"{block}\.downsample\.1", rf"{fblock}/downsample_bn")
  return rules


# PyTorch BatchNorm bookkeeping that has no Flax counterpart (momentum is fixed).
IGNORED_KEYS = re.compile(r".*\.num_batches_tracked$")


def _to_numpy(value) -> np.ndarray:
  if hasattr(value, "detach"):
    value = value.detach().cpu().numpy()
  return np.asarray(value)


def convert_state_dict(state_dict: Mapping[str, Any], rules: list[Rule],
                       expected: Mapping[str, Any]) -> dict[str, Any]:
  """Maps a PyTorch state dict onto the Flax variable tree ``expected`` (shapes only are read).

  Raises ``CheckpointError`` listing unmatched keys, missing Flax leaves and shape mismatches.
  """
  compiled = [(re.compile(r.torch_pattern + "$"), r) for r in rules]
  flat_expected = {"/".join(k): v for k, v in traverse_util.flatten_dict(expected).items()}
  out: dict[str, np.ndarray] = {}
  unmatched, mismatched, duplicated = [], [], []
  for key, value in state_dict.items():
    if IGNORED_KEYS.match(key):
      continue
    for pattern, rule in compiled:
      m = pattern.match(key)
      if m:
        path = rule.collection + "/" + m.expand(rule.flax_path)
        break
    else:
      unmatched.append(key)
      continue
    if path not in flat_expected:
      unmatched.append(f"{key} (-> {path}, not in the model)")
      continue
    source = _to_numpy(value)
    array = rule.to_flax(source).astype(np.float32)
    want = tuple(flat_expected[path].shape)
    if array.shape != want:
      mismatched.append(f"{key} {tuple(source.shape)} -> {path} {tuple(array.shape)}, the model "
                        f"has {want}")
      continue
    if path in out:
      duplicated.append(key)
    out[path] = array
  missing = sorted(set(flat_expected) - set(out))
  problems = []
  if unmatched:
    problems.append(f"{len(unmatched)} checkpoint keys have no place in the model: "
                    + ", ".join(unmatched[:20]) + (" ..." if len(unmatched) > 20 else ""))
  if mismatched:
    problems.append("shape mismatches: " + "; ".join(mismatched[:20]))
  if duplicated:
    problems.append("keys mapped twice: " + ", ".join(duplicated))
  if missing:
    problems.append(f"{len(missing)} model variables not filled by the checkpoint: "
                    + ", ".join(missing[:20]) + (" ..." if len(missing) > 20 else ""))
  if problems:
    raise CheckpointError("checkpoint does not match the model:\n  " + "\n  ".join(problems))
  return traverse_util.unflatten_dict({tuple(k.split("/")): v for k, v in out.items()})


def state_dict_from_variables(variables: Mapping[str, Any], rules: list[Rule],
                              torch_keys: list[str]) -> dict[str, np.ndarray]:
  """Inverse of ``convert_state_dict``: Flax variables -> PyTorch-layout numpy state dict.

  The PyTorch key names are recovered from ``torch_keys`` (e.g. the official key list); each key is
  matched by the same rules, then filled from the Flax tree with the inverse transform.
  """
  flat = {"/".join(k): np.asarray(v) for k, v in traverse_util.flatten_dict(variables).items()}
  compiled = [(re.compile(r.torch_pattern + "$"), r) for r in rules]
  out = {}
  for key in torch_keys:
    if IGNORED_KEYS.match(key):
      out[key] = np.zeros((), np.int64)
      continue
    for pattern, rule in compiled:
      m = pattern.match(key)
      if m:
        out[key] = rule.to_torch(flat[rule.collection + "/" + m.expand(rule.flax_path)])
        break
    else:
      raise CheckpointError(f"no rule for key {key}")
  return out


_STRIP_HINT = (
    "It pickles Python objects besides tensors (training checkpoints of pytracking-style "
    "trainers store `settings` and `stats`), which trackjax refuses to unpickle. If you trust the "
    "file, strip it once in an environment that has the official code on its path:\n"
    "  python -c \"import torch; c = torch.load('IN', map_location='cpu', weights_only=False); "
    "torch.save({'net': c['net'], 'net_type': c.get('net_type')}, 'OUT')\"\n"
    "and convert OUT instead.")


def load_torch_checkpoint(path: str) -> tuple[dict[str, Any], dict[str, Any]]:
  """Reads an official checkpoint safely; returns (state_dict, metadata such as net_type/epoch)."""
  try:
    import torch
  except ImportError as e:
    raise ImportError("reading PyTorch checkpoints needs torch: pip install 'trackjax[torch]'") from e
  try:
    obj = torch.load(path, map_location="cpu", weights_only=True)
  except FileNotFoundError:
    raise
  except Exception as e:  # torch raises pickle.UnpicklingError (or RuntimeError in old versions).
    if "weights_only" in str(e) or "Unsupported global" in str(e) or "Unpickl" in type(e).__name__:
      raise CheckpointError(f"{path}: cannot be read with weights_only=True. {_STRIP_HINT}") from e
    raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({e})") from e
  if isinstance(obj, Mapping) and "net" in obj and isinstance(obj["net"], Mapping):
    meta = {k: v for k, v in obj.items() if k in ("epoch", "net_type")}
    return dict(obj["net"]), meta
  for key in ("model", "state_dict"):  # other trainers' checkpoints (e.g. timm, mmcls)
    if isinstance(obj, Mapping) and key in obj and isinstance(obj[key], Mapping):
      return dict(obj[key]), {}
  if isinstance(obj, Mapping) and all(hasattr(v, "shape") for v in obj.values()):
    return dict(obj), {}
  raise CheckpointError(f"{path}: expected a state dict or {{'net': state_dict, ...}}, "
                        f"got {type(obj).__name__} with keys {list(obj)[:10] if isinstance(obj, Mapping) else '-'}")


def strip_module_prefix(state_dict: Mapping[str, Any]) -> dict[str, Any]:
  """DistributedDataParallel saves keys as ``module.*``; drop that prefix."""
  if state_dict and all(k.startswith("module.") for k in state_dict):
    return {k[len("module."):]: v for k, v in state_dict.items()}
  return dict(state_dict)


