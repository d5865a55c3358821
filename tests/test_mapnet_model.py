"""MAPNet-R's network: gates, padding masks, dual alignment, cached-template tracking, sizes."""

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from trackjax.families.mapnet import config as mapnet_config
from trackjax.families.mapnet.model import (ChannelGate, CrossLayer, DualAlignment, SpatialGate,
                                            Tokens, build_mapnet, dummy_inputs,
                                            inference_variables)

# Measured with jax.eval_shape (docs/mapnet.md): TransT's parts (backbone 8.51M, input_proj,
# one fusion stack 13.98M, heads) are 22.97M, TransT's published size.
FULL_PARAMS = 39_674_495
FULL_CONSTANTS = 61_184  # frozen-BN weight, bias, mean, var of ResNet-50 up to layer3


def count(tree):
  return sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(tree))


@pytest.fixture(scope="module")
def tiny():
  model_config = mapnet_config.model_config("tiny")
  model = build_mapnet(model_config)
  variables = jax.jit(model.init)(jax.random.PRNGKey(0), *dummy_inputs(model_config))
  return model_config, model, variables


@pytest.fixture(scope="module")
def encode(tiny):
  _, model, _ = tiny
  return jax.jit(lambda v, x, m: model.apply(v, x, m, method=model.encode_template))


def random_tokens(key, b, l, c, padded=None):
  k1, k2 = jax.random.split(key)
  mask = jnp.zeros((b, l), bool) if padded is None else padded
  return Tokens(jax.random.normal(k1, (b, l, c)), mask, 0.1 * jax.random.normal(k2, (b, l, c)))


def test_full_model_sizes_and_token_grids():
  model_config = mapnet_config.model_config()
  model = build_mapnet(model_config)
  variables = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), *dummy_inputs(model_config)))
  assert count(variables["params"]) == FULL_PARAMS
  assert count(variables["constants"]) == FULL_CONSTANTS
  assert set(variables) == {"params", "constants"}
  template = jax.eval_shape(
      lambda v, x, m: model.apply(v, x, m, method=model.encode_template), variables,
      *dummy_inputs(model_config)[:2])
  assert template.feat.shape == (1, 16 * 16, 256) and template.mask.shape == (1, 256)
  outputs = jax.eval_shape(lambda v, *x: model.apply(v, *x), variables, *dummy_inputs(model_config))
  assert outputs["pred_logits"].shape == (1, 32 * 32, 2)
  assert outputs["pred_boxes"].shape == (1, 32 * 32, 4)


def test_channel_gate_rescales_channels_only_and_ignores_padded_tokens():
  x = jax.random.normal(jax.random.PRNGKey(1), (2, 6, 8)) + 3.0  # away from 0: ratios are exact
  mask = jnp.array([[False] * 4 + [True] * 2, [False] * 6])
  gate = ChannelGate(reduction=2)
  params = gate.init(jax.random.PRNGKey(2), x, mask)
  out = gate.apply(params, x, mask)
  ratio = np.asarray(out / x)
  # One factor per (sample, channel), the same at every token, inside (0, 1).
  np.testing.assert_allclose(ratio, np.broadcast_to(ratio[:, :1], ratio.shape), rtol=1e-5)
  assert np.all((ratio > 0) & (ratio < 1))
  # Padded tokens do not enter the channel statistics.
  changed = x.at[0, 4:].set(100.0)
  np.testing.assert_allclose(gate.apply(params, changed, mask)[:, :4], out[:, :4], rtol=1e-6)


def test_spatial_gate_rescales_positions_only_one_token_at_a_time():
  x = jax.random.normal(jax.random.PRNGKey(3), (2, 6, 8)) + 3.0
  gate = SpatialGate(reduction=2)
  params = gate.init(jax.random.PRNGKey(4), x)
  out = gate.apply(params, x)
  ratio = np.asarray(out / x)
  # One factor per (sample, token), the same for every channel, inside (0, 1).
  np.testing.assert_allclose(ratio, np.broadcast_to(ratio[..., :1], ratio.shape), rtol=1e-5)
  assert np.all((ratio > 0) & (ratio < 1))
  assert np.ptp(ratio[..., 0]) > 1e-4  # positions do get different gates
  changed = x.at[:, 3].set(-5.0)  # another token's content leaves token 0's gate alone
  np.testing.assert_allclose(gate.apply(params, changed)[:, 0], out[:, 0], rtol=1e-6)


def test_masked_memory_keys_get_zero_attention_weight():
  query = random_tokens(jax.random.PRNGKey(5), 2, 5, 16)
  padded = jnp.array([[False] * 3 + [True] * 4, [False] * 6 + [True]])
  memory = random_tokens(jax.random.PRNGKey(6), 2, 7, 16, padded)
  layer = CrossLayer(num_heads=2, dim_feedforward=32, dropout=0.0, gate="channel")
  params = layer.init(jax.random.PRNGKey(7), query, memory)
  out = layer.apply(params, query, memory).feat
  changed = memory.replace(feat=jnp.where(padded[..., None], 1e3, memory.feat),
                           pos=jnp.where(padded[..., None], -1e3, memory.pos))
  np.testing.assert_allclose(layer.apply(params, query, changed).feat, out, rtol=1e-5, atol=1e-6)
  # A valid key does matter.
  moved = memory.replace(feat=memory.feat.at[:, 0].add(1.0))
  assert np.max(np.abs(layer.apply(params, query, moved).feat - out)) > 1e-4


def test_padded_tokens_never_reach_valid_search_outputs(tiny, encode):
  model_config, model, variables = tiny
  template_images, template_masks, search_images, search_masks = dummy_inputs(model_config, 2)
  rng = np.random.default_rng(0)
  template_images = jnp.asarray(rng.normal(size=template_images.shape), jnp.float32)
  search_images = jnp.asarray(rng.normal(size=search_images.shape), jnp.float32)
  # Right third of the template and bottom quarter of the search crop padded (sample 0 only).
  template_masks = template_masks.at[0, :, 40:].set(True)
  search_masks = search_masks.at[0, 96:].set(True)
  template = encode(variables, template_images, template_masks)
  search = encode(variables, search_images, search_masks)
  match = jax.jit(lambda v, t, s: model.apply(v, t, s, method=model.match))
  out = match(variables, template, search)

  def scramble(tokens, key):
    noise = 10.0 * jax.random.normal(key, tokens.feat.shape)
    return tokens.replace(feat=jnp.where(tokens.mask[..., None], noise, tokens.feat))

  changed = match(variables, scramble(template, jax.random.PRNGKey(8)),
                  scramble(search, jax.random.PRNGKey(9)))
  valid = ~np.asarray(search.mask)
  assert valid[0].sum() == 12 * 16 and valid[1].all()
  for key in ("pred_logits", "pred_boxes"):
    np.testing.assert_allclose(np.asarray(changed[key])[valid], np.asarray(out[key])[valid],
                               rtol=1e-4, atol=1e-5)


def test_dual_alignment_shapes_and_each_branch_depends_on_the_other():
  cls = random_tokens(jax.random.PRNGKey(10), 2, 9, 16)
  reg = random_tokens(jax.random.PRNGKey(11), 2, 9, 16).replace(pos=cls.pos)
  for order in ("cls_first", "reg_first"):
    module = DualAlignment(num_heads=2, dim_feedforward=32, dropout=0.0, order=order)
    params = module.init(jax.random.PRNGKey(12), cls, reg)
    out_cls, out_reg = module.apply(params, cls, reg)
    assert out_cls.feat.shape == out_reg.feat.shape == (2, 9, 16)

    def branch_sum(which, cls_feat, reg_feat):
      outs = module.apply(params, cls.replace(feat=cls_feat), reg.replace(feat=reg_feat))
      return jnp.sum(jnp.sin(outs[which].feat))

    d_cls_d_reg = jax.grad(lambda r: branch_sum(0, cls.feat, r))(reg.feat)
    d_reg_d_cls = jax.grad(lambda c: branch_sum(1, c, reg.feat))(cls.feat)
    assert float(jnp.max(jnp.abs(d_cls_d_reg))) > 1e-4, order
    assert float(jnp.max(jnp.abs(d_reg_d_cls))) > 1e-4, order
  module = DualAlignment(num_heads=2, dim_feedforward=32, dropout=0.0, order="none")
  out_cls, out_reg = module.apply({}, cls, reg)
  assert out_cls is cls and out_reg is reg


def test_track_step_with_cached_template_equals_call(tiny, encode):
  model_config, model, variables = tiny
  rng = np.random.default_rng(1)
  template_images, template_masks, search_images, search_masks = dummy_inputs(model_config, 2)
  template_images = jnp.asarray(rng.normal(size=template_images.shape), jnp.float32)
  search_images = jnp.asarray(rng.normal(size=search_images.shape), jnp.float32)
  search_masks = search_masks.at[1, :, :20].set(True)
  full = jax.jit(model.apply)(variables, template_images, template_masks, search_images,
                              search_masks)
  template = encode(variables, template_images, template_masks)
  track_step = jax.jit(lambda v, t, x, m: model.apply(v, t, x, m, method=model.track_step))
  step = track_step(variables, template, search_images, search_masks)
  for key in ("pred_logits", "pred_boxes"):
    np.testing.assert_allclose(step[key], full[key], rtol=1e-5, atol=1e-6)
  # The inference form (folded norms, split projections) computes the same step.
  fast = inference_variables(variables, model_config)
  folded = flax.traverse_util.flatten_dict(flax.core.unfreeze(fast["constants"]))
  assert folded and all(path[-1] == "shift" for path in folded)
  fast_step = track_step(fast, encode(fast, template_images, template_masks), search_images,
                         search_masks)
  for key in ("pred_logits", "pred_boxes"):
    np.testing.assert_allclose(fast_step[key], full[key], rtol=1e-4, atol=1e-5)
  boxes = np.asarray(full["pred_boxes"])
  assert full["pred_logits"].shape == (2, 256, 2) and np.all((boxes > 0) & (boxes < 1))


def test_dropout_in_train_mode_only():
  cls = random_tokens(jax.random.PRNGKey(13), 1, 4, 8)
  reg = random_tokens(jax.random.PRNGKey(14), 1, 4, 8)
  module = DualAlignment(num_heads=2, dim_feedforward=16, dropout=0.5)
  params = module.init(jax.random.PRNGKey(15), cls, reg)
  train = lambda key: module.apply(params, cls, reg, False, rngs={"dropout": key})[1].feat
  assert not np.allclose(train(jax.random.PRNGKey(0)), train(jax.random.PRNGKey(1)))
  np.testing.assert_array_equal(module.apply(params, cls, reg)[1].feat,
                                module.apply(params, cls, reg, True)[1].feat)


def test_other_choices_build():
  variant = mapnet_config.model_config("tiny")
  variant.update(cls_gate="spatial", reg_gate="none", gate_position="layer",
                 alignment_order="reg_first", alignment_ffn=False,
                 position_encoding_at="input", matcher_final_layer=False)
  other = build_mapnet(variant)
  out = jax.eval_shape(lambda: other.init_with_output(jax.random.PRNGKey(0),
                                                      *dummy_inputs(variant))[0])
  assert out["pred_boxes"].shape == (1, 256, 4)
  with pytest.raises(ValueError, match="gate"):
    bad = mapnet_config.model_config("tiny")
    bad.cls_gate = "both"
    jax.eval_shape(lambda: build_mapnet(bad).init(jax.random.PRNGKey(0), *dummy_inputs(bad)))
