"""Command line: ``python -m trackjax.convert stark --config CFG --checkpoint FILE --out DIR``."""

from __future__ import annotations

import argparse
import sys

import jax
import numpy as np

from trackjax.config_files import load_config
from trackjax.convert import stark_checkpoint
from trackjax.weights import save_variables


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog="python -m trackjax.convert",
                                   description="Import official PyTorch tracker weights.")
  sub = parser.add_subparsers(dest="model", required=True)
  stark = sub.add_parser("stark", help="researchmm/Stark checkpoints (S50, ST50, ST101, stage 1)")
  stark.add_argument("--config", required=True, help="e.g. configs/stark_st50.py")
  stark.add_argument("--checkpoint", required=True, help="official .pth.tar or state-dict file")
  stark.add_argument("--out", required=True, help="output directory for the converted weights")
  args = parser.parse_args(argv)

  config = load_config(args.config)
  try:
    state_dict, meta = stark_checkpoint.load_torch_checkpoint(args.checkpoint)
    variables = stark_checkpoint.stark_variables_from_state_dict(state_dict, config.model)
  except stark_checkpoint.CheckpointError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  count = sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(variables["params"]))
  save_variables(args.out, variables, {
      "model": config.model.to_dict(), "source": args.checkpoint, "config": args.config,
      "net_type": meta.get("net_type"), "epoch": meta.get("epoch")})
  print(f"converted {len(state_dict)} tensors ({count:,} parameters, net_type="
        f"{meta.get('net_type')}) -> {args.out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
