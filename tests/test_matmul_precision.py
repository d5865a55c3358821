"""The opt-in bf16-product path (``config.model.matmul_dtype='bfloat16'``) against float32.

Tolerances. bf16 keeps 8 significant bits, so each rounded operand is off by at most 2^-9
relative; products are accumulated in float32. Layer tests compare against float32 products of the
same rounded operands, so only the summation order differs (1e-5 relative). Model tests bound what a
tracker sees: boxes within 0.5% of the search crop side (STARK's crop spans 5x the target, so 2.5%
of the target size: an IoU change below 0.05) and score logits within 0.02 (the sigmoid moves by
< 0.005 next to the 0.5 update threshold). Observed on the tiny model with random weights: 0.1-0.2%
of the crop and 2e-3 logits. Random networks are chaotic, so this is a loose proxy for trained ones.
"""

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from data_pipelines.synthetic import SyntheticSource
from trackjax.config_files import load_config
from trackjax.families.stark.model import (MATVEC_KERNELS, build_stark, dummy_inputs,
                                           inference_variables)
from trackjax.families.stark.tracker import StarkTracker
from trackjax.models.matmul_precision import (bfloat16_bits, check_matmul_dtype,
                                              mixed_conv_general_dilated, mixed_dot_general,
                                              round_matmul_kernels)
from trackjax.sot.tracker_variables import random_variables

BOX_TOLERANCE = 0.005  # fraction of the search crop side
LOGIT_TOLERANCE = 0.02


def rounded(x):
  return np.asarray(jnp.asarray(x, jnp.float32).astype(jnp.bfloat16).astype(jnp.float32))


def test_bit_rounding_equals_convert_including_ties_and_infinities():
  rng = np.random.default_rng(0)
  values = np.concatenate([
      rng.standard_normal(10000).astype(np.float32) * 10.0 ** rng.integers(-30, 30, 10000),
      # Exact ties between two bf16 values: both round to the even neighbour.
      np.array([0x3F808000, 0x3F818000, 0xBF808000], np.uint32).view(np.float32),
      np.array([np.inf, -np.inf, 0.0, -0.0, 3.0e38, 1e-40], np.float32),
  ])
  ours = np.asarray(lax.bitcast_convert_type(bfloat16_bits(jnp.asarray(values)), jnp.bfloat16))
  np.testing.assert_array_equal(ours.astype(np.float32), rounded(values))


def test_dot_rounds_operands_and_keeps_small_products_float32():
  rng = np.random.default_rng(1)
  x = rng.standard_normal((64, 96)).astype(np.float32)
  w = rng.standard_normal((96, 40)).astype(np.float32)
  dims = (((1,), (0,)), ((), ()))
  out = mixed_dot_general(jnp.asarray(x), jnp.asarray(w), dims)
  assert out.dtype == jnp.float32
  np.testing.assert_allclose(np.asarray(out), rounded(x) @ rounded(w), rtol=1e-5, atol=1e-4)
  assert np.abs(np.asarray(out) - x @ w).max() > 1e-4  # really rounded
  one_row = mixed_dot_general(jnp.asarray(x[:1]), jnp.asarray(w), dims)
  np.testing.assert_array_equal(np.asarray(one_row), np.asarray(lax.dot_general(x[:1], w, dims)))


@pytest.mark.parametrize("kernel,cin,stride,dilation", [
    (1, 16, 2, 1),  # 1x1 downsample: one product on the strided input
    (3, 128, 1, 1),  # KxK from 128 input channels: sum of K*K shifted products
    (3, 128, 2, 1),
    (3, 128, 1, 2),
])
def test_convolution_as_products_matches_a_convolution_of_rounded_operands(kernel, cin, stride,
                                                                           dilation):
  rng = np.random.default_rng(2)
  x = rng.standard_normal((2, 11, 9, cin)).astype(np.float32)
  w = (rng.standard_normal((kernel, kernel, cin, 24)) / np.sqrt(cin * kernel ** 2)).astype(np.float32)
  pad = dilation * (kernel - 1) // 2
  args = ((stride, stride), ((pad, pad), (pad, pad)), (1, 1), (dilation, dilation),
          lax.conv_dimension_numbers(x.shape, w.shape, ("NHWC", "HWIO", "NHWC")))
  ours = mixed_conv_general_dilated(jnp.asarray(x), jnp.asarray(w), *args)
  reference = lax.conv_general_dilated(rounded(x), rounded(w), *args,
                                       precision=lax.Precision.HIGHEST)
  assert ours.shape == reference.shape
  np.testing.assert_allclose(np.asarray(ours), np.asarray(reference), rtol=1e-5, atol=1e-5)


def test_narrow_kxk_convolution_stays_float32():
  rng = np.random.default_rng(3)
  x = jnp.asarray(rng.standard_normal((1, 8, 8, 64)), jnp.float32)
  w = jnp.asarray(rng.standard_normal((3, 3, 64, 8)), jnp.float32)
  args = ((1, 1), ((1, 1), (1, 1)), (1, 1), (1, 1),
          lax.conv_dimension_numbers(x.shape, w.shape, ("NHWC", "HWIO", "NHWC")))
  np.testing.assert_array_equal(np.asarray(mixed_conv_general_dilated(x, w, *args)),
                                np.asarray(lax.conv_general_dilated(x, w, *args)))


def test_unknown_matmul_dtype_names_the_field(repo_root):
  config = load_config(str(repo_root / "configs/stark_st50.py") + ":tiny")
  config.model.matmul_dtype = "float16"
  with pytest.raises(ValueError, match="config.model.matmul_dtype.*float16"):
    build_stark(config.model)
  assert check_matmul_dtype("float32") is None and check_matmul_dtype(None) is None


def sharpened(variables, factor=3.0):
  """Random weights give nearly flat corner maps; scaling the last corner convolutions makes the
  soft-argmax follow the input, so box differences are not hidden by a flat expectation."""
  flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(variables))
  for key in list(flat):
    if key[:2] == ("params", "box_head") and key[2].startswith("conv5_") and key[-1] == "kernel":
      flat[key] = flat[key] * factor
  return flax.traverse_util.unflatten_dict(flat)


def test_model_option_keeps_parameters_and_stays_within_tolerance(repo_root):
  config = load_config(str(repo_root / "configs/stark_st50.py") + ":tiny")
  assert config.model.matmul_dtype == "float32"
  reference = build_stark(config.model)
  config.model.matmul_dtype = "bfloat16"
  fast = build_stark(config.model)
  inputs = dummy_inputs(config.model, 3)
  variables = sharpened(random_variables(config, 0))
  shapes = lambda tree: jax.tree_util.tree_map(lambda x: (x.shape, x.dtype), tree)
  assert shapes(jax.eval_shape(fast.init, jax.random.PRNGKey(0), *inputs)) == shapes(
      jax.eval_shape(reference.init, jax.random.PRNGKey(0), *inputs))

  rng = np.random.default_rng(4)
  m = config.model
  t_img = rng.standard_normal((3, 2, m.template_size, m.template_size, 3)).astype(np.float32)
  t_mask = np.zeros((3, 2, m.template_size, m.template_size), bool)
  s_img = rng.standard_normal((3, m.search_size, m.search_size, 3)).astype(np.float32)
  s_mask = np.zeros((3, m.search_size, m.search_size), bool)
  s_mask[1, :, -40:] = True  # one padded crop
  out32 = jax.jit(reference.apply)(variables, t_img, t_mask, s_img, s_mask)
  boxes32 = np.asarray(out32["pred_boxes"]) * m.search_size
  assert np.ptp(boxes32[:, 0, :2], axis=0).max() > 2.0  # the boxes depend on the crop
  for v in (variables, inference_variables(variables, "bfloat16")):
    out = jax.jit(fast.apply)(v, t_img, t_mask, s_img, s_mask)
    box_error = np.abs(np.asarray(out["pred_boxes"]) * m.search_size - boxes32).max()
    logit_error = np.abs(np.asarray(out["pred_logits"]) - np.asarray(out32["pred_logits"])).max()
    assert 0 < box_error < BOX_TOLERANCE * m.search_size
    assert logit_error < LOGIT_TOLERANCE


def test_inference_variables_round_only_product_kernels(repo_root):
  config = load_config(str(repo_root / "configs/stark_st50.py") + ":tiny")
  variables = random_variables(config, 0)
  float32 = flax.traverse_util.flatten_dict(inference_variables(variables, "float32"), sep="/")
  assert all(v.dtype == jnp.float32 for v in float32.values())
  flat = flax.traverse_util.flatten_dict(inference_variables(variables, "bfloat16"), sep="/")
  dtypes = {k: v.dtype for k, v in flat.items()}
  assert dtypes["params/backbone/layer1_0/conv1/kernel"] == jnp.bfloat16  # 1x1
  assert dtypes["params/backbone/layer1_0/conv2/kernel"] == jnp.float32  # 3x3 on 8 channels
  for name in ("q_kernel", "k_kernel", "v_kernel"):  # split in-projection
    assert dtypes[f"params/transformer/encoder_layers_0/self_attn/{name}"] == jnp.bfloat16
  assert dtypes["params/transformer/decoder_layers_0/ffn/linear1/kernel"] == jnp.float32  # 1 row
  assert dtypes["params/cls_head/layers_0/kernel"] == jnp.float32
  assert all(v == jnp.float32 for k, v in dtypes.items() if not k.endswith("kernel"))
  # Rounding is idempotent and leaves bf16 leaves alone.
  again = flax.traverse_util.flatten_dict(round_matmul_kernels(
      flax.traverse_util.unflatten_dict(flat, sep="/"), keep_float32=MATVEC_KERNELS), sep="/")
  for key, value in flat.items():
    assert again[key].dtype == value.dtype
    np.testing.assert_array_equal(np.asarray(again[key], np.float32), np.asarray(value, np.float32))


def test_tracker_with_the_option_follows_the_float32_tracker(repo_root):
  config = load_config(str(repo_root / "configs/stark_st50.py") + ":tiny")
  variables = sharpened(random_variables(config, 0))
  source = SyntheticSource(1, 5, image_size=(72, 96), seed=5, split="test")
  box0 = source.sequence(0).boxes[0]
  trackers = [StarkTracker(config.model, config.tracker)]
  config.model.matmul_dtype = "bfloat16"
  trackers.append(StarkTracker(config.model, config.tracker))
  state = trackers[0].init(variables, source.read_frame(0, 0), box0)
  prepared = trackers[1].inference_variables(variables)
  assert trackers[1].inference_variables(variables) is prepared  # rounded once per variables
  differences = []
  for f in range(1, 5):
    # Both trackers step from the float32 tracker's state (random networks are chaotic, so
    # comparing two free-running trackers would measure that, not the option).
    frame = source.read_frame(0, f)
    (box32, score32, next_state), (box, score, _) = (
        t.track(variables, state, frame) for t in trackers)
    crop_side = config.model.search_factor * np.sqrt(state.box[2] * state.box[3])  # image px
    differences.append(np.abs(box - box32).max())
    assert differences[-1] < BOX_TOLERANCE * crop_side, f"frame {f}"
    assert abs(score - score32) < LOGIT_TOLERANCE / 4
    state = next_state
  assert max(differences) > 0  # the option is in use
