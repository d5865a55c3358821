"""ImageNet start: torchvision ResNet state dicts -> backbone weights -> init_backbone_from.

torchvision's key layout is built by ``resnet_checkpoint.torchvision_layout``; it is checked against
torchvision itself when that imports, and always against the official STARK key lists, whose
``backbone.0.body.*`` entries are torchvision's ResNet-50/101 keys up to layer3.
"""

import numpy as np
import pytest
import torch

from conftest import official_keys
from trackjax.config_files import load_config
from trackjax.convert import resnet_checkpoint
from trackjax.families.stark import torch_checkpoint as stark_checkpoint
from trackjax.convert.__main__ import main as convert_main
from trackjax.convert.torch_rules import CheckpointError
from trackjax.train import checkpointing
from trackjax.weights import load_metadata, load_variables

DEPTHS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
TINY = dict(blocks=(1, 1, 1, 1), width=8)  # the :tiny configs' backbone (layer4 for realism)


def _torchvision_state_dict_shapes(depth):
  try:
    import torchvision  # pylint: disable=g-import-not-at-top
    model = getattr(torchvision.models, f"resnet{depth}")()
  except Exception:  # not installed, or built for another torch  pylint: disable=broad-except
    return None
  return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def random_state_dict(layout, seed=0):
  rng = np.random.default_rng(seed)
  return {k: (np.zeros(s, np.int64) if k.endswith("num_batches_tracked")
              else rng.random(s, dtype=np.float32) + 0.5) for k, s in layout.items()}


@pytest.mark.parametrize("depth, model", [(50, "st50"), (101, "st101")])
def test_layout_is_torchvisions(depth, model):
  layout = resnet_checkpoint.torchvision_layout(DEPTHS[depth])
  # torchvision 0.28: 320 / 626 keys, of which 53 / 104 num_batches_tracked, fc last.
  assert len(layout) == {50: 320, 101: 626}[depth]
  assert sum(k.endswith("num_batches_tracked") for k in layout) == {50: 53, 101: 104}[depth]
  assert list(layout)[-2:] == ["fc.weight", "fc.bias"] and layout["fc.weight"] == (1000, 2048)
  torchvision_shapes = _torchvision_state_dict_shapes(depth)
  if torchvision_shapes is not None:
    assert list(layout.items()) == list(torchvision_shapes.items())
  official = official_keys(model)
  prefix = "backbone.0.body."
  backbone = {k[len(prefix):]: s for k, (s, _) in official.items() if k.startswith(prefix)}
  trunk = resnet_checkpoint.torchvision_layout(DEPTHS[depth][:3], num_classes=0,
                                               batches_tracked=False)
  assert trunk == backbone


def test_resnet50_values_land_where_they_should():
  sd = random_state_dict(resnet_checkpoint.torchvision_layout(DEPTHS[50]), seed=1)
  variables, meta = resnet_checkpoint.resnet_variables_from_state_dict(sd)
  params, constants = variables["params"], variables["constants"]
  assert meta["backbone"] == {"kind": "resnet", "depth": 50, "blocks": [3, 4, 6], "width": 64,
                              "norm": "frozen_bn", "stages": ["layer1", "layer2", "layer3"]}
  np.testing.assert_array_equal(params["conv1"]["kernel"],
                                sd["conv1.weight"].transpose(2, 3, 1, 0))  # OIHW -> HWIO
  np.testing.assert_array_equal(params["layer2_0"]["downsample_conv"]["kernel"],
                                sd["layer2.0.downsample.0.weight"].transpose(2, 3, 1, 0))
  np.testing.assert_array_equal(params["layer3_5"]["conv3"]["kernel"][0, 0],
                                sd["layer3.5.conv3.weight"][:, :, 0, 0].T)
  np.testing.assert_array_equal(constants["bn1"]["running_mean"], sd["bn1.running_mean"])
  np.testing.assert_array_equal(constants["layer3_5"]["bn2"]["running_var"],
                                sd["layer3.5.bn2.running_var"])
  np.testing.assert_array_equal(constants["layer1_0"]["downsample_bn"]["weight"],
                                sd["layer1.0.downsample.1.weight"])
  # The reference's backbone: 8,512,704 parameters (conv kernels) and, as buffers, the frozen
  # batch-norm values (the 1-D entries of the official key list).
  count = lambda tree: sum(x.size for x in _leaves(tree))
  official = official_keys("st50")
  backbone = [s for k, (s, _) in official.items() if k.startswith("backbone.0.body.")]
  assert count(params) == 8_512_704 == sum(int(np.prod(s)) for s in backbone if len(s) == 4)
  assert count(constants) == sum(int(np.prod(s)) for s in backbone if len(s) == 1)
  assert sorted(meta["ignored"]) == sorted(k for k in sd if k.startswith(("layer4.", "fc."))
                                           and not k.endswith("num_batches_tracked"))
  assert "50 layer4.* keys" in meta["ignored_note"] and "fc.weight, fc.bias" in meta["ignored_note"]


def _leaves(tree):
  if isinstance(tree, dict):
    for v in tree.values():
      yield from _leaves(v)
  else:
    yield np.asarray(tree)


def test_depth_is_read_from_the_blocks_and_checked():
  shapes_only = lambda layout: {k: np.broadcast_to(np.float32(0), s) for k, s in layout.items()}
  sd101 = shapes_only(resnet_checkpoint.torchvision_layout(DEPTHS[101]))
  assert resnet_checkpoint.resnet_layout(sd101) == ((3, 4, 23), 64, 101)
  sd50 = shapes_only(resnet_checkpoint.torchvision_layout(DEPTHS[50]))
  with pytest.raises(CheckpointError, match="--depth 101 but the file is a ResNet-50"):
    resnet_checkpoint.resnet_variables_from_state_dict(sd50, depth=101)
  tiny = shapes_only(resnet_checkpoint.torchvision_layout(**TINY))
  assert resnet_checkpoint.resnet_layout(tiny) == ((1, 1, 1), 8, None)
  basic = {k: v for k, v in tiny.items() if ".conv3." not in k and ".bn3." not in k}
  with pytest.raises(CheckpointError, match="basic-block"):
    resnet_checkpoint.resnet_layout(basic)
  with pytest.raises(CheckpointError, match="no conv1.weight"):
    resnet_checkpoint.resnet_layout({"weight": np.zeros(3)})


def test_missing_extra_and_misshapen_keys_are_named():
  sd = random_state_dict(resnet_checkpoint.torchvision_layout(**TINY))
  convert = resnet_checkpoint.resnet_variables_from_state_dict
  missing = {k: v for k, v in sd.items() if k != "layer2.0.conv2.weight"}
  with pytest.raises(CheckpointError, match=r"1 keys .* missing: layer2\.0\.conv2\.weight"):
    convert(missing)
  with pytest.raises(CheckpointError, match=r"layer3\.0\.extra\.weight"):
    convert(dict(sd, **{"layer3.0.extra.weight": np.zeros(3, np.float32)}))
  with pytest.raises(CheckpointError, match=r"layer1\.0\.conv2\.weight \(8, 8, 5, 5\)"):
    convert(dict(sd, **{"layer1.0.conv2.weight": np.zeros((8, 8, 5, 5), np.float32)}))
  ddp = {"module." + k: v for k, v in sd.items()}  # DistributedDataParallel prefix
  assert convert(ddp)[1]["backbone"]["blocks"] == [1, 1, 1]


def test_cli_writes_weights_that_init_backbone_from_checks(tmp_path, repo_root):
  sd = {k: torch.from_numpy(np.asarray(v)) for k, v in
        random_state_dict(resnet_checkpoint.torchvision_layout(**TINY), seed=2).items()}
  path = tmp_path / "resnet_tiny.pth"
  torch.save(sd, path)
  out = tmp_path / "backbone"
  assert convert_main(["resnet", "--checkpoint", str(path), "--out", str(out)]) == 0
  assert convert_main(["resnet", "--checkpoint", str(path), "--out", str(tmp_path / "x"),
                       "--depth", "50"]) == 1
  restored = load_variables(str(out))
  np.testing.assert_array_equal(restored["params"]["layer1_0"]["conv2"]["kernel"],
                                sd["layer1.0.conv2.weight"].numpy().transpose(2, 3, 1, 0))
  meta = load_metadata(str(out))
  assert meta["backbone"]["blocks"] == [1, 1, 1] and meta["source"] == str(path)

  tiny = load_config(str(repo_root / "configs/stark_st50.py") + ":tiny")
  backbone = checkpointing.load_backbone_variables(
      str(out), stark_checkpoint.abstract_variables(tiny.model), tiny.model)
  np.testing.assert_array_equal(backbone["constants"]["layer3_0"]["bn3"]["running_var"],
                                sd["layer3.0.bn3.running_var"].numpy())
  for field, value, message in (
      ("backbone_width", 16, "width is 8 but config.model.backbone_width=16"),
      ("backbone_blocks", (1, 2, 1), r"\(1, 1, 1\).*build \(1, 2, 1\)"),
      ("backbone_norm", "group_norm", "backbone_norm='group_norm'")):
    model = load_config(str(repo_root / "configs/stark_st50.py") + ":tiny").model
    model[field] = value
    with pytest.raises(ValueError, match=rf"config\.init_backbone_from=.*{message}"):
      checkpointing.load_backbone_variables(str(out), stark_checkpoint.abstract_variables(model),
                                            model)
  with pytest.raises(ValueError, match=r"config\.init_backbone_from=.*not a converted ResNet"):
    checkpointing.load_backbone_variables(str(tmp_path), {}, tiny.model)
