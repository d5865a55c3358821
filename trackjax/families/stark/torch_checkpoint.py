"""Import of official STARK PyTorch checkpoints (researchmm/Stark) into Flax variables.

Official files are ``{'net': state_dict, 'epoch': ..., 'net_type': ..., ...}`` (training checkpoints
such as ``STARKST_ep0050.pth.tar``) or bare state dicts. They are read with
``torch.load(weights_only=True)``: no arbitrary object is ever unpickled.

``STARK_RULES`` maps every official key onto the Flax tree with the rule engine of
``trackjax.convert.torch_rules``, in both directions, so ``state_dict_from_variables`` is the exact
inverse and the round trip is testable. Every key must be consumed and every Flax leaf filled with
the right shape; anything else is an error naming the keys. ``checkpoint_rules`` and
``check_checkpoint`` are what ``python -m trackjax.convert stark`` uses (the family contract).
"""

from __future__ import annotations

from typing import Any, Mapping

from trackjax.convert import torch_rules
from trackjax.convert.torch_rules import (CheckpointError, Rule, attention_rules, conv_rules,
                                          convert_state_dict, layer_norm_rules, linear_rules,
                                          load_torch_checkpoint, resnet_rules,
                                          strip_module_prefix)

__all__ = ["CHECKPOINT_HELP", "CheckpointError", "STARK_RULES", "abstract_variables",
           "check_checkpoint", "checkpoint_rules", "convert_state_dict", "load_stark_variables",
           "load_torch_checkpoint", "stark_variables_from_state_dict", "state_dict_from_variables",
           "strip_module_prefix"]

CHECKPOINT_HELP = "researchmm/Stark checkpoints (S50, ST50, ST101, stage 1)"


def _stark_rules() -> list[Rule]:
  rules = resnet_rules(r"backbone\.0\.body", "backbone")
  rules += conv_rules(r"bottleneck", "bottleneck", bias=True)
  rules.append(Rule(r"query_embed\.weight", "params", "query_embed"))
  for part, attns in (("encoder", ("self_attn",)), ("decoder", ("self_attn", "multihead_attn"))):
    t, f = rf"transformer\.{part}\.layers\.(\d+)", rf"transformer/{part}_layers_\1"
    for attn in attns:
      rules += attention_rules(rf"{t}\.{attn}", f"{f}/{attn}")
    rules += linear_rules(rf"{t}\.linear1", f"{f}/ffn/linear1")
    rules += linear_rules(rf"{t}\.linear2", f"{f}/ffn/linear2")
    for n in (1, 2, 3) if part == "decoder" else (1, 2):
      rules += layer_norm_rules(rf"{t}\.norm{n}", f"{f}/norm{n}")
  rules += layer_norm_rules(r"transformer\.decoder\.norm", "transformer/decoder_norm")
  tower = r"box_head\.conv(\d)_(tl|br)"
  rules += conv_rules(rf"{tower}\.0", r"box_head/conv\1_\2/conv", bias=True)
  rules += [Rule(rf"{tower}\.1\.weight", "params", r"box_head/conv\1_\2/bn/scale"),
            Rule(rf"{tower}\.1\.bias", "params", r"box_head/conv\1_\2/bn/bias"),
            Rule(rf"{tower}\.1\.running_mean", "batch_stats", r"box_head/conv\1_\2/bn/mean"),
            Rule(rf"{tower}\.1\.running_var", "batch_stats", r"box_head/conv\1_\2/bn/var")]
  rules += conv_rules(r"box_head\.conv(\d)_(tl|br)", r"box_head/conv\1_\2", bias=True)
  rules += linear_rules(r"cls_head\.layers\.(\d+)", r"cls_head/layers_\1")
  return rules


STARK_RULES = _stark_rules()


def checkpoint_rules(model_config) -> list[Rule]:
  """The rules of every STARK variant (a STARK-S state dict has no ``cls_head.*``)."""
  del model_config
  return STARK_RULES


def state_dict_from_variables(variables: Mapping[str, Any], rules: list[Rule] = STARK_RULES,
                              torch_keys: list[str] | None = None) -> dict[str, Any]:
  """Flax STARK variables -> PyTorch-layout numpy state dict with the keys ``torch_keys``."""
  return torch_rules.state_dict_from_variables(variables, rules, list(torch_keys or []))


def abstract_variables(model_config) -> dict[str, Any]:
  """Shapes of the Flax variables of the STARK model described by ``model_config``."""
  import jax  # pylint: disable=g-import-not-at-top
  from trackjax.families.stark.model import init_variables  # pylint: disable=g-import-not-at-top
  return jax.eval_shape(lambda: init_variables(model_config, jax.random.PRNGKey(0)))


def check_checkpoint(state_dict: Mapping[str, Any], model_config) -> None:
  """Raises ``CheckpointError`` when the state dict is STARK-S but the config STARK-ST, or back."""
  has_cls = any(k.startswith("cls_head.") for k in strip_module_prefix(state_dict))
  if has_cls != bool(model_config.score_head):
    kind = "STARK-ST (has cls_head.*)" if has_cls else "STARK-S (no cls_head.*)"
    raise CheckpointError(f"the checkpoint is {kind} but config.model.score_head="
                          f"{model_config.score_head}; use the matching config "
                          "(configs/stark_s50.py for STARK-S, stark_st50/101 for STARK-ST)")


def stark_variables_from_state_dict(state_dict: Mapping[str, Any], model_config) -> dict[str, Any]:
  """Official STARK state dict -> Flax variables (``params``, ``batch_stats``, ``constants``)."""
  state_dict = strip_module_prefix(state_dict)
  check_checkpoint(state_dict, model_config)
  return convert_state_dict(state_dict, checkpoint_rules(model_config),
                            abstract_variables(model_config))


def load_stark_variables(checkpoint, model_config) -> dict[str, Any]:
  """Flax variables from an official checkpoint path (``.pth.tar``) or an in-memory state dict."""
  if isinstance(checkpoint, Mapping):
    state_dict = checkpoint.get("net", checkpoint)
  else:
    state_dict, _ = load_torch_checkpoint(str(checkpoint))
  return stark_variables_from_state_dict(state_dict, model_config)
