"""FineTrack's train task: refusals, batches, exact resume of the input, a :tiny run of the loop."""

import json

import numpy as np
import pytest

from trackjax.config_files import load_config
from trackjax.families.finetrack import training
from trackjax.train import loop

CONFIG = "configs/finetrack_r50.py"


def tiny_config(tmp_path):
  config = load_config(CONFIG + ":tiny")
  config.data.mot_synthetic.cache_dir = str(tmp_path / "synthetic_cache")
  return config


def test_refuses_a_batch_of_partial_groups(tmp_path):
  config = tiny_config(tmp_path)
  config.train.global_batch_size = 3  # frames_per_group 2
  with pytest.raises(ValueError, match="multiple of config.data.sgs.frames_per_group"):
    training.train_task(config)


def test_full_recipe_refuses_to_start_without_its_dataset(tmp_path):
  with pytest.raises(ValueError, match="config.data.mot_roots.mot17"):
    loop.train_and_evaluate(load_config(CONFIG), str(tmp_path / "run"))
  assert not (tmp_path / "run").exists()


def test_unknown_dataset_is_named(tmp_path):
  config = tiny_config(tmp_path)
  config.data.mot_mix = "mot18"
  with pytest.raises(ValueError, match="unknown MOT dataset 'mot18'"):
    training.dataset_entries(config)


def test_batches_hold_the_step_keys_and_resume_exactly(tmp_path):
  config = tiny_config(tmp_path)
  task = training.train_task(config)
  make = lambda: task.make_iterator(config, "stage1", split="train", seed=3, global_batch_size=4)
  it = make()
  batches = [next(it) for _ in range(3)]
  b = batches[0]
  height, width = config.model.image_size
  assert b["images"].shape == (4, height, width, 3) and b["images"].dtype == np.uint8
  assert b["boxes"].shape == (4, config.data.rois.max_per_frame, 4)
  assert set(training.STEP_KEYS) <= set(b) and b["skipped"].shape == (4, 1)
  it2 = make()
  next(it2), next(it2)
  state = it2.get_state()
  restored = make()
  restored.set_state(state)
  again = next(restored)
  for key in training.STEP_KEYS:
    np.testing.assert_array_equal(again[key], batches[2][key], err_msg=key)
  # Two processes: each takes its half of the same global batch.
  halves = [task.make_iterator(config, "stage1", split="train", seed=3, global_batch_size=4,
                               process_index=p, process_count=2) for p in range(2)]
  first = [next(h) for h in halves]
  np.testing.assert_array_equal(np.concatenate([f["labels"] for f in first]), b["labels"])


@pytest.mark.slow
def test_tiny_training_through_the_shared_loop(tmp_path):
  config = tiny_config(tmp_path)
  config.train.max_steps = 2
  results = loop.train_and_evaluate(config, str(tmp_path / "run"))
  assert results[0].steps == 2
  metrics = results[0].last_metrics
  assert np.isfinite(metrics["loss"]) and metrics["rois"] > 0
  assert {"ce_global", "triplet_global", "mask_diversity"} <= set(metrics)
  meta = json.loads((tmp_path / "run" / "stage1" / "final" / "weights.json").read_text())
  assert meta["family"] == "finetrack" and meta["model"]["name"] == "finetrack_tiny"


@pytest.mark.slow
def test_imagenet_start_imports_stem_and_layer1_to_3(tmp_path):
  import torch  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  from trackjax.convert import resnet_checkpoint  # pylint: disable=g-import-not-at-top
  from trackjax.convert.__main__ import main as convert_main  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  layout = resnet_checkpoint.torchvision_layout(blocks=(1, 1, 1), width=8, num_classes=10)
  state = {k: torch.from_numpy(rng.normal(size=s).astype(np.float32)) if len(s) else
           torch.tensor(1) for k, s in layout.items()}
  torch.save(state, tmp_path / "resnet.pth")
  assert convert_main(["resnet", "--checkpoint", str(tmp_path / "resnet.pth"), "--out",
                       str(tmp_path / "backbone")]) == 0
  config = tiny_config(tmp_path)
  config.model.backbone_norm = "frozen_bn"
  task = training.train_task(config)
  fresh = jax.jit(task.init_variables)(jax.random.key(0))
  abstract = jax.eval_shape(lambda: fresh)
  started = task.with_backbone(fresh, str(tmp_path / "backbone"), abstract)
  kernel = started["params"]["backbone"]["layer2_0"]["conv2"]["kernel"]
  expected = state["layer2.0.conv2.weight"].numpy().transpose(2, 3, 1, 0)
  np.testing.assert_array_equal(kernel, expected)
  np.testing.assert_array_equal(started["params"]["backbone"]["layer4_0"]["conv1"]["kernel"],
                                fresh["params"]["backbone"]["layer4_0"]["conv1"]["kernel"])
  np.testing.assert_array_equal(started["params"]["fpn"]["lateral0"]["kernel"],
                                fresh["params"]["fpn"]["lateral0"]["kernel"])
