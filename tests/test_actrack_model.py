"""ACTrack's network: parameter counts, the zero-initialised additive net, coordinate tokens and
greedy decoding against a teacher-forced pass."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from trackjax.config_files import load_config
from trackjax.families.actrack import sequence as seq
from trackjax.families.actrack.model import build_actrack, dummy_inputs, init_variables
from trackjax.families.actrack.model import parameter_counts

CONFIG = "configs/actrack_vitb256.py"


def tiny_model():
  return load_config(CONFIG + ":tiny").model


def test_vitb16_backbone_has_the_parameters_of_ostracks_vit():
  model = load_config(CONFIG).model
  counts = parameter_counts(jax.eval_shape(lambda: init_variables(model, jax.random.PRNGKey(0))))
  d, m = 768, 3072
  block = (3 * d * d + 3 * d) + (d * d + d) + (d * m + m) + (m * d + d) + 4 * d
  patch = 16 * 16 * 3 * d + d
  positions = (8 * 8 + 16 * 16) * d  # template 128 and search 256 at patch 16
  assert counts["backbone"] == patch + positions + 12 * block + 2 * d
  # The additive net and the decoder are small beside it (trained vs frozen).
  assert counts["additive"] + counts["decoder"] < 0.06 * counts["backbone"]


def _random_batch(model, batch=2, seed=0):
  rng = np.random.default_rng(seed)
  ts, ss = model.template_size, model.search_size
  z = jnp.asarray(rng.normal(size=(batch, ts, ts, 3)), jnp.float32)
  x = jnp.asarray(rng.normal(size=(batch, ss, ss, 3)), jnp.float32)
  return z, x


def _encode(module, variables, z, x, use_additive):
  @jax.jit
  def encode(variables, z, x):
    memory = module.apply(variables, z, use_additive, method=module.template_memory)
    return module.apply(variables, memory, x, use_additive, method=module.encode)
  return encode(variables, z, x)


def test_zero_initialised_additive_net_leaves_the_backbone_output_unchanged():
  model = tiny_model()
  module = build_actrack(model)
  variables = jax.jit(lambda r: init_variables(model, r))(jax.random.PRNGKey(0))
  z, x = _random_batch(model)
  plain = _encode(module, variables, z, x, use_additive=False)
  with_additive = _encode(module, variables, z, x, use_additive=True)
  np.testing.assert_array_equal(with_additive, plain)
  # Whatever the conv weights, zero projections add nothing ...
  params = jax.tree_util.tree_map(lambda p: p, variables["params"])
  additive = dict(params["additive"])
  for name in additive:
    if not name.startswith("zero_proj"):
      additive[name] = jax.tree_util.tree_map(lambda p: p + 0.3, additive[name])
    else:
      assert all(np.all(np.asarray(v) == 0) for v in jax.tree_util.tree_leaves(additive[name]))
  params["additive"] = additive
  np.testing.assert_array_equal(_encode(module, {"params": params}, z, x, True), plain)
  # ... and trained projections do change the tokens.
  kernel = additive["zero_proj_0"]["kernel"]
  additive["zero_proj_0"] = dict(additive["zero_proj_0"], kernel=jax.random.normal(
      jax.random.PRNGKey(5), kernel.shape) * 0.1)
  changed = _encode(module, {"params": params}, z, x, True)
  assert np.max(np.abs(np.asarray(changed) - np.asarray(plain))) > 1e-3


def test_additive_features_enter_the_chosen_blocks_only():
  model = tiny_model()
  model.additive_blocks = (2, 2)
  module = build_actrack(model)
  variables = init_variables(model, jax.random.PRNGKey(0))
  z, x = _random_batch(model)
  memory = module.apply(variables, z, True, method=module.template_memory)
  assert len(memory["additive"]) == 2
  assert memory["additive"][0].shape == (2, (model.template_size // model.patch_size) ** 2,
                                         model.vit_width)
  with pytest.raises(ValueError, match="blocks 0..2"):
    bad = tiny_model()
    bad.additive_blocks = (1, 5)
    init_variables(bad, jax.random.PRNGKey(0))


@pytest.mark.parametrize("num_bins,coordinate_range", [(400, 2.0), (16, 2.0), (64, 3.0)])
def test_bin_quantisation_round_trips_within_half_a_bin(num_bins, coordinate_range):
  rng = np.random.default_rng(num_bins)
  lo = -(coordinate_range - 1) / 2
  coords = rng.uniform(lo, lo + coordinate_range, size=1000).astype(np.float32)
  bins = seq.quantize(coords, num_bins, coordinate_range)
  assert bins.dtype == jnp.int32 and int(bins.min()) >= 0 and int(bins.max()) < num_bins
  back = np.asarray(seq.dequantize(bins, num_bins, coordinate_range))
  half = seq.bin_width(num_bins, coordinate_range) / 2
  assert np.max(np.abs(back - coords)) <= half + 1e-6
  # The range's ends are bins 0 and num_bins - 1; beyond them coordinates are clipped.
  ends = seq.quantize(np.array([lo, lo + coordinate_range, lo - 5, lo + coordinate_range + 5,
                                np.nan]), num_bins, coordinate_range)
  assert list(np.asarray(ends)) == [0, num_bins - 1, 0, num_bins - 1, 0]


def test_box_tokens_are_the_corners():
  box = np.array([[0.25, 0.5, 0.5, 0.25]], np.float32)  # xywh in the crop
  tokens = seq.box_tokens(box, 401, 2.0)  # bin width 0.005, bin 100 = 0.0
  np.testing.assert_array_equal(tokens, [[150, 200, 250, 250]])


def _decoding_setup(window_influence=0.0):
  model = tiny_model()
  module = build_actrack(model)
  variables = jax.jit(lambda r: init_variables(model, r))(jax.random.PRNGKey(3))
  # Larger random decoder weights so that the argmax depends on the sequence.
  variables = {"params": dict(variables["params"], decoder=jax.tree_util.tree_map(
      lambda p: p * 20.0, variables["params"]["decoder"]))}
  z, x = _random_batch(model, batch=3)
  memory = jax.jit(lambda v: module.apply(v, module.apply(v, z, method=module.template_memory),
                                          x, method=module.search_memory))(variables)
  prompt = jax.random.randint(jax.random.PRNGKey(1), (3, 4 * model.num_previous), 0,
                              model.num_bins)
  logits_fn = jax.jit(lambda s: module.apply(variables, s, memory, method=module.decoder_logits))
  window = seq.bin_hanning_window(model.num_bins)
  tokens, probs = jax.jit(lambda p: seq.greedy_decode(logits_fn, p, model.num_bins, window,
                                                      window_influence))(prompt)
  return model, logits_fn, prompt, tokens, probs, window


@pytest.mark.parametrize("window_influence", [0.0, 0.4])
def test_greedy_decoding_equals_the_argmax_of_a_teacher_forced_pass(window_influence):
  model, logits_fn, prompt, tokens, probs, window = _decoding_setup(window_influence)
  assert tokens.shape == (3, 4) and probs.shape == (3, 4, model.num_bins)
  sequence = seq.teacher_forced_sequence(prompt, tokens, model.num_bins)
  forced = seq.coordinate_logits(logits_fn(sequence), prompt.shape[1])
  forced_probs = jax.nn.softmax(forced, axis=-1)
  np.testing.assert_allclose(probs, forced_probs, atol=1e-6)
  scores = forced_probs * (1 - window_influence) + window * window_influence
  np.testing.assert_array_equal(tokens, np.argmax(scores, axis=-1))
  # The decoder is causal: a later token changes nothing before it.
  other = sequence.at[:, -1].set((sequence[:, -1] + 1) % model.num_bins)
  np.testing.assert_allclose(logits_fn(other)[:, :-1], logits_fn(sequence)[:, :-1], atol=1e-5)


def test_the_prompt_conditions_the_prediction():
  model, logits_fn, prompt, _, _, _ = _decoding_setup()
  targets = jnp.zeros((3, 4), jnp.int32)
  a = logits_fn(seq.teacher_forced_sequence(prompt, targets, model.num_bins))
  b = logits_fn(seq.teacher_forced_sequence((prompt + 5) % model.num_bins, targets,
                                            model.num_bins))
  assert np.max(np.abs(np.asarray(a[:, -4:]) - np.asarray(b[:, -4:]))) > 1e-3


def test_dummy_inputs_have_the_sequence_length():
  model = tiny_model()
  z, x, s = dummy_inputs(model, batch_size=2)
  assert s.shape == (2, 4 * (model.num_previous + 1))
  assert z.shape == (2, 32, 32, 3) and x.shape == (2, 64, 64, 3)


@pytest.mark.parametrize("sides", [(4,), (2, 4)])
def test_memory_position_embeddings_tell_the_decoder_where_tokens_are(sides):
  """As ARTrack's decoder: keys = memory + position (+ type) embeddings, values = memory. Without
  them cross-attention is blind to the order of the memory tokens."""
  length = sum(s * s for s in sides)
  memory = jax.random.normal(jax.random.PRNGKey(0), (2, length, 16))
  sequence = jnp.array([[3, 1, 4, 1, 8, 2, 6, 5]] * 2, jnp.int32)
  order = np.random.default_rng(0).permutation(length)

  def logits(grid_sides):
    decoder = seq.SequenceDecoder(num_bins=8, num_previous=1, width=16, depth=1, num_heads=2,
                                  mlp_dim=32, memory_grid_sides=grid_sides)
    params = decoder.init(jax.random.PRNGKey(1), sequence, memory, method=decoder.logits)
    # Sharpen the cross-attention (its initial weights make it nearly uniform).
    params = jax.tree_util.tree_map_with_path(
        lambda path, x: x * 30 if "cross_attn" in str(path) and "kernel" in str(path)
        and ("'q'" in str(path) or "'k'" in str(path)) else x, params)
    run = lambda m: decoder.apply(params, sequence, m, method=decoder.logits)
    return params, run(memory), run(memory[:, order])

  params, plain, permuted = logits(sides)
  assert np.max(np.abs(np.asarray(plain) - np.asarray(permuted))) > 1e-3
  table = np.asarray(params["params"]["memory_pos"])
  assert table.shape == (1, length, 16)
  # Initialised with the sine-cosine table of each grid: its first token is at row 0, column 0
  # (sin 0 = 0, cos 0 = 1 for the 4 frequencies of rows, then of columns).
  first_of_grid = np.tile(np.repeat([0.0, 1.0], 4), 2)
  np.testing.assert_allclose(table[0, 0], first_of_grid, atol=1e-6)
  if len(sides) > 1:
    np.testing.assert_allclose(table[0, sides[0] ** 2], first_of_grid, atol=1e-6)
  assert ("memory_type" in params["params"]) == (len(sides) > 1)
  _, blind, blind_permuted = logits(())
  np.testing.assert_allclose(blind, blind_permuted, atol=1e-5)
