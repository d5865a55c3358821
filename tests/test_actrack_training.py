"""ACTrack's config variants, train task and frozen backbone, and a few real steps of both
quickstart-style stages through the shared loop on tiny synthetic data."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from trackjax import weights
from trackjax.config_files import load_config
from trackjax.families import get_family
from trackjax.families.actrack import training
from trackjax.train import loop
from trackjax.train import optimizer as optimizer_lib

CONFIG = "configs/actrack_vitb256.py"


@pytest.mark.parametrize("variant", ["", "tiny", "quickstart"])
def test_every_variant_loads_and_builds(variant):
  config = load_config(CONFIG + (":" + variant if variant else ""))
  assert config.family == "actrack"
  shapes = jax.eval_shape(lambda rng: get_family("actrack").init_variables(config.model, rng),
                          jax.random.PRNGKey(0))
  # The ViT-B recipe starts from released weights: no corner head; the from-scratch variants
  # train one in their 'backbone' stage.
  parts = {"backbone", "additive", "decoder"} | ({"corner_head"} if variant else set())
  assert set(shapes["params"]) == parts
  expected = ("additive",) if not variant else ("backbone", "additive")
  assert config.train.stages == expected
  assert config.train.additive.kind == "additive"
  if variant:
    assert config.train.additive.init_from_stage == "backbone"


def test_reference_recipe_is_ostracks_with_artracks_tokens():
  config = load_config(CONFIG)
  m = config.model
  assert (m.vit_width, m.vit_depth, m.vit_heads, m.patch_size) == (768, 12, 12, 16)
  assert (m.template_size, m.template_factor, m.search_size, m.search_factor) == (128, 2, 256, 4)
  assert (m.num_bins, m.coordinate_range, m.num_previous) == (400, 2.0, 7)
  stage = config.train.additive
  assert (stage.learning_rate, stage.weight_decay, stage.grad_clip_norm) == (4e-4, 1e-4, 0.1)
  assert config.train.global_batch_size == 128 and config.train.samples_per_epoch == 60000
  data = training.actrack_data_config(load_config(CONFIG + ":tiny"), "additive")
  assert (data.sampler.mode, data.sampler.num_template) == ("causal", 1)
  assert (data.processing.search_size, data.processing.backbone_stride) == (64, 8)


def test_unknown_stage_kind_is_refused():
  config = load_config(CONFIG + ":tiny")
  config.train.additive.kind = "adapter"
  with pytest.raises(ValueError, match="kind='adapter'"):
    training.train_task(config)


def test_previous_boxes_end_at_the_crop_centre_box():
  target = jnp.array([[0.3, 0.35, 0.5, 0.25], [0.4, 0.4, 0.2, 0.2]], jnp.float32)
  boxes = training.previous_boxes(jax.random.PRNGKey(0), target, 5, 256, 4.0, 0.05, 0.05)
  assert boxes.shape == (2, 5, 4) and np.all(np.isfinite(boxes))
  latest = np.asarray(boxes[:, -1])
  centre = latest[:, :2] + latest[:, 2:] / 2
  np.testing.assert_allclose(centre, 255 / 512, atol=1e-6)
  np.testing.assert_allclose(np.sqrt(latest[:, 2] * latest[:, 3]), 0.25, atol=1e-6)
  np.testing.assert_allclose(latest[:, 2] / latest[:, 3], [2.0, 1.0], rtol=1e-5)
  assert np.max(np.abs(np.diff(np.asarray(boxes), axis=1))) > 1e-3  # a trajectory, not a point
  dropped = training.previous_boxes(jax.random.PRNGKey(0), target, 5, 256, 4.0, 0.05, 0.05, 1.0)
  np.testing.assert_allclose(dropped, np.repeat(latest[:, None], 5, axis=1), atol=1e-6)


def _fake_batch(model, batch=2, seed=0):
  rng = np.random.default_rng(seed)
  ts, ss = model.template_size, model.search_size
  return {
      "template_images": jnp.asarray(rng.integers(0, 255, (batch, 1, ts, ts, 3)), jnp.uint8),
      "template_pixel_scale": jnp.full((batch, 1), 1 / 255, jnp.float32),
      "search_images": jnp.asarray(rng.integers(0, 255, (batch, ss, ss, 3)), jnp.uint8),
      "search_pixel_scale": jnp.full((batch,), 1 / 255, jnp.float32),
      "search_anno": jnp.asarray([[0.35, 0.4, 0.25, 0.2]] * batch, jnp.float32),
  }


def _stage_setup(kind):
  config = load_config(CONFIG + ":tiny")
  config.train.additive.kind = kind
  task = training.train_task(config)
  variables = jax.jit(task.init_variables)(jax.random.PRNGKey(0))
  # Non-zero projections, as after some training, so every part has a gradient path.
  params = dict(variables["params"])
  params["additive"] = jax.tree_util.tree_map(
      lambda p: p + 0.01, params["additive"])
  stage_task = task.stage("additive")
  return config, {"params": params}, stage_task


def _grads(stage_task, variables, batch):
  """Gradients of the stage's loss and the FLOPs XLA compiled for them."""
  def loss(params):
    return stage_task.loss({"params": params}, batch, jax.random.PRNGKey(1), True)[0]
  compiled = jax.jit(jax.grad(loss)).lower(variables["params"]).compile()
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return compiled(variables["params"]), float(cost["flops"])


def test_additive_stage_takes_no_gradient_of_the_frozen_backbone():
  config, variables, additive = _stage_setup("additive")
  batch = _fake_batch(config.model)
  grads, flops = _grads(additive, variables, batch)
  backbone = jax.tree_util.tree_leaves(grads["backbone"])
  assert backbone and all(np.all(np.asarray(g) == 0) for g in backbone)
  for part in ("additive", "decoder"):
    assert max(float(jnp.max(jnp.abs(g))) for g in jax.tree_util.tree_leaves(grads[part])) > 0
  # (the tiny model's corner head trains in 'backbone' stages only)
  assert additive.frozen.split("|") == [r"^backbone/", r"^corner_head/"]
  _, _, full = _stage_setup("full")
  full_grads, full_flops = _grads(full, variables, batch)
  assert max(float(jnp.max(jnp.abs(g))) for g in jax.tree_util.tree_leaves(
      full_grads["backbone"])) > 0
  assert full.frozen == r"^corner_head/"
  # The backbone's weight gradients are not computed at all (stop-gradient, not masking).
  assert flops < 0.95 * full_flops, (flops, full_flops)


def test_frozen_backbone_has_no_optimizer_state_and_stays_bit_identical():
  config, variables, stage_task = _stage_setup("additive")
  stage = config.train.additive
  params = variables["params"]
  labels = optimizer_lib.parameter_labels(params, stage.trainable, stage_task.frozen)
  tx = optimizer_lib.build_optimizer(stage, labels, 4)
  count = lambda tree: sum(int(np.size(x)) for x in jax.tree_util.tree_leaves(tree))
  trained = count(params["additive"]) + count(params["decoder"])
  opt_state = tx.init(params)
  # AdamW's two moments of the trained parameters (plus step counters), none for the ViT.
  assert 2 * trained <= count(opt_state) < 2 * trained + 16
  batch = _fake_batch(config.model)

  @jax.jit
  def step(params, opt_state):
    grads = jax.grad(lambda p: stage_task.loss({"params": p}, batch, jax.random.PRNGKey(1),
                                               True)[0])(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  new, opt_state = step(params, opt_state)
  new, opt_state = step(new, opt_state)
  jax.tree_util.tree_map(np.testing.assert_array_equal, new["backbone"], params["backbone"])
  changed = jax.tree_util.tree_leaves(jax.tree_util.tree_map(
      lambda a, b: bool(np.any(np.asarray(a) != np.asarray(b))), new["decoder"],
      params["decoder"]))
  assert sum(changed) >= 0.9 * len(changed)


def _flat(tree):
  return {"/".join(str(getattr(k, "key", k)) for k in path): np.asarray(v)
          for path, v in jax.tree_util.tree_leaves_with_path(tree)}


@pytest.mark.slow
def test_both_stages_train_through_the_shared_loop(tmp_path):
  config = load_config(CONFIG + ":tiny")
  config.train.max_steps = 2
  config.train.checkpoint_every_steps = 100  # the final weights only
  config.train.val_every_epochs = 0
  init = jax.jit(training.train_task(config).init_variables)(loop.initial_rng(config))
  results = loop.train_and_evaluate(config, str(tmp_path / "run"))
  assert [r.name for r in results] == ["backbone", "additive"]
  assert all(np.isfinite(r.last_metrics["loss"]) for r in results)
  first = _flat(weights.load_variables(str(tmp_path / "run" / "backbone" / "final"))["params"])
  second = _flat(weights.load_variables(str(tmp_path / "run" / "additive" / "final"))["params"])
  before = _flat(init["params"])
  # Stage 'backbone': the ViT and the decoder train, the additive net stays zero-initialised.
  assert all(np.array_equal(before[n], first[n]) for n in before if n.startswith("additive/"))
  assert any(not np.array_equal(before[n], first[n]) for n in before if n.startswith("backbone/"))
  # ... and so does the corner head (the backbone stage's localisation loss).
  assert any(not np.array_equal(before[n], first[n]) for n in before
             if n.startswith("corner_head/"))
  assert "corner_l1" in results[0].last_metrics and "corner_l1" not in results[1].last_metrics
  # Stage 'additive': the ViT and the corner head are bit-identical, the additive projections
  # and decoder train.
  assert all(np.array_equal(first[n], second[n]) for n in first
             if n.startswith(("backbone/", "corner_head/")))
  assert any(not np.array_equal(first[n], second[n]) for n in first
             if n.startswith("additive/zero_proj"))
  assert any(not np.array_equal(first[n], second[n]) for n in first if n.startswith("decoder/"))
