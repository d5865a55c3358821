"""MAPNet-R's config variants, train task and a few real training steps on tiny synthetic data."""

import json

import jax
import numpy as np
import pytest

from trackjax import weights
from trackjax.config_files import load_config
from trackjax.families import get_family
from trackjax.families.mapnet import training
from trackjax.families.mapnet.model import build_mapnet, dummy_inputs
from trackjax.train import loop

CONFIG = "configs/mapnet_r50.py"


@pytest.mark.parametrize("variant", ["", "tiny", "quickstart"])
def test_every_variant_loads_and_builds(variant):
  config = load_config(CONFIG + (":" + variant if variant else ""))
  assert config.family == "mapnet" and config.train.stages == ("stage1",)
  family = get_family("mapnet")
  shapes = jax.eval_shape(lambda rng: family.init_variables(config.model, rng),
                          jax.random.PRNGKey(0))
  assert "params" in shapes
  build_mapnet(config.model)  # builds


def test_reference_recipe_is_transts():
  config = load_config(CONFIG)
  stage = config.train.stage1
  assert (stage.epochs, stage.lr_drop_epoch, stage.learning_rate) == (1000, 500, 1e-4)
  assert (stage.backbone_lr_scale, stage.weight_decay, stage.grad_clip_norm) == (0.1, 1e-4, 0.1)
  assert config.train.global_batch_size == 38 and config.train.samples_per_epoch == 38000
  assert config.data.sampler.max_gap == 100 and config.data.trackingnet_chunks == "0-3"
  p = config.data.processing
  assert (p.search_center_jitter, p.search_scale_jitter) == (3.0, 0.25)
  assert (p.template_center_jitter, p.template_scale_jitter) == (0.0, 0.0)
  assert stage.cls_weight == 8.334 and stage.precision_guided_cls and stage.confidence_guided_reg
  tiny = load_config(CONFIG + ":tiny")
  tiny.data.processing.template_size = 1  # the train task takes the crops from config.model
  data = training.mapnet_data_config(tiny, "stage1")
  assert (data.sampler.mode, data.sampler.num_template) == ("causal", 1)
  assert (data.processing.template_size, data.processing.search_size) == (64, 128)
  assert (data.processing.search_factor, data.processing.backbone_stride) == (4.0, 8)


def test_full_recipe_refuses_to_start_without_its_datasets(tmp_path):
  with pytest.raises(ValueError, match="--config.data.roots.lasot="):
    loop.train_and_evaluate(load_config(CONFIG), str(tmp_path / "run"))
  assert not (tmp_path / "run").exists()


def test_batches_hold_one_template_and_the_step_keys():
  config = load_config(CONFIG + ":tiny")
  task = training.train_task(config)
  batch = next(iter(task.make_iterator(config, "stage1", split="train", seed=0,
                                       global_batch_size=2)))
  assert batch["template_images"].shape == (2, 1, 64, 64, 3)
  assert batch["search_images"].shape == (2, 128, 128, 3) and batch["search_anno"].shape == (2, 4)
  assert set(task.stage("stage1").batch_keys) <= set(batch)


def _flat(tree):
  return {"/".join(str(getattr(k, "key", k)) for k in path): np.asarray(v)
          for path, v in jax.tree_util.tree_leaves_with_path(tree)}


def test_few_steps_of_training_change_parameters_not_frozen_constants(tmp_path):
  config = load_config(CONFIG + ":tiny")
  config.model.backbone_norm = "frozen_bn"
  config.train.max_steps = 2
  config.train.checkpoint_every_steps = 100  # the final weights only
  config.train.val_every_epochs = 0
  task = training.train_task(config)
  init = jax.jit(task.init_variables)(loop.initial_rng(config))
  loop.train_and_evaluate(config, str(tmp_path / "run"))
  final = weights.load_variables(str(tmp_path / "run" / "stage1" / "final"))
  records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
  losses = [r["train/loss"] for r in records if "train/loss" in r]
  assert losses and all(np.isfinite(losses))
  before, after = _flat(init["params"]), _flat(final["params"])
  frozen = [n for n in before if n.startswith("backbone/conv1") or n.startswith("backbone/layer1_")]
  assert frozen and all(np.array_equal(before[n], after[n]) for n in frozen)
  trained = [n for n in before if n not in frozen]
  changed = [n for n in trained if not np.array_equal(before[n], after[n])]
  assert len(changed) >= 0.9 * len(trained), sorted(set(trained) - set(changed))
  constants0, constants1 = _flat(init.get("constants", {})), _flat(final.get("constants", {}))
  assert constants0 and all(np.array_equal(constants0[n], constants1[n]) for n in constants0)
