"""``python -m trackjax.main`` trains from TFDS shards and resumes exactly (the tiny recipe)."""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

from data_pipelines import tfds_build
from data_pipelines.synthetic import SyntheticSource
from data_pipelines.synthetic.got10k_writer import write_got10k_layout
from trackjax.train import checkpointing

REPO = pathlib.Path(__file__).resolve().parents[1]


def _main(workdir, shards, max_steps, jax_cache):
  env = dict(os.environ, PYTHONPATH=str(REPO), JAX_COMPILATION_CACHE_DIR=jax_cache,
             JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
             XLA_FLAGS="--xla_force_host_platform_device_count=1 "
                       "--xla_backend_optimization_level=0 "
                       "--xla_llvm_disable_expensive_passes=true")
  cmd = [sys.executable, "-m", "trackjax.main", f"--config={REPO / 'configs/stark_st50.py'}:tiny",
         f"--workdir={workdir}", f"--config.data.mix=tfds@{shards}:1",
         "--config.train.val_every_epochs=0", "--config.train.stages=('stage1',)",
         f"--config.train.max_steps={max_steps}", "--config.train.checkpoint_every_steps=2",
         "--config.train.global_batch_size=4", "--config.train.samples_per_epoch=16"]
  proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=500,
                        cwd=workdir.parent)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  return proc


@pytest.mark.slow
def test_main_trains_from_tfds_shards_and_resumes_exactly(tmp_path):
  folder = str(tmp_path / "got10k" / "train")
  write_got10k_layout(SyntheticSource(4, 30, (120, 160), seed=3), folder, progress=False)
  shards = tmp_path / "tfds"
  tfds_build.build("got10k", str(tmp_path / "got10k"), str(shards), progress=False)
  cache = str(tmp_path / "jax_cache")
  four = tmp_path / "four"
  four.mkdir()
  proc = _main(four, shards, 4, cache)
  assert f"[data] training: tfds ({shards}) x1; no validation" in proc.stderr
  resumed = tmp_path / "resumed"
  resumed.mkdir()
  _main(resumed, shards, 2, cache)
  assert (resumed / "stage1" / "checkpoints" / "2").is_dir()
  proc = _main(resumed, shards, 4, cache)  # restores step 2: model, optimizer, input position
  assert "[stage1] resumed from step 2" in proc.stderr + proc.stdout
  records = [json.loads(line) for line in (resumed / "metrics.jsonl").read_text().splitlines()]
  assert any(r.get("step") == 4 and "train/loss" in r for r in records)
  a = checkpointing.load_trained_variables(str(four / "stage1"))
  b = checkpointing.load_trained_variables(str(resumed / "stage1"))
  leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
  assert len(leaves_a) == len(leaves_b) > 0
  for x, y in zip(leaves_a, leaves_b):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-6, atol=1e-7)
  shutil.rmtree(cache, ignore_errors=True)
