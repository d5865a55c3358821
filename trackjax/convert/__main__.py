"""Command line: import PyTorch weights into trackjax weight directories.

  python -m trackjax.convert FAMILY --config CFG --checkpoint FILE --out DIR  # a family's weights
  python -m trackjax.convert resnet --checkpoint resnet50.pth --out DIR       # ImageNet backbone

The first writes a whole model (``config.init_from``, tracker weights) with the rules of the
config's family (``checkpoint_rules`` of ``trackjax.families.<FAMILY>``; one subcommand per family
folder); the second the ResNet trunk up to layer3 that the reference recipes start training from
(``config.init_backbone_from``).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Mapping

import jax
import numpy as np

from trackjax.convert import resnet_checkpoint
from trackjax.convert.torch_rules import (CheckpointError, convert_state_dict,
                                          load_torch_checkpoint, strip_module_prefix)
from trackjax.families import available_families, get_family
from trackjax.weights import save_variables


def _count(tree) -> int:
  return sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(tree))


def family_variables_from_state_dict(family, state_dict: Mapping[str, Any],
                                     model_config) -> dict[str, Any]:
  """A family's PyTorch state dict -> Flax variables of the model ``model_config`` describes."""
  state_dict = strip_module_prefix(state_dict)
  check = getattr(family, "check_checkpoint", None)
  if check is not None:
    check(state_dict, model_config)
  abstract = jax.eval_shape(lambda: family.init_variables(model_config, jax.random.PRNGKey(0)))
  return convert_state_dict(state_dict, family.checkpoint_rules(model_config), abstract)


def _family_help(name: str) -> str:
  """The family's ``CHECKPOINT_HELP`` line (a family that does not import says so)."""
  try:
    family = get_family(name)
  except Exception as e:  # pylint: disable=broad-except  (a broken family must not break --help)
    return f"{name} family (does not import: {type(e).__name__})"
  if not hasattr(family, "checkpoint_rules"):
    return f"{name} family (no PyTorch checkpoint import)"
  return getattr(family, "CHECKPOINT_HELP", f"{name} family checkpoints")


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog="python -m trackjax.convert",
                                   description="Import PyTorch tracker and backbone weights.")
  sub = parser.add_subparsers(dest="model", required=True)
  for name in available_families():
    family = sub.add_parser(name, help=_family_help(name))
    family.add_argument("--config", required=True, help=f"a {name} config, configs/<model>.py")
    family.add_argument("--checkpoint", required=True, help="official .pth.tar or state-dict file")
    family.add_argument("--out", required=True, help="output directory for the converted weights")
  resnet = sub.add_parser("resnet", help="torchvision ImageNet ResNet-50/101 (e.g. "
                          "resnet50-19c8e357.pth), the reference's backbone start")
  resnet.add_argument("--checkpoint", required=True, help="torchvision state-dict file (.pth)")
  resnet.add_argument("--out", required=True,
                      help="output directory (for config.init_backbone_from)")
  resnet.add_argument("--depth", type=int, choices=(50, 101, 152), default=None,
                      help="expected depth; read from the file's block counts when omitted")
  args = parser.parse_args(argv)
  if args.model == "resnet":
    return _convert_resnet(args)
  return _convert_family(args)


def _convert_family(args) -> int:
  from trackjax.config_files import load_config  # pylint: disable=g-import-not-at-top
  config = load_config(args.config)
  if config.get("family") != args.model:
    print(f"error: {args.config} is a config of the {config.get('family')!r} family, not "
          f"{args.model!r}", file=sys.stderr)
    return 1
  family = get_family(config.family)
  if not hasattr(family, "checkpoint_rules"):
    print(f"error: the {args.model} family has no PyTorch checkpoint import (no "
          "checkpoint_rules)", file=sys.stderr)
    return 1
  try:
    state_dict, meta = load_torch_checkpoint(args.checkpoint)
    variables = family_variables_from_state_dict(family, state_dict, config.model)
  except CheckpointError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  save_variables(args.out, variables, {
      "family": config.family, "model": config.model.to_dict(), "source": args.checkpoint,
      "config": args.config, "net_type": meta.get("net_type"), "epoch": meta.get("epoch")})
  print(f"converted {len(state_dict)} tensors ({_count(variables['params']):,} parameters, "
        f"net_type={meta.get('net_type')}) -> {args.out}")
  return 0


def _convert_resnet(args) -> int:
  try:
    state_dict, _ = load_torch_checkpoint(args.checkpoint)
    variables, meta = resnet_checkpoint.resnet_variables_from_state_dict(state_dict, args.depth)
  except CheckpointError as e:
    print(f"error: {args.checkpoint}: {e}", file=sys.stderr)
    return 1
  backbone = meta["backbone"]
  save_variables(args.out, variables, dict(meta, source=args.checkpoint,
                                           origin="torchvision ResNet (python -m trackjax.convert "
                                                  "resnet)"))
  name = (f"ResNet-{backbone['depth']}" if backbone["depth"]
          else f"ResNet {tuple(backbone['blocks'])}")
  print(f"converted {name} conv1..layer3: {_count(variables['params']):,} parameters and "
        f"{_count(variables['constants']):,} frozen batch-norm values -> {args.out}")
  if meta["ignored_note"]:
    print(f"note: left out {meta['ignored_note']}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
