"""The inference form of the variables (``stark.inference_variables``) computes the stored model.

Folded norms, Winograd kernels, split attention projections and the attention shortcuts change
the order of float32 operations only; they are checked against direct computations (1e-5) and, on
a small STARK, against the independent PyTorch model at the parity tests' 1e-5 on boxes.
"""

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from jax import lax

from torch_stark_reference import TorchStark, randomize_
from trackjax.config_files import load_config
from trackjax.families.stark.model import build_stark, inference_variables
from trackjax.families.stark.torch_checkpoint import load_stark_variables
from trackjax.models import heads, resnet
from trackjax.models.convolution import Conv, fold_norms, winograd_conv3x3, winograd_kernels
from trackjax.models.transformer import MultiheadAttention, split_in_projections
from trackjax.sot.tracker_variables import random_variables


def flat(tree):
  return flax.traverse_util.flatten_dict(flax.core.unfreeze(tree), sep="/")


@pytest.mark.parametrize("height,width", [(8, 10), (7, 9), (1, 2)])
def test_winograd_convolution_equals_a_3x3_convolution(height, width):
  rng = np.random.default_rng(0)
  x = rng.standard_normal((2, height, width, 16)).astype(np.float32)
  w = (rng.standard_normal((3, 3, 16, 12)) / 12).astype(np.float32)
  reference = lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)),
                                       dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                       precision=lax.Precision.HIGHEST)
  u = jax.jit(lambda v: winograd_kernels(v, min_channels=1))({"params": {"c": {"kernel": w}}})
  out = jax.jit(winograd_conv3x3)(jnp.asarray(x), u["params"]["c"]["winograd_kernel"])
  assert out.shape == reference.shape
  np.testing.assert_allclose(np.asarray(out), np.asarray(reference), atol=1e-5)


def test_conv_module_reads_every_form_and_refuses_winograd_on_a_strided_layer():
  rng = np.random.default_rng(1)
  x = jnp.asarray(rng.standard_normal((1, 9, 9, 8)), jnp.float32)
  for kernel, stride in ((1, 2), (3, 1)):
    conv = Conv(5, (kernel, kernel), strides=(stride, stride), padding=(kernel // 2,) * 2)

    def outputs(variables, x):
      winograd = winograd_kernels(variables, min_channels=1)
      reference = lax.conv_general_dilated(
          x, variables["params"]["kernel"], (stride, stride), ((kernel // 2,) * 2,) * 2,
          dimension_numbers=("NHWC", "HWIO", "NHWC")) + variables["params"]["bias"]
      return reference, conv.apply(variables, x), conv.apply(winograd, x), winograd["params"]
    reference, stored, winograd, params = jax.jit(outputs)(random_like(conv, x), x)
    assert set(params) == ({"winograd_kernel", "bias"} if kernel == 3 else {"kernel", "bias"})
    np.testing.assert_allclose(np.asarray(stored), np.asarray(reference), atol=1e-5)
    np.testing.assert_allclose(np.asarray(winograd), np.asarray(reference), atol=1e-5)
  strided = Conv(5, (3, 3), strides=(2, 2), padding=(1, 1), name="down")
  variables = jax.eval_shape(lambda k, x: winograd_kernels(strided.init(k, x), min_channels=1),
                             jax.random.PRNGKey(0), x)
  with pytest.raises(ValueError, match="down: a winograd_kernel needs .*stride 1"):
    jax.eval_shape(strided.apply, variables, x)


def test_resnet_skip_pattern_names_exactly_the_strided_and_dilated_3x3_convolutions():
  x = jnp.zeros((1, 32, 32, 3))
  for dilate in ((False, False, False), (False, True, True)):
    net = resnet.ResNet(blocks=(2, 2, 2, 2), width=4, dilate=dilate, outputs=("layer4",))
    variables = jax.eval_shape(net.init, jax.random.PRNGKey(0), x)
    skip = resnet.strided_or_dilated_3x3(dilate)
    converted = jax.eval_shape(lambda v: winograd_kernels(v, skip=skip, min_channels=1), variables)
    kept = sorted(k[:-len("/kernel")] for k, v in flat(converted["params"]).items()
                  if k.endswith("/kernel") and v.shape[:2] == (3, 3))
    expected = ["layer2_0/conv2", "layer3_0/conv2", "layer4_0/conv2"]
    expected += [f"layer{s}_1/conv2" for s, d in zip((2, 3, 4), dilate) if d]
    assert kept == sorted(expected)
    jax.eval_shape(net.apply, converted, x)  # every Winograd layer is a stride-1 undilated one


def random_like(module, *args, seed=0, **kwargs):
  """Random variables of ``module`` (norm scales and variances in [0.5, 1.5], kernels scaled by
  fan-in), without running its initialisers (slow to compile)."""
  rng = np.random.default_rng(seed)
  out = {}
  for key, leaf in flat(jax.eval_shape(lambda: module.init(jax.random.PRNGKey(0), *args,
                                                           **kwargs))).items():
    name = key.rsplit("/", 1)[-1]
    if name in ("running_var", "var", "weight", "scale"):
      value = rng.uniform(0.5, 1.5, leaf.shape)
    elif name.endswith("kernel"):
      value = rng.standard_normal(leaf.shape) / np.sqrt(np.prod(leaf.shape[:-1]))
    else:
      value = rng.normal(0.0, 0.3, leaf.shape)
    out[key] = jnp.asarray(value, jnp.float32)
  return flax.traverse_util.unflatten_dict(out, sep="/")


def test_folded_norms_compute_the_same_blocks_and_keep_only_a_shift():
  rng = np.random.default_rng(2)
  x = jnp.asarray(rng.standard_normal((2, 12, 12, 16)), jnp.float32)
  block = resnet.Bottleneck(8, stride=2, downsample=True)
  layer = heads.ConvBnRelu(6)
  variables = random_like(block, x, seed=3), random_like(layer, x, train=False, seed=4)

  def outputs(block_variables, layer_variables):
    folded = (fold_norms(block_variables, resnet.CONV_NORM_PAIRS),
              fold_norms(layer_variables, heads.CONV_NORM_PAIRS))
    return folded, [(block.apply(b, x), layer.apply(h, x, train=False))
                    for b, h in (folded, (block_variables, layer_variables))]
  (block_folded, layer_folded), (folded_out, stored_out) = jax.jit(outputs)(*variables)
  assert set(flat(block_folded["constants"])) == {f"{n}/shift" for n in
                                                  ("bn1", "bn2", "bn3", "downsample_bn")}
  assert "batch_stats" not in layer_folded and set(flat(layer_folded["params"])) == {
      "conv/kernel", "conv/bias", "bn/shift"}
  for ours, theirs in zip(folded_out, stored_out):
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), atol=1e-5)
  with pytest.raises(ValueError, match="bn: a batch norm folded"):
    jax.eval_shape(lambda v, x: layer.apply(v, x, train=True), layer_folded, x)


@pytest.mark.parametrize("queries,keys", [(1, 1), (1, 40), (3, 40), (12, 12)])
def test_attention_shortcuts_and_split_projections_match_torch(queries, keys):
  # (1, 1): single key; (1, 40) and (3, 40): few queries (heads * Lq < Lk); (12, 12): full path.
  rng = np.random.default_rng(5)
  c, h = 16, 4
  q = rng.standard_normal((2, queries, c)).astype(np.float32)
  k = rng.standard_normal((2, keys, c)).astype(np.float32)
  v = rng.standard_normal((2, keys, c)).astype(np.float32)
  mask = np.zeros((2, keys), bool)
  mask[1, keys // 2:] = keys > 1  # half the keys of the second sample padded
  attention = MultiheadAttention(h)
  variables = random_like(attention, q, k, v, mask, seed=6)
  p = variables["params"]
  torch_attention = torch.nn.MultiheadAttention(c, h).eval()
  with torch.no_grad():
    torch_attention.in_proj_weight.copy_(torch.from_numpy(np.array(p["in_proj_kernel"]).T))
    torch_attention.in_proj_bias.copy_(torch.from_numpy(np.array(p["in_proj_bias"])))
    torch_attention.out_proj.weight.copy_(torch.from_numpy(np.array(p["out_proj"]["kernel"]).T))
    torch_attention.out_proj.bias.copy_(torch.from_numpy(np.array(p["out_proj"]["bias"])))
    seq = lambda x: torch.from_numpy(x).transpose(0, 1)
    expected = torch_attention(seq(q), seq(k), seq(v), key_padding_mask=torch.from_numpy(mask))[0]
  expected = expected.transpose(0, 1).numpy()
  for form in (variables, split_in_projections(variables)):
    np.testing.assert_allclose(np.asarray(jax.jit(attention.apply)(form, q, k, v, mask)),
                               expected, atol=1e-5)
  assert set(split_in_projections(variables)["params"]) == {
      "q_kernel", "k_kernel", "v_kernel", "q_bias", "k_bias", "v_bias", "out_proj"}


def test_inference_form_of_a_small_stark_matches_the_torch_model(repo_root):
  config = load_config(str(repo_root / "configs/stark_st50.py") + ":tiny")
  m = config.model
  torch_model = randomize_(TorchStark(blocks=m.backbone_blocks, width=m.backbone_width,
                                      d=m.hidden_dim, heads=m.num_heads, enc=m.num_encoder_layers,
                                      dec=m.num_decoder_layers, ff=m.dim_feedforward,
                                      head_channels=m.head_channels, search_size=m.search_size),
                           seed=1)
  variables = load_stark_variables(torch_model.state_dict(), m)
  rng = np.random.default_rng(2)
  crop = lambda size: rng.standard_normal((1, size, size, 3)).astype(np.float32)
  templates = [crop(m.template_size), crop(m.template_size)]
  t_masks = [np.zeros((1, m.template_size, m.template_size), bool) for _ in templates]
  t_masks[0][:, :, -20:] = True
  search, s_mask = crop(m.search_size), np.zeros((1, m.search_size, m.search_size), bool)
  s_mask[:, :17] = True
  nchw = lambda x: torch.from_numpy(x).permute(0, 3, 1, 2)
  with torch.no_grad():
    boxes, logits = torch_model(
        [(nchw(i), torch.from_numpy(k)) for i, k in zip(templates, t_masks)],
        (nchw(search), torch.from_numpy(s_mask)))
  model = build_stark(m)
  # The tiny model's convolutions are narrower than WINOGRAD_MIN_CHANNELS: all stride-1 3x3 ones
  # get Winograd kernels here, on top of the rest of the inference form.
  v = jax.jit(lambda v: winograd_kernels(v, skip=resnet.strided_or_dilated_3x3(), min_channels=1))(
      inference_variables(variables, "float32"))
  assert any(k.endswith("winograd_kernel") for k in flat(v))
  out = jax.jit(model.apply)(v, np.stack(templates, 1), np.stack(t_masks, 1), search, s_mask)
  np.testing.assert_allclose(np.asarray(out["pred_boxes"]), boxes.numpy(), atol=1e-5)
  np.testing.assert_allclose(np.asarray(out["pred_logits"]), logits.numpy(), atol=1e-4)


def test_st50_inference_form_uses_winograd_only_on_wide_stride_1_convolutions(repo_root):
  config = load_config(str(repo_root / "configs/stark_st50.py"))
  abstract = jax.eval_shape(lambda: inference_variables(random_variables(config), None))
  winograd = sorted(k.split("/")[-3] + "/" + k.split("/")[-2] for k in flat(abstract)
                    if k.endswith("winograd_kernel"))
  assert winograd == sorted(
      [f"layer2_{b}/conv2" for b in (1, 2, 3)] + [f"layer3_{b}/conv2" for b in range(1, 6)]
      + [f"conv{i}_{s}/conv" for i in (1, 2, 3) for s in ("tl", "br")])
  leaves = flat(abstract)
  assert not any(k.startswith("batch_stats") for k in leaves)  # head norms folded
  assert all(k.endswith("/shift") for k in leaves if k.startswith("constants/"))
