"""STARK in Flax against hand-computed cases and against the independent PyTorch model."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from torch_stark_reference import TorchStark, randomize_
from trackjax.config_files import load_config
from trackjax.families.stark.model import Tokens, build_stark, dummy_inputs
from trackjax.families.stark.torch_checkpoint import load_stark_variables
from trackjax.models.heads import soft_argmax
from trackjax.models.normalization import BatchNorm
from trackjax.models.position_encoding import downsample_mask, sine_position_encoding

PARAMS = {"configs/stark_st50.py": 28_227_395, "configs/stark_s50.py": 28_095_554,
          "configs/stark_st101.py": 47_167_299}
CONSTANTS = {"configs/stark_st50.py": 61_184, "configs/stark_s50.py": 61_184,
             "configs/stark_st101.py": 165_632}


def count(tree):
  return sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(tree))


@pytest.mark.parametrize("path", sorted(PARAMS))
def test_parameter_counts_equal_the_reference(path, repo_root):
  config = load_config(str(repo_root / path))
  model = build_stark(config.model)
  v = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), *dummy_inputs(config.model)))
  assert count(v["params"]) == PARAMS[path]
  assert count(v["constants"]) == CONSTANTS[path]  # frozen-BN weight, bias, mean, var
  assert count(v["batch_stats"]) == 1920  # corner-head BN running statistics


def test_sine_position_encoding_by_hand():
  mask = np.array([[[False, False, True], [False, False, True]]])  # last column padded
  pos = np.asarray(sine_position_encoding(jnp.asarray(mask), num_pos_feats=4))
  assert pos.shape == (1, 2, 3, 8)
  eps, two_pi = 1e-6, 2 * math.pi
  # Cumulative counts of valid cells: a padded cell adds nothing, so in the padded column the row
  # count stays 0 (normalised by its own last row, 0 / (0 + eps) = 0) and the column count stays 2.
  y = np.array([[1, 1, 0], [2, 2, 0]]) / (np.array([2, 2, 0]) + eps) * two_pi
  x = np.array([1, 2, 2]) / (2 + eps) * two_pi
  features = lambda t: [np.sin(t), np.cos(t), np.sin(t / 100), np.cos(t / 100)]  # dim_t 1, 1, 100, 100
  for r in range(2):
    for c in range(3):
      np.testing.assert_allclose(pos[0, r, c], features(y[r, c]) + features(x[c]), atol=1e-5)


def test_mask_downsampling_samples_every_16th_pixel_like_torch():
  rng = np.random.default_rng(0)
  mask = rng.random((3, 320, 320)) > 0.7
  ours = np.asarray(downsample_mask(jnp.asarray(mask), 16))
  theirs = F.interpolate(torch.from_numpy(mask)[None].float(), size=(20, 20)).bool()[0].numpy()
  np.testing.assert_array_equal(ours, theirs)
  single = np.zeros((1, 32, 32), bool)
  single[0, 16, 17] = True  # not on the sampling grid
  assert not np.asarray(downsample_mask(jnp.asarray(single), 16)).any()
  single[0, 16, 16] = True
  assert np.asarray(downsample_mask(jnp.asarray(single), 16))[0, 1, 1]


def test_soft_argmax_grid_has_no_half_cell_offset():
  peak = np.full((1, 20, 20), -1e4, np.float32)
  peak[0, 7, 3] = 0.0  # row 7 (y), column 3 (x)
  np.testing.assert_allclose(np.asarray(soft_argmax(jnp.asarray(peak), 16, 320)),
                             [[3 * 16 / 320, 7 * 16 / 320]], atol=1e-6)
  uniform = jnp.zeros((1, 20, 20))
  np.testing.assert_allclose(np.asarray(soft_argmax(uniform, 16, 320)),
                             [[9.5 * 16 / 320] * 2], atol=1e-6)  # mean of 0..304 is 152


def padded_crop(rng, size, right=0, top=0):
  img = rng.standard_normal((1, size, size, 3)).astype(np.float32)
  mask = np.zeros((1, size, size), bool)
  if right:
    mask[:, :, size - right:] = True
  if top:
    mask[:, :top, :] = True
  return img, mask


@pytest.mark.parametrize("name,kwargs,path", [
    ("st50", {}, "configs/stark_st50.py"),
    ("s50", {"score_head": False}, "configs/stark_s50.py"),
    ("st101", {"blocks": (3, 4, 23)}, "configs/stark_st101.py"),
])
def test_converted_weights_reproduce_the_torch_model(name, kwargs, path, repo_root):
  torch_model = randomize_(TorchStark(**kwargs), seed=1)
  config = load_config(str(repo_root / path))
  variables = load_stark_variables(torch_model.state_dict(), config.model)
  rng = np.random.default_rng(2)
  templates = [padded_crop(rng, 128, right=40, top=20)]
  if config.model.num_templates == 2:
    templates.append(padded_crop(rng, 128))
  search = padded_crop(rng, 320, right=100, top=33)
  nchw = lambda x: torch.from_numpy(x).permute(0, 3, 1, 2)
  with torch.no_grad():
    boxes, logits = torch_model([(nchw(i), torch.from_numpy(m)) for i, m in templates],
                                (nchw(search[0]), torch.from_numpy(search[1])))
  model = build_stark(config.model)
  out = model.apply(variables, np.stack([t[0] for t in templates], 1),
                    np.stack([t[1] for t in templates], 1), *search)
  assert out["pred_boxes"].shape == (1, 1, 4)
  np.testing.assert_allclose(np.asarray(out["pred_boxes"]), boxes.numpy(), atol=1e-5)
  if logits is None:
    assert "pred_logits" not in out
  else:
    assert out["pred_logits"].shape == (1, 1, 1)
    np.testing.assert_allclose(np.asarray(out["pred_logits"]), logits.numpy(), atol=1e-4)


def tiny_model_and_variables(repo_root):
  config = load_config(str(repo_root / "configs/stark_st50.py") + ":tiny")
  model = build_stark(config.model)
  variables = model.init(jax.random.PRNGKey(0), *dummy_inputs(config.model, 2))
  return config, model, variables


def test_cached_template_step_equals_full_forward_and_compiles_once(repo_root):
  config, model, variables = tiny_model_and_variables(repo_root)
  rng = np.random.default_rng(0)
  ts, ss = config.model.template_size, config.model.search_size
  t_img = rng.standard_normal((2, 2, ts, ts, 3)).astype(np.float32)
  t_mask = rng.random((2, 2, ts, ts)) > 0.8
  full = model.apply(variables, t_img, t_mask, rng.standard_normal((2, ss, ss, 3)),
                     np.zeros((2, ss, ss), bool))
  del full
  encode = jax.jit(lambda v, i, m: model.apply(v, i, m, method=model.encode))
  tokens = Tokens.concatenate([encode(variables, t_img[:, k], t_mask[:, k]) for k in range(2)])
  traces = []

  def step(v, tok, img, mask):
    traces.append(1)
    return model.apply(v, tok, img, mask, method=model.track_step)

  step = jax.jit(step)
  for frame in range(3):
    s_img = rng.standard_normal((2, ss, ss, 3)).astype(np.float32)
    s_mask = np.zeros((2, ss, ss), bool)
    s_mask[:, :, ss - 8 * frame:] = frame > 0
    cached = step(variables, tokens, s_img, s_mask)
    direct = model.apply(variables, t_img, t_mask, s_img, s_mask)
    for key in ("pred_boxes", "pred_logits"):
      np.testing.assert_allclose(np.asarray(cached[key]), np.asarray(direct[key]), atol=1e-5)
  assert len(traces) == 1


def test_train_mode_updates_only_head_statistics(repo_root):
  config, model, variables = tiny_model_and_variables(repo_root)
  inputs = [np.asarray(x) + 0.5 for x in dummy_inputs(config.model, 2)]
  inputs[1] = inputs[1] > 1.0
  inputs[3] = inputs[3] > 1.0
  out, updates = model.apply(variables, *inputs, train=True, mutable=["batch_stats"],
                             rngs={"dropout": jax.random.PRNGKey(1)})
  assert set(updates) == {"batch_stats"}
  changed = jax.tree_util.tree_map(lambda a, b: bool(jnp.any(a != b)),
                                   updates["batch_stats"], variables["batch_stats"])
  assert all(jax.tree_util.tree_leaves(changed))
  # Frozen BN constants cannot be written in train mode (Flax refuses an immutable collection).
  _, again = model.apply(variables, *inputs, train=True, mutable=["batch_stats", "constants"],
                         rngs={"dropout": jax.random.PRNGKey(1)})
  for a, b in zip(jax.tree_util.tree_leaves(again["constants"]),
                  jax.tree_util.tree_leaves(variables["constants"])):
    np.testing.assert_array_equal(a, b)
  assert np.isfinite(np.asarray(out["pred_boxes"])).all()


def test_batch_norm_matches_torch_in_train_and_eval():
  rng = np.random.default_rng(0)
  x = rng.standard_normal((4, 5, 6, 3)).astype(np.float32) * 3 + 1
  bn = BatchNorm()
  variables = bn.init(jax.random.PRNGKey(0), x, train=False)
  y, updates = bn.apply(variables, x, train=True, mutable=["batch_stats"])
  tbn = torch.nn.BatchNorm2d(3).train()
  ty = tbn(torch.from_numpy(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).detach().numpy()
  np.testing.assert_allclose(np.asarray(y), ty, atol=1e-5)
  np.testing.assert_allclose(np.asarray(updates["batch_stats"]["var"]),
                             tbn.running_var.numpy(), atol=1e-6)  # unbiased update
  np.testing.assert_allclose(np.asarray(updates["batch_stats"]["mean"]),
                             tbn.running_mean.numpy(), atol=1e-6)
  tbn.eval()
  y_eval = bn.apply({"params": variables["params"], **updates}, x, train=False)
  np.testing.assert_allclose(
      np.asarray(y_eval),
      tbn(torch.from_numpy(x).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).detach().numpy(), atol=1e-5)


def test_resnet_serves_other_trackers_with_dilation_and_several_stages():
  from trackjax.models.resnet import ResNet
  net = ResNet(blocks=(1, 1, 1), width=8, dilate=(False, True, False),  # layer2, layer3, layer4
               outputs=("layer1", "layer2", "layer3"))
  x = jnp.zeros((1, 64, 64, 3))
  feats, _ = net.init_with_output(jax.random.PRNGKey(0), x)
  assert {k: v.shape for k, v in feats.items()} == {
      "layer1": (1, 16, 16, 32), "layer2": (1, 8, 8, 64), "layer3": (1, 8, 8, 128)}  # stride 8
  plain = ResNet(blocks=(1, 1, 1), width=8)
  out, _ = plain.init_with_output(jax.random.PRNGKey(0), x)
  assert out["layer3"].shape == (1, 4, 4, 128)  # stride 16


def test_stem_max_pool_equals_flax_max_pool_on_even_and_odd_sizes():
  import flax.linen as nn
  from trackjax.models.resnet import max_pool_3x3_s2
  rng = np.random.default_rng(3)
  for shape in ((2, 16, 12, 3), (1, 9, 7, 2), (1, 1, 2, 1)):
    x = jnp.asarray(rng.standard_normal(shape), jnp.float32)
    np.testing.assert_array_equal(
        np.asarray(max_pool_3x3_s2(x)),
        np.asarray(nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))))
