"""Public ViT-B/16 checkpoints -> ACTrack's frozen backbone (``config.init_backbone_from``).

Accepted files (read with ``torch.load(weights_only=True)``, ``torch_rules.load_torch_checkpoint``):

* MAE (``mae_pretrain_vit_base.pth``): ``{'model': state_dict}`` with ``cls_token``,
  ``pos_embed`` (1, 1 + 14*14, 768), ``patch_embed.proj.{weight,bias}``,
  ``blocks.<i>.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}.{weight,bias}``, ``norm.*``, and
  the pretraining decoder (``mask_token``, ``decoder_*``), which is left out;
* timm (``vit_base_patch16_224.mae``, ``.augreg_in21k`` ...): the same names as a bare state dict,
  with ``head.*`` (left out) when it has a classifier; a fine-tuned MAE with ``fc_norm.*`` and no
  ``norm.*`` gives its ``fc_norm`` as the final norm;
* OSTrack's tracker (``OSTrack_ep0300.pth.tar``): ``{'net': state_dict}`` with everything under
  ``backbone.``; its own ``pos_embed_z`` / ``pos_embed_x`` are taken when present, else they are
  built from ``backbone.pos_embed`` as OSTrack does; ``box_head.*`` is left out.

Position embeddings: the cls entry is dropped and the 14x14 grid (or the checkpoint's template
and search grids) is resampled bicubically to the model's grids (``template_size /
patch_size`` and ``search_size / patch_size``: 8x8 and 16x16 for 128/256). Every other key is
consumed by a rule or named in the error (``CheckpointError``); what is left out is listed in the
returned note. Shapes (width, depth, heads x head size, MLP width, patch) must be the model's.

``config.init_backbone_from`` takes such a file directly, or a directory written by

  python -m trackjax.families.actrack.vit_checkpoint --config configs/actrack_vitb256.py \\
      --checkpoint mae_pretrain_vit_base.pth --out weights/vit_b16_mae
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Any, Mapping

import jax
import numpy as np

from trackjax import weights
from trackjax.convert.torch_rules import (IGNORED_KEYS, CheckpointError, conv_rules,
                                          convert_state_dict, layer_norm_rules, linear_rules,
                                          load_torch_checkpoint, state_dict_from_variables,
                                          strip_module_prefix)
from trackjax.models.vit import grid_side, interpolate_grid_embedding

POSITION_KEYS = ("pos_embed", "pos_embed_z", "pos_embed_x")
# Keys of public checkpoints that the frozen backbone does not use.
LEFT_OUT = re.compile(r"^(cls_token|mask_token|decoder_.*|head\..*|box_head\..*|fc_norm\..*|"
                      r"dist_token|head_dist\..*)$")


def vit_rules(final_norm: str = "norm") -> list:
  """Rules of a timm-named ViT (no prefix) onto ``params/backbone`` of ``OneStreamViT``."""
  rules = conv_rules(r"patch_embed\.proj", "backbone/patch_embed", bias=True)
  block, fblock = r"blocks\.(\d+)", r"backbone/block_\1"
  for norm in ("norm1", "norm2"):
    rules += layer_norm_rules(rf"{block}\.{norm}", rf"{fblock}/{norm}")
  rules += linear_rules(rf"{block}\.attn\.qkv", rf"{fblock}/attn/qkv")
  rules += linear_rules(rf"{block}\.attn\.proj", rf"{fblock}/attn/proj")
  rules += linear_rules(rf"{block}\.mlp\.fc1", rf"{fblock}/mlp/fc1")
  rules += linear_rules(rf"{block}\.mlp\.fc2", rf"{fblock}/mlp/fc2")
  rules += layer_norm_rules(re.escape(final_norm), "backbone/norm")
  return rules


def timm_layout(depth: int = 12, width: int = 768, mlp_dim: int = 3072, patch: int = 16,
                grid: int = 14, mae_decoder: bool = False,
                num_classes: int = 0) -> dict[str, tuple[int, ...]]:
  """Key -> shape of a timm / MAE ViT state dict (ViT-B/16 by default), in timm's order."""
  out = {"cls_token": (1, 1, width), "pos_embed": (1, 1 + grid * grid, width),
         "patch_embed.proj.weight": (width, 3, patch, patch), "patch_embed.proj.bias": (width,)}
  for i in range(depth):
    p = f"blocks.{i}"
    out.update({f"{p}.norm1.weight": (width,), f"{p}.norm1.bias": (width,),
                f"{p}.attn.qkv.weight": (3 * width, width), f"{p}.attn.qkv.bias": (3 * width,),
                f"{p}.attn.proj.weight": (width, width), f"{p}.attn.proj.bias": (width,),
                f"{p}.norm2.weight": (width,), f"{p}.norm2.bias": (width,),
                f"{p}.mlp.fc1.weight": (mlp_dim, width), f"{p}.mlp.fc1.bias": (mlp_dim,),
                f"{p}.mlp.fc2.weight": (width, mlp_dim), f"{p}.mlp.fc2.bias": (width,)})
  out.update({"norm.weight": (width,), "norm.bias": (width,)})
  if mae_decoder:  # MAE's pretraining decoder (512 wide, 8 blocks), left out on import
    out.update({"mask_token": (1, 1, 512), "decoder_embed.weight": (512, width),
                "decoder_embed.bias": (512,), "decoder_pos_embed": (1, 1 + grid * grid, 512),
                "decoder_norm.weight": (512,), "decoder_norm.bias": (512,),
                "decoder_pred.weight": (patch * patch * 3, 512),
                "decoder_pred.bias": (patch * patch * 3,)})
  if num_classes:
    out.update({"head.weight": (num_classes, width), "head.bias": (num_classes,)})
  return out


def _strip_backbone_prefix(state_dict: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
  """OSTrack's ``backbone.*`` keys without the prefix; its other keys are returned apart."""
  if not any(k.startswith("backbone.") for k in state_dict):
    return dict(state_dict), []
  inner = {k[len("backbone."):]: v for k, v in state_dict.items() if k.startswith("backbone.")}
  others = sorted(k for k in state_dict if not k.startswith("backbone."))
  unknown = [k for k in others if not LEFT_OUT.match(k) and not IGNORED_KEYS.match(k)]
  if unknown:
    raise CheckpointError(f"{len(unknown)} keys outside backbone.* that a ViT tracker import does "
                          f"not know: {', '.join(unknown[:20])}")
  return inner, others


def _grid_embedding(value, name: str) -> np.ndarray:
  """(1, [1 +] n*n, D) position embeddings -> (n*n, D), dropping a leading cls entry."""
  x = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value, np.float32)
  x = x.reshape(-1, x.shape[-1])
  n = x.shape[0]
  if int(round(np.sqrt(n))) ** 2 != n:
    if int(round(np.sqrt(n - 1))) ** 2 == n - 1:
      x = x[1:]
    else:
      raise CheckpointError(f"{name}: {n} position embeddings are neither a square grid nor a "
                            "cls entry plus one")
  return x


def position_embeddings(state_dict: Mapping[str, Any], model_config):
  """``({'pos_embed_z': (1, Lz, D), 'pos_embed_x': (1, Lx, D)}, notes, keys used)``."""
  p = int(model_config.patch_size)
  sides = {"pos_embed_z": int(model_config.template_size) // p,
           "pos_embed_x": int(model_config.search_size) // p}
  out, notes, used = {}, [], set()
  for name, side in sides.items():
    key = name if name in state_dict else "pos_embed"
    used.add(key)
    if key not in state_dict:
      raise CheckpointError(f"no position embeddings: neither {name} nor pos_embed is in the "
                            "checkpoint")
    grid = _grid_embedding(state_dict[key], key)
    old = grid_side(grid.shape[0])
    out[name] = interpolate_grid_embedding(grid, side)[None]
    notes.append(f"{name} from {key} ({old}x{old}" + (f" -> {side}x{side}, bicubic)"
                                                       if old != side else ")"))
  return out, notes, used


def backbone_from_state_dict(state_dict: Mapping[str, Any], model_config):
  """A PyTorch ViT state dict -> ``({'params': {'backbone': tree}}, note)``; ``note`` lists the
  keys left out and how the position embeddings were made."""
  from trackjax.families.actrack.model import init_variables  # pylint: disable=g-import-not-at-top
  state_dict = strip_module_prefix(state_dict)
  state_dict, outside = _strip_backbone_prefix(state_dict)
  abstract = jax.eval_shape(lambda: init_variables(model_config, jax.random.PRNGKey(0)))
  expected = {k: v for k, v in abstract["params"]["backbone"].items() if k not in
              ("pos_embed_z", "pos_embed_x")}
  final_norm = "norm"
  if "norm.weight" not in state_dict and "fc_norm.weight" in state_dict:
    final_norm = "fc_norm"  # a fine-tuned MAE (global pool): its only final norm
  left_out = sorted(k for k in state_dict if k not in POSITION_KEYS and LEFT_OUT.match(k)
                    and not k.startswith(final_norm + "."))
  kept = {k: v for k, v in state_dict.items() if k not in POSITION_KEYS and k not in left_out}
  converted = convert_state_dict(kept, vit_rules(final_norm), {"params": {"backbone": expected}})
  positions, notes, used = position_embeddings(state_dict, model_config)
  converted["params"]["backbone"].update(positions)
  left_out += [k for k in POSITION_KEYS if k in state_dict and k not in used]
  note = "; ".join(notes)
  if left_out or outside:
    shown = sorted(left_out + [f"{k}" for k in outside])
    note += f"; left out {len(shown)} keys: " + ", ".join(shown[:12]) + (
        " ..." if len(shown) > 12 else "")
  return converted, note


def state_dict_from_backbone(backbone_params: Mapping[str, Any], depth: int,
                             final_norm: str = "norm") -> dict[str, np.ndarray]:
  """The inverse for the blocks, patch embedding and norm (tests, exports): timm names."""
  keys = [k for k in timm_layout(depth=depth) if k not in ("cls_token", "pos_embed")]
  if final_norm != "norm":
    keys = [k.replace("norm.", f"{final_norm}.", 1) if k.startswith("norm.") else k for k in keys]
  return state_dict_from_variables({"params": {"backbone": backbone_params}},
                                   vit_rules(final_norm), keys)


def load_backbone(source: str, model_config):
  """``({'params': {'backbone': ...}}, note)`` from a checkpoint file or a converted directory."""
  from trackjax.families.actrack.model import init_variables  # pylint: disable=g-import-not-at-top
  if os.path.isdir(source):
    loaded = weights.load_variables(source)
    backbone = (loaded.get("params") or {}).get("backbone")
    if backbone is None:
      raise ValueError(f"config.init_backbone_from={source}: holds no params/backbone (write one "
                       "with python -m trackjax.families.actrack.vit_checkpoint)")
    abstract = jax.eval_shape(lambda: init_variables(model_config, jax.random.PRNGKey(0)))
    _check_shapes(source, backbone, abstract["params"]["backbone"])
    return {"params": {"backbone": backbone}}, weights.load_metadata(source).get("note", "")
  state_dict, _ = load_torch_checkpoint(source)
  return backbone_from_state_dict(state_dict, model_config)


def _check_shapes(source: str, tree, abstract) -> None:
  have = {jax.tree_util.keystr(p): tuple(np.shape(x))
          for p, x in jax.tree_util.tree_flatten_with_path(tree)[0]}
  want = {jax.tree_util.keystr(p): tuple(x.shape)
          for p, x in jax.tree_util.tree_flatten_with_path(abstract)[0]}
  problems = [f"missing {k}" for k in sorted(set(want) - set(have))]
  problems += [f"{k}: {have[k]} != {want[k]}" for k in sorted(set(want) & set(have))
               if have[k] != want[k]]
  if problems:
    raise ValueError(f"config.init_backbone_from={source} does not fit config.model's ViT: "
                     + "; ".join(problems[:8]))


def import_vit_backbone(variables: dict[str, Any], source: str, abstract_variables,
                        model_config) -> dict[str, Any]:
  """``TrainTask.with_backbone``: ``variables`` with ``params/backbone`` from ``source``."""
  del abstract_variables  # shapes are checked against config.model's backbone
  loaded, note = load_backbone(source, model_config)
  if note:
    print(f"[init_backbone_from] {note}")
  params = dict(variables["params"])
  params["backbone"] = jax.tree_util.tree_map(np.asarray, loaded["params"]["backbone"])
  return dict(variables, params=params)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(
      prog="python -m trackjax.families.actrack.vit_checkpoint",
      description="ViT-B/16 checkpoint (MAE, timm, OSTrack) -> ACTrack backbone directory")
  parser.add_argument("--config", required=True, help="an ACTrack config, configs/actrack_*.py")
  parser.add_argument("--checkpoint", required=True)
  parser.add_argument("--out", required=True)
  args = parser.parse_args(argv)
  from trackjax.config_files import load_config  # pylint: disable=g-import-not-at-top
  config = load_config(args.config)
  try:
    state_dict, _ = load_torch_checkpoint(args.checkpoint)
    variables, note = backbone_from_state_dict(state_dict, config.model)
  except CheckpointError as e:
    print(f"error: {args.checkpoint}: {e}", file=sys.stderr)
    return 1
  weights.save_variables(args.out, variables, {
      "family": config.family, "model": config.model.to_dict(), "source": args.checkpoint,
      "origin": "ViT backbone (trackjax.families.actrack.vit_checkpoint)", "note": note})
  count = sum(int(np.size(x)) for x in jax.tree_util.tree_leaves(variables))
  print(f"converted ViT backbone: {count:,} parameters -> {args.out}\nnote: {note}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
