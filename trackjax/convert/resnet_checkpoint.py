"""torchvision ImageNet ResNet weights -> backbone weights for ``config.init_backbone_from``.

The reference recipes start their backbone from torchvision's ImageNet ResNet-50 / -101
(``resnet50-19c8e357.pth``, ``Backbone(pretrained=True)``). Those files are bare state dicts in
torchvision's layout (``torchvision_layout``): ``conv1``, ``bn1``,
``layerL.B.{conv1,bn1,conv2,bn2,conv3,bn3}``, ``layerL.0.downsample.{0,1}``, ``fc``. The trackers'
backbones stop after layer3, so ``layer4.*`` and the classifier ``fc.*`` are left out (and
reported); every other key must be consumed by ``torch_rules.resnet_rules`` and every leaf of the
``trackjax.models.resnet.ResNet`` trunk filled.
Batch-norm weights and statistics go to the ``constants`` collection (frozen batch norm, as the
reference). The depth is read from the block counts (ResNet-50: 3, 4, 6; ResNet-101: 3, 4, 23).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from trackjax.convert.torch_rules import (IGNORED_KEYS, CheckpointError, convert_state_dict,
                                          resnet_rules, strip_module_prefix)

STAGES = ("layer1", "layer2", "layer3")  # what the trackers' backbones build
LEFT_OUT = ("layer4.", "fc.")  # what the reference does not use


def torchvision_layout(blocks=(3, 4, 6, 3), width: int = 64, num_classes: int = 1000,
                       batches_tracked: bool = True) -> dict[str, tuple[int, ...]]:
  """Key -> shape of a torchvision bottleneck ResNet's state dict, in torchvision's order.

  ``blocks`` per stage (3, 4, 6, 3 is ResNet-50); ``num_classes=0`` leaves out ``fc``;
  ``batches_tracked`` adds BatchNorm's ``num_batches_tracked`` counters (torchvision >= 0.4.1).
  """
  out: dict[str, tuple[int, ...]] = {}

  def batch_norm(prefix, channels):
    for name in ("weight", "bias", "running_mean", "running_var"):
      out[f"{prefix}.{name}"] = (channels,)
    if batches_tracked:
      out[f"{prefix}.num_batches_tracked"] = ()

  out["conv1.weight"] = (width, 3, 7, 7)
  batch_norm("bn1", width)
  in_channels = width
  for stage, count in enumerate(blocks, start=1):
    planes = width * 2 ** (stage - 1)
    for b in range(count):
      p = f"layer{stage}.{b}"
      block_in = in_channels if b == 0 else planes * 4
      out[f"{p}.conv1.weight"] = (planes, block_in, 1, 1)
      batch_norm(f"{p}.bn1", planes)
      out[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
      batch_norm(f"{p}.bn2", planes)
      out[f"{p}.conv3.weight"] = (planes * 4, planes, 1, 1)
      batch_norm(f"{p}.bn3", planes * 4)
      if b == 0:  # every stage changes stride or width in its first block
        out[f"{p}.downsample.0.weight"] = (planes * 4, block_in, 1, 1)
        batch_norm(f"{p}.downsample.1", planes * 4)
    in_channels = planes * 4
  if num_classes:
    out["fc.weight"] = (num_classes, in_channels)
    out["fc.bias"] = (num_classes,)
  return out


def resnet_layout(state_dict: Mapping[str, Any]) -> tuple[tuple[int, ...], int, int | None]:
  """(blocks of layer1..layer3, stem width, depth or None) read from a torchvision state dict."""
  if "conv1.weight" not in state_dict:
    raise CheckpointError("not a torchvision ResNet state dict: no conv1.weight (keys start "
                          f"{sorted(state_dict)[:5]})")
  width = int(np.shape(state_dict["conv1.weight"])[0])
  blocks = []
  for stage in STAGES:
    indices = {int(k.split(".")[1]) for k in state_dict
               if k.startswith(stage + ".") and k.split(".")[1].isdigit()}
    if not indices:
      raise CheckpointError(f"not a torchvision ResNet state dict: no {stage}.* keys")
    blocks.append(max(indices) + 1)
  if "layer1.0.conv3.weight" not in state_dict:
    raise CheckpointError("layer1.0.conv3.weight missing: a basic-block ResNet (18/34)? The "
                          "trackers' backbone is a bottleneck ResNet-50/101")
  from trackjax.models.resnet import RESNET_DEPTHS  # pylint: disable=g-import-not-at-top
  depth = next((d for d, b in RESNET_DEPTHS.items() if tuple(b[:3]) == tuple(blocks)), None)
  return tuple(blocks), width, depth


def abstract_resnet_variables(blocks, width: int) -> dict[str, Any]:
  """Shapes of the variables of the frozen-batch-norm ResNet trunk up to layer3."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from trackjax.models.resnet import ResNet  # pylint: disable=g-import-not-at-top
  model = ResNet(blocks=tuple(blocks), width=width, outputs=(STAGES[-1],), norm="frozen_bn")
  return jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), jnp.zeros((1, 64, 64, 3))))


def resnet_variables_from_state_dict(state_dict: Mapping[str, Any], depth: int | None = None
                                     ) -> tuple[dict[str, Any], dict[str, Any]]:
  """torchvision ResNet state dict -> (variables ``{params, constants}``, metadata).

  ``depth`` (50, 101, 152), when given, must be the file's. The metadata (``backbone``: kind,
  depth, blocks, width, norm; ``ignored``: the keys left out) is what ``weights.json`` records and
  ``trackjax.train.checkpointing.load_backbone_variables`` checks against the model.
  """
  state_dict = strip_module_prefix(state_dict)
  blocks, width, found = resnet_layout(state_dict)
  if depth is not None and found != depth:
    raise CheckpointError(f"--depth {depth} but the file is "
                          + (f"a ResNet-{found}" if found else f"a ResNet with {blocks} blocks in "
                             "layer1..layer3") + f" (layer3 has {blocks[2]} blocks)")
  left_out = [k for k in state_dict if k.startswith(LEFT_OUT) and not IGNORED_KEYS.match(k)]
  trunk = {k: v for k, v in state_dict.items() if not k.startswith(LEFT_OUT)}
  wanted = torchvision_layout(blocks, width, num_classes=0, batches_tracked=False)
  missing = [k for k in wanted if k not in trunk]
  if missing:
    raise CheckpointError(f"{len(missing)} keys of a torchvision ResNet with blocks {blocks} are "
                          "missing: " + ", ".join(missing[:20])
                          + (" ..." if len(missing) > 20 else ""))
  variables = convert_state_dict(trunk, resnet_rules(), abstract_resnet_variables(blocks, width))
  fc = [k for k in left_out if k.startswith("fc.")]
  layer4 = [k for k in left_out if k.startswith("layer4.")]
  notes = []
  if layer4:
    notes.append(f"{len(layer4)} layer4.* keys (the trackers' backbones stop after layer3)")
  if fc:
    notes.append(f"{', '.join(fc)} (the ImageNet classifier)")
  meta = {"backbone": {"kind": "resnet", "depth": found, "blocks": list(blocks), "width": width,
                       "norm": "frozen_bn", "stages": list(STAGES)},
          "ignored": left_out, "ignored_note": "; ".join(notes)}
  return variables, meta
