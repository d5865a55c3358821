"""Command line: import PyTorch weights into trackjax weight directories.

  python -m trackjax.convert stark --config CFG --checkpoint FILE --out DIR   # official STARK
  python -m trackjax.convert resnet --checkpoint resnet50.pth --out DIR        # ImageNet backbone

The first writes a whole model (``config.init_from``, tracker weights); the second the ResNet trunk
up to layer3 that the reference starts training from (``config.init_backbone_from``).
"""

from __future__ import annotations

import argparse
import sys

import jax
import numpy as np

from trackjax.convert import resnet_checkpoint
from trackjax.convert import stark_checkpoint
from trackjax.convert.torch_rules import CheckpointError, load_torch_checkpoint
from trackjax.weights import save_variables


def _count(tree) -> int:
  return sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(tree))


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog="python -m trackjax.convert",
                                   description="Import PyTorch tracker and backbone weights.")
  sub = parser.add_subparsers(dest="model", required=True)
  stark = sub.add_parser("stark", help="researchmm/Stark checkpoints (S50, ST50, ST101, stage 1)")
  stark.add_argument("--config", required=True, help="e.g. configs/stark_st50.py")
  stark.add_argument("--checkpoint", required=True, help="official .pth.tar or state-dict file")
  stark.add_argument("--out", required=True, help="output directory for the converted weights")
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

  from trackjax.config_files import load_config  # pylint: disable=g-import-not-at-top
  config = load_config(args.config)
  try:
    state_dict, meta = load_torch_checkpoint(args.checkpoint)
    variables = stark_checkpoint.stark_variables_from_state_dict(state_dict, config.model)
  except CheckpointError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  save_variables(args.out, variables, {
      "model": config.model.to_dict(), "source": args.checkpoint, "config": args.config,
      "net_type": meta.get("net_type"), "epoch": meta.get("epoch")})
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
