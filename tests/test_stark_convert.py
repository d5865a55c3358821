"""Official-checkpoint import: key coverage, exact round trip, errors, file formats, CLI."""

import pickle

import numpy as np
import pytest
import torch

from conftest import official_keys
from torch_stark_reference import TorchStark
from trackjax.config_files import load_config
from trackjax.families.stark import torch_checkpoint as stark_checkpoint
from trackjax.convert.__main__ import main as convert_main
from trackjax.weights import load_metadata, load_variables

MODELS = {"st50": "configs/stark_st50.py", "s50": "configs/stark_s50.py",
          "st101": "configs/stark_st101.py"}


def random_state_dict(keys, seed=0):
  rng = np.random.default_rng(seed)
  return {k: (np.zeros(s, np.int64) if d == "int64" else rng.standard_normal(s).astype(np.float32))
          for k, (s, d) in keys.items()}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_round_trip_of_official_key_list(name, repo_root):
  config_path = MODELS[name]
  keys = official_keys(name)
  config = load_config(str(repo_root / config_path))
  state_dict = random_state_dict(keys)
  variables = stark_checkpoint.stark_variables_from_state_dict(state_dict, config.model)
  back = stark_checkpoint.state_dict_from_variables(variables, torch_keys=list(keys))
  assert set(back) == set(keys)
  for k, (shape, dtype) in keys.items():
    if dtype == "int64":
      continue
    np.testing.assert_array_equal(back[k], state_dict[k], err_msg=k)
  # Every tensor lands in a distinct Flax leaf: total element counts agree.
  leaves = [v for c in variables.values() for v in _leaves(c)]
  assert sum(x.size for x in leaves) == sum(
      int(np.prod(s)) for k, (s, d) in keys.items() if d != "int64")


def _leaves(tree):
  if isinstance(tree, dict):
    for v in tree.values():
      yield from _leaves(v)
  else:
    yield tree


def test_specific_tensors_land_transposed(repo_root):
  keys = official_keys("st50")
  sd = random_state_dict(keys, seed=3)
  v = stark_checkpoint.stark_variables_from_state_dict(
      sd, load_config(str(repo_root / "configs/stark_st50.py")).model)
  np.testing.assert_array_equal(v["params"]["backbone"]["conv1"]["kernel"],
                                sd["backbone.0.body.conv1.weight"].transpose(2, 3, 1, 0))
  w = sd["transformer.encoder.layers.3.self_attn.in_proj_weight"]
  np.testing.assert_array_equal(
      v["params"]["transformer"]["encoder_layers_3"]["self_attn"]["in_proj_kernel"], w.T)
  np.testing.assert_array_equal(v["constants"]["backbone"]["layer3_5"]["bn2"]["running_var"],
                                sd["backbone.0.body.layer3.5.bn2.running_var"])
  np.testing.assert_array_equal(v["batch_stats"]["box_head"]["conv2_br"]["bn"]["mean"],
                                sd["box_head.conv2_br.1.running_mean"])
  np.testing.assert_array_equal(v["params"]["cls_head"]["layers_2"]["kernel"],
                                sd["cls_head.layers.2.weight"].T)


def test_golden_torch_model_has_the_official_keys():
  for name, kwargs in (("st50", {}), ("s50", {"score_head": False}),
                       ("st101", {"blocks": (3, 4, 23)})):
    official = official_keys(name)
    ours = {k: tuple(v.shape) for k, v in TorchStark(**kwargs).state_dict().items()}
    assert ours == {k: s for k, (s, _) in official.items()}, name


def test_mismatches_name_the_keys(repo_root):
  config = load_config(str(repo_root / "configs/stark_st50.py")).model
  keys = official_keys("st50")
  sd = random_state_dict(keys)
  missing = dict(sd)
  del missing["transformer.decoder.layers.2.norm3.weight"]
  with pytest.raises(stark_checkpoint.CheckpointError, match="decoder_layers_2/norm3/scale"):
    stark_checkpoint.stark_variables_from_state_dict(missing, config)
  extra = dict(sd, **{"box_head.extra.weight": np.zeros(3, np.float32)})
  with pytest.raises(stark_checkpoint.CheckpointError, match="box_head.extra.weight"):
    stark_checkpoint.stark_variables_from_state_dict(extra, config)
  wrong = dict(sd, **{"bottleneck.weight": np.zeros((256, 512, 1, 1), np.float32)})
  with pytest.raises(stark_checkpoint.CheckpointError, match="bottleneck.weight"):
    stark_checkpoint.stark_variables_from_state_dict(wrong, config)
  s50 = load_config(str(repo_root / "configs/stark_s50.py")).model
  with pytest.raises(stark_checkpoint.CheckpointError, match="configs/stark_s50.py"):
    stark_checkpoint.stark_variables_from_state_dict(sd, s50)
  ddp = {"module." + k: v for k, v in sd.items()}
  stark_checkpoint.stark_variables_from_state_dict(ddp, config)


class NotATensor:
  pass


def test_reads_official_file_layouts_safely(tmp_path, repo_root):
  config_path = str(repo_root / "configs/stark_s50.py") + ":tiny"
  tiny = load_config(config_path)
  model = TorchStark(blocks=(1, 1, 1), width=8, d=32, heads=2, enc=1, dec=1, ff=64,
                     head_channels=(16, 16, 8, 8), search_size=128, score_head=False)
  sd = model.state_dict()
  official = tmp_path / "STARKS_ep0500.pth.tar"
  torch.save({"net": sd, "net_type": "LittleBoy_clean_corner", "epoch": 500}, official)
  state, meta = stark_checkpoint.load_torch_checkpoint(str(official))
  assert meta["net_type"] == "LittleBoy_clean_corner" and set(state) == set(sd)
  bare = tmp_path / "bare.pth"
  torch.save(sd, bare)
  v = stark_checkpoint.load_stark_variables(str(bare), tiny.model)
  np.testing.assert_array_equal(v["params"]["query_embed"], sd["query_embed.weight"].numpy())

  pickled = tmp_path / "training.pth.tar"
  torch.save({"net": sd, "settings": NotATensor()}, pickled)
  with pytest.raises(stark_checkpoint.CheckpointError, match="strip it"):
    stark_checkpoint.load_torch_checkpoint(str(pickled))

  out = tmp_path / "converted"
  assert convert_main(["stark", "--config", config_path, "--checkpoint", str(official),
                       "--out", str(out)]) == 0
  restored = load_variables(str(out))
  np.testing.assert_array_equal(restored["params"]["bottleneck"]["bias"],
                                sd["bottleneck.bias"].numpy())
  assert load_metadata(str(out))["net_type"] == "LittleBoy_clean_corner"
  assert convert_main(["stark", "--config", str(repo_root / "configs/stark_st50.py") + ":tiny",
                       "--checkpoint", str(official), "--out", str(tmp_path / "bad")]) == 1
