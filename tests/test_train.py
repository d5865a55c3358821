"""Training recipe: losses, optimizer groups, one-step smoke per stage, freezing, exact resume
(in process and after ``kill -9``), 8 simulated devices == 1 device, restore onto another device
count, non-finite stop, ImageNet backbone start, a custom-data run built from command-line flags.

Compiled programs go to a per-session persistent cache shared with the subprocesses.
"""

import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from fake_train_data import tiny_config
from trackjax import weights
from trackjax.train import checkpointing
from trackjax.train import losses
from trackjax.train import optimizer as optimizer_lib
from trackjax.train import sharding

REPO = pathlib.Path(__file__).resolve().parents[1]
RUNNER = REPO / "tests" / "tiny_training_run.py"


@pytest.fixture(scope="module")
def jax_cache(tmp_path_factory):
  return str(tmp_path_factory.mktemp("jax_cache"))


def _train(cache, workdir, max_steps, devices=1, stages="stage1", nan_at=-1, sleep=0.0,
           wait=True, check=True, save_init="", evaluate=False, init_backbone_from="", replay=0):
  """Runs ``tests/tiny_training_run.py`` (the tiny recipe on fake data) in a subprocess."""
  env = dict(os.environ, TRACKJAX_TEST_JAX_CACHE=cache, PYTHONPATH=str(REPO))
  cmd = [sys.executable, str(RUNNER), str(workdir), str(max_steps), "--devices", str(devices),
         "--stages", stages, "--nan-at", str(nan_at), "--sleep", str(sleep), "--save-init", str(save_init)]
  if evaluate:
    cmd.append("--evaluate")
  if init_backbone_from:
    cmd += ["--init-backbone-from", str(init_backbone_from)]
  if replay:
    cmd += ["--replay", str(replay)]
  if not wait:
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
  proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=400)
  if check:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  return proc


def _final(workdir, stage="stage1"):
  return checkpointing.load_trained_variables(str(pathlib.Path(workdir) / stage))


def _assert_trees_close(a, b, rtol=1e-6, atol=1e-7):
  paths_a = jax.tree_util.tree_flatten_with_path(a)[0]
  paths_b = dict(jax.tree_util.tree_flatten_with_path(b)[0])
  assert len(paths_a) == len(paths_b)
  for path, x in paths_a:
    np.testing.assert_allclose(np.asarray(x), np.asarray(paths_b[path]), rtol=rtol, atol=atol,
                               err_msg=jax.tree_util.keystr(path))


def _select(tree, pattern, labels=None):
  """{path: array} of leaves whose 'a/b/c' path matches ``pattern`` (regex)."""
  import re
  out = {}
  for path, x in jax.tree_util.tree_flatten_with_path(tree)[0]:
    name = optimizer_lib.path_string(path)
    if re.search(pattern, name):
      out[name] = np.asarray(x)
  return out


# ------------------------------------------------------------------------------ losses


def test_box_losses_hand_computed():
  pred = jnp.array([[0.5, 0.5, 0.4, 0.4]])  # xyxy 0.3..0.7
  target = jnp.array([[0.5, 0.5, 0.4, 0.2]])  # xyxy 0.5,0.5,0.9,0.7
  out = losses.box_losses(pred, target)
  # intersection 0.2*0.2=0.04, union 0.16+0.08-0.04=0.2, enclosing 0.6*0.4=0.24
  iou = 0.04 / 0.2
  giou = iou - (0.24 - 0.2) / 0.24
  np.testing.assert_allclose(out["iou"], iou, rtol=1e-5)
  np.testing.assert_allclose(out["giou"], 1 - giou, rtol=1e-5)
  np.testing.assert_allclose(out["l1"], np.mean([0.2, 0.2, 0.2, 0.0]), rtol=1e-5)


def test_box_losses_clamp_target_and_degenerate_fallback():
  # Target x1 < 0 is clamped to 0 before the L1.
  out = losses.box_losses(jnp.array([[0.2, 0.2, 0.4, 0.4]]), jnp.array([[-0.2, 0.0, 0.6, 0.4]]))
  np.testing.assert_allclose(out["l1"], np.mean([0.0, 0.0, 0.0, 0.0]), atol=1e-6)
  # A negative-width prediction: the GIoU term is 0 for the whole batch, gradients stay finite.
  pred = jnp.array([[0.5, 0.5, -0.1, 0.2], [0.5, 0.5, 0.2, 0.2]])
  target = jnp.array([[0.4, 0.4, 0.2, 0.2], [0.4, 0.4, 0.2, 0.2]])
  out = losses.box_losses(pred, target)
  assert float(out["giou"]) == 0.0
  assert float(out["iou"]) == pytest.approx(0.5, rel=1e-5)  # only the valid box counts
  grad = jax.grad(lambda p: losses.box_losses(p, target)["l1"] * 5 +
                  losses.box_losses(p, target)["giou"] * 2)(pred)
  assert np.all(np.isfinite(grad))


def test_bce_with_logits_matches_formula():
  logits = jnp.array([-30.0, -1.0, 0.0, 2.0, 40.0])
  labels = jnp.array([0.0, 1.0, 1.0, 0.0, 1.0])
  x, y = np.asarray(logits, np.float64), np.asarray(labels)
  want = np.mean(np.where(y == 1, np.logaddexp(0, -x), np.logaddexp(0, x)))  # -log p, -log(1-p)
  np.testing.assert_allclose(losses.bce_with_logits(logits, labels), want, rtol=1e-5)


# ------------------------------------------------------------------------------ optimizer


def _stage(**overrides):
  stage = ml_collections.ConfigDict(dict(
      learning_rate=1e-2, weight_decay=0.0, backbone_lr_scale=0.1, grad_clip_norm=1.0,
      lr_drop_epoch=2, lr_drop_factor=0.1, trainable=r".*", frozen=r"^backbone/conv1/"))
  stage.update(overrides)
  return stage


def _toy_params():
  return {"backbone": {"conv1": {"kernel": jnp.ones(3)}, "layer2_0": {"kernel": jnp.ones(2)}},
          "head": {"bias": jnp.ones(2)}}


def test_parameter_labels_and_errors():
  labels = optimizer_lib.parameter_labels(_toy_params(), r".*", r"^backbone/conv1/")
  assert labels["backbone"]["conv1"]["kernel"] == "frozen"
  assert labels["backbone"]["layer2_0"]["kernel"] == "backbone"
  assert labels["head"]["bias"] == "other"
  only_head = optimizer_lib.parameter_labels(_toy_params(), r"^head/")
  assert only_head["backbone"]["layer2_0"]["kernel"] == "frozen"
  with pytest.raises(ValueError, match="no parameter to train"):
    optimizer_lib.parameter_labels(_toy_params(), r"^nothing/")
  with pytest.raises(ValueError, match="regex"):
    optimizer_lib.parameter_labels(_toy_params(), r"(")


def test_optimizer_groups_clipping_and_step_lr():
  params = _toy_params()
  stage = _stage()
  labels = optimizer_lib.parameter_labels(params, stage.trainable, stage.frozen)
  tx = optimizer_lib.build_optimizer(stage, labels, num_steps_per_epoch=3)
  state = tx.init(params)
  # Frozen parameters hold no Adam moments.
  moments = [x for x in jax.tree_util.tree_leaves(state) if getattr(x, "shape", None) == (3,)]
  assert not moments
  # A huge frozen gradient must not shrink the clipped trainable gradients.
  grads = {"backbone": {"conv1": {"kernel": jnp.full(3, 1e6)},
                        "layer2_0": {"kernel": jnp.array([0.3, 0.4])}},
           "head": {"bias": jnp.zeros(2)}}
  norm = optimizer_lib.trainable_grad_norm(grads, labels)
  np.testing.assert_allclose(norm, 0.5, rtol=1e-6)
  updates, state = tx.update(grads, state, params)
  np.testing.assert_array_equal(updates["backbone"]["conv1"]["kernel"], 0.0)
  # First Adam step moves each parameter by ~lr * sign(grad): backbone lr is 10x smaller.
  np.testing.assert_allclose(updates["backbone"]["layer2_0"]["kernel"], [-1e-3, -1e-3], rtol=1e-4)
  # StepLR: drop by 0.1 after lr_drop_epoch (2) epochs of 3 steps.
  schedules = optimizer_lib.group_schedules(stage, 3)
  assert float(schedules["other"](5)) == pytest.approx(1e-2)
  assert float(schedules["other"](6)) == pytest.approx(1e-3)
  assert float(schedules["backbone"](6)) == pytest.approx(1e-4)


def test_batch_size_agreement():
  train = ml_collections.ConfigDict(dict(global_batch_size=16, per_device_batch_size=4))
  assert sharding.resolve_batch_sizes(train, num_devices=4, num_processes=2) == (16, 8)
  with pytest.raises(ValueError, match="per_device_batch_size"):
    sharding.resolve_batch_sizes(train, num_devices=2, num_processes=1)
  train.per_device_batch_size = 0
  with pytest.raises(ValueError, match="divisible"):
    sharding.resolve_batch_sizes(train, num_devices=3, num_processes=1)


def test_training_refuses_the_inference_only_matmul_option(tmp_path):
  from trackjax.train import loop  # pylint: disable=g-import-not-at-top
  config = tiny_config(max_steps=1)
  config.model.matmul_dtype = "bfloat16"
  workdir = tmp_path / "run"
  with pytest.raises(ValueError, match="config.model.matmul_dtype"):
    loop.train_and_evaluate(config, str(workdir))
  assert not workdir.exists()  # refused before anything was written


# ------------------------------------------------------------------------------ recipe


def test_two_stage_smoke_freezing_and_logs(tmp_path, jax_cache):
  _train(jax_cache, tmp_path / "run", 2, stages="stage1,stage2", save_init=tmp_path / "init",
         evaluate=True)
  init = weights.load_variables(str(tmp_path / "init"))
  tmp_path = tmp_path / "run"
  stage1, stage2 = _final(tmp_path, "stage1"), _final(tmp_path, "stage2")
  frozen = r"^backbone/(conv1|layer1_\d+)/|^cls_head/"
  for name, value in _select(init["params"], frozen).items():
    np.testing.assert_array_equal(value, _select(stage1["params"], "^" + name + "$")[name], name)
  trained = _select(stage1["params"], r"^(backbone/layer[23]|transformer|box_head|bottleneck)")
  changed = [n for n, v in trained.items()
             if not np.array_equal(v, _select(init["params"], "^" + n + "$")[n])]
  assert len(changed) >= 0.95 * len(trained)  # zero-init biases feeding a batch norm get no gradient
  _assert_trees_close(init["constants"], stage1["constants"], rtol=0, atol=0)
  # Stage 1 updates the corner-head batch statistics; stage 2 (box head not run) does not.
  stats0, stats1 = _select(init["batch_stats"], "^box_head/"), _select(stage1["batch_stats"], "^box_head/")
  assert stats0 and any(not np.array_equal(stats0[n], stats1[n]) for n in stats0)
  _assert_trees_close(stage1["batch_stats"], stage2["batch_stats"], rtol=0, atol=0)
  _assert_trees_close(stage1["constants"], stage2["constants"], rtol=0, atol=0)
  for name, value in _select(stage1["params"], r"^(?!cls_head/)").items():
    np.testing.assert_array_equal(value, _select(stage2["params"], "^" + name + "$")[name], name)
  cls1, cls2 = _select(stage1["params"], "^cls_head/"), _select(stage2["params"], "^cls_head/")
  assert cls1 and all(not np.array_equal(cls1[n], cls2[n]) for n in cls1)

  records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  train1 = [r for r in records if r["stage"] == "stage1" and "train/loss" in r]
  for key in ("train/giou", "train/l1", "train/iou", "train/grad_norm", "train/lr_backbone",
              "train/lr_other", "train/samples_per_s", "train/data_wait_s",
              "train/skipped_dataset0"):
    assert key in train1[-1], key
  assert train1[-1]["train/lr_backbone"] == pytest.approx(0.1 * train1[-1]["train/lr_other"])
  assert any(r["stage"] == "stage2" and "val/cls" in r for r in records)
  assert any(r["stage"] == "stage1" and "val/iou" in r for r in records)
  assert list((tmp_path / "tensorboard" / "stage1").glob("events.out.tfevents.*"))
  assert all(np.isfinite(r["train/loss"]) for r in records if "train/loss" in r)
  _assert_trees_close(checkpointing.load_trained_variables(str(tmp_path)), stage2, 0, 0)
  # The run ends by tracking held-out synthetic sequences with the trained weights and scoring them.
  summaries = list((tmp_path / "evaluation").rglob("*_summary.json"))
  assert summaries, sorted(str(p) for p in (tmp_path / "evaluation").rglob("*"))
  summary = json.loads(summaries[0].read_text())
  assert summary["tracked"] == 3 and 0.0 <= summary["metrics"]["auc"] <= 1.0, summary


@pytest.fixture(scope="module")
def uninterrupted_runs(tmp_path_factory, jax_cache):
  """Uninterrupted 1-device runs of 2 and 4 steps (stage 1)."""
  two, four = tmp_path_factory.mktemp("two_steps"), tmp_path_factory.mktemp("four_steps")
  _train(jax_cache, two, 2)
  _train(jax_cache, four, 4)
  return two, four


def test_resume_equals_uninterrupted(tmp_path, jax_cache, uninterrupted_runs):
  two, four = uninterrupted_runs
  shutil.copytree(two, tmp_path / "run")
  _train(jax_cache, tmp_path / "run", 4)  # restores step 2 (model, optimizer, iterator) and runs 2 more
  _assert_trees_close(_final(tmp_path / "run"), _final(four), rtol=1e-6, atol=1e-7)
  assert not np.allclose(_final(two)["params"]["query_embed"], _final(four)["params"]["query_embed"])


def test_resumed_replay_run_equals_uninterrupted(tmp_path, jax_cache, uninterrupted_runs):
  """train.stage1.replay_batches=2: steps 3-4 pass over the 2 kept batches again; a run stopped
  at step 2 and resumed gives the uninterrupted replay run's weights."""
  _, four = uninterrupted_runs
  _train(jax_cache, tmp_path / "four", 4, replay=2)
  _train(jax_cache, tmp_path / "run", 2, replay=2)
  _train(jax_cache, tmp_path / "run", 4, replay=2)
  _assert_trees_close(_final(tmp_path / "run"), _final(tmp_path / "four"), rtol=1e-6, atol=1e-7)
  # Without replay steps 3-4 see new batches.
  assert not np.allclose(_final(four)["params"]["query_embed"],
                         _final(tmp_path / "four")["params"]["query_embed"])


def test_eight_devices_match_one_and_restore_onto_one(tmp_path, jax_cache, uninterrupted_runs):
  two, four = uninterrupted_runs
  _train(jax_cache, tmp_path / "run", 2, devices=8)
  # Reductions split over 8 devices round differently; Adam turns a near-zero gradient (e.g. the
  # corner-head output bias, to which the soft-argmax is invariant) into a step of up to lr (1e-4)
  # either way, so the tolerance is a tenth of one such step.
  _assert_trees_close(_final(tmp_path / "run"), _final(two), rtol=1e-5, atol=1e-5)
  _train(jax_cache, tmp_path / "run", 4)  # the 8-device checkpoint restored onto 1 device
  _assert_trees_close(_final(tmp_path / "run"), _final(four), rtol=1e-5, atol=1e-5)


def test_kill_9_then_resume(tmp_path, jax_cache, uninterrupted_runs):
  _, four = uninterrupted_runs
  workdir = tmp_path / "run"
  proc = _train(jax_cache, workdir, 12, sleep=0.1, wait=False)
  checkpoint_2 = workdir / "stage1" / "checkpoints" / "2"
  deadline = time.time() + 240
  try:
    while not checkpoint_2.is_dir():
      assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
      assert time.time() < deadline, "no checkpoint appeared"
      time.sleep(0.05)
  finally:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
  assert not (workdir / "stage1" / "final").exists()  # really stopped mid-run
  _train(jax_cache, workdir, 4)
  _assert_trees_close(_final(workdir), _final(four), rtol=1e-6, atol=1e-7)


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path, jax_cache):
  proc = _train(jax_cache, tmp_path, 4, nan_at=2, check=False)
  assert proc.returncode != 0
  assert "NonFiniteError" in proc.stderr and "at step 3" in proc.stderr, proc.stderr[-3000:]
  steps = sorted(int(p.name) for p in (tmp_path / "stage1" / "checkpoints").iterdir()
                 if p.name.isdigit())
  assert steps == [2]
  assert not (tmp_path / "stage1" / "final").exists()


# ------------------------------------------------------------------------------ data hookup


def test_data_config_follows_model_and_stage_and_defaults_to_synthetic():
  from trackjax.families.stark import training as train_data
  config = tiny_config(2, stages=("stage1", "stage2"))
  stage1 = train_data.stark_data_config(config, "stage1")
  stage2_val = train_data.stark_data_config(config, "stage2", split="val")
  assert stage1.processing.template_size == config.model.template_size
  assert stage1.processing.search_size == config.model.search_size
  assert stage1.sampler.num_template == 2 and not stage1.sampler.train_cls
  assert stage2_val.sampler.train_cls
  assert stage1.train_datasets[0]["name"] == "synthetic"
  assert stage1.train_datasets[0]["options"]["split"] == "train"
  assert stage2_val.train_datasets[0]["options"]["split"] == "val"
  config.data.mix = ""
  config.data.train_datasets = [{"name": "got10k", "root": "/nowhere", "ratio": 1}]
  assert train_data.stark_data_config(config, "stage1").train_datasets[0]["name"] == "got10k"
  with pytest.raises(ValueError, match="no validation data.*val_every_epochs=0"):
    train_data.stark_data_config(config, "stage1", split="val")


def test_real_pipeline_batches_fit_the_step_keys():
  from trackjax.families.stark import training as train_data
  config = tiny_config(2)
  config.synthetic.num_sequences = 4
  config.synthetic.image_size = (96, 128)
  iterator = train_data.build_iterator(config, "stage1", split="train", seed=0,
                                       global_batch_size=4)
  batch = next(iterator)
  m = config.model
  assert batch["template_images"].shape == (4, 2, m.template_size, m.template_size, 3)
  assert batch["template_images"].dtype == np.uint8
  assert batch["search_images"].shape == (4, m.search_size, m.search_size, 3)
  assert batch["search_anno"].shape == (4, 4)
  assert set(train_data.STEP_KEYS) <= set(batch)


# ------------------------------------------------------------------------------ flags, ImageNet


def test_flag_built_custom_data_run_through_main(tmp_path, jax_cache):
  """A user's command on their own folder: ``python -m trackjax.main`` with dataset flags."""
  from dataset_fixtures import write_custom  # pylint: disable=g-import-not-at-top
  from dataset_fixtures import truncate_file  # pylint: disable=g-import-not-at-top
  videos = write_custom(str(tmp_path / "videos"), num_seqs=2, num_frames=22, height=96,
                        width=128)
  for i in range(3, 13):  # an interrupted copy: these frames are skipped and counted, not used
    truncate_file(os.path.join(videos, "seq1", f"{i}.jpg"))
  workdir, cache_dir = tmp_path / "run", tmp_path / "annotations"
  env = dict(os.environ, PYTHONPATH=str(REPO), JAX_COMPILATION_CACHE_DIR=jax_cache,
             JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
             XLA_FLAGS="--xla_force_host_platform_device_count=1 "  # as tiny_training_run.py:
                       "--xla_backend_optimization_level=0 "  # same programs, same cache entries
                       "--xla_llvm_disable_expensive_passes=true")
  cmd = [sys.executable, "-m", "trackjax.main", f"--config={REPO / 'configs/stark_st50.py'}:tiny",
         f"--workdir={workdir}", "--config.data.mix=custom:1",
         f"--config.data.roots.custom={videos}", f"--config.data.cache_dir={cache_dir}",
         "--config.train.val_every_epochs=0",  # no validation data: none at all, final included
         "--config.train.stages=('stage1',)", "--config.train.max_steps=2",
         "--config.train.global_batch_size=8", "--config.train.samples_per_epoch=32"]
  proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=400, cwd=tmp_path)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  assert f"[data] training: custom ({videos}) x1; no validation" in proc.stderr
  assert list(cache_dir.glob("custom-*.pkl"))  # the custom folder was indexed and read
  records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
  assert any(r.get("step") == 2 and "train/loss" in r for r in records)
  assert records[-1]["train/skipped_dataset0_truncated"] == records[-1]["train/skipped_dataset0"] > 0
  assert not [r for r in records if any(k.startswith("val/") for k in r)]
  assert checkpointing.has_final_variables(str(workdir / "stage1"))


def test_init_backbone_from_imagenet_weights(tmp_path, jax_cache):
  """Stage 1 of a fresh run takes the converted torchvision backbone: values and statistics."""
  import torch  # pylint: disable=g-import-not-at-top
  from trackjax.convert import resnet_checkpoint  # pylint: disable=g-import-not-at-top
  from trackjax.convert.__main__ import main as convert_main  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  layout = resnet_checkpoint.torchvision_layout((1, 1, 1, 1), width=8)  # the tiny backbone
  state_dict = {k: torch.zeros(s, dtype=torch.int64) if k.endswith("num_batches_tracked")
                else torch.from_numpy(rng.uniform(0.5, 1.5, s).astype(np.float32))
                for k, s in layout.items()}
  torch.save(state_dict, tmp_path / "resnet.pth")
  assert convert_main(["resnet", "--checkpoint", str(tmp_path / "resnet.pth"),
                       "--out", str(tmp_path / "imagenet")]) == 0
  proc = _train(jax_cache, tmp_path / "run", 2, save_init=tmp_path / "init",
                init_backbone_from=tmp_path / "imagenet")
  assert "backbone initialised from" in proc.stderr
  fresh, trained = weights.load_variables(str(tmp_path / "init")), _final(tmp_path / "run")
  hwio = lambda key: state_dict[key].numpy().transpose(2, 3, 1, 0)
  params, constants = trained["params"]["backbone"], trained["constants"]["backbone"]
  # Frozen conv1 / layer1 keep the converted kernels exactly; the statistics are constants.
  np.testing.assert_array_equal(params["conv1"]["kernel"], hwio("conv1.weight"))
  np.testing.assert_array_equal(params["layer1_0"]["conv2"]["kernel"],
                                hwio("layer1.0.conv2.weight"))
  np.testing.assert_array_equal(constants["bn1"]["running_var"],
                                state_dict["bn1.running_var"].numpy())
  np.testing.assert_array_equal(constants["layer3_0"]["downsample_bn"]["running_mean"],
                                state_dict["layer3.0.downsample.1.running_mean"].numpy())
  # layer2/3 train at 1e-5: two AdamW steps move them by at most ~2e-5 from the converted values.
  np.testing.assert_allclose(params["layer3_0"]["conv1"]["kernel"], hwio("layer3.0.conv1.weight"),
                             atol=5e-5)
  assert not np.allclose(fresh["params"]["backbone"]["conv1"]["kernel"], hwio("conv1.weight"))
  # The rest of the network starts as without it (same fresh initialisation).
  np.testing.assert_array_equal(fresh["params"]["query_embed"].shape,
                                trained["params"]["query_embed"].shape)
  _assert_trees_close(fresh["params"]["cls_head"], trained["params"]["cls_head"], 0, 0)
