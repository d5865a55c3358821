"""Multi-host training on one machine: several JAX processes (4 simulated CPU devices each, gloo
collectives, a localhost coordinator) started by ``python -m trackjax.launch_local``, training the
``:tiny`` recipe through ``python -m trackjax.main`` on the embedded synthetic data.

* 2 processes x 4 devices give the parameters of 1 process x 8 devices (1e-5), each process
  reading its own slice of every global batch;
* ``kill -9`` of one process mid-run: the launcher stops the other and restarts both, which resume
  from the last complete checkpoint to the uninterrupted run's parameters;
* a run checkpointed by 2 processes resumes on 1, and 1 -> 2, to the same parameters.

Every run is a subprocess with a time limit; compiled programs go to a persistent cache shared
by the runs of this module.
"""

import os
import pathlib
import re
import signal
import subprocess
import sys
import threading
import time

import jax
import numpy as np
import pytest

from trackjax import weights

REPO = pathlib.Path(__file__).resolve().parents[1]
STEPS = 12  # 6 epochs of 2 global batches of 8; a checkpoint every 2 steps
RUN_TIMEOUT_S = 420
RECIPE = ["--config", "configs/stark_st50.py:tiny", "--config.train.global_batch_size=8",
          "--config.train.stages=('stage1',)", "--config.train.stage1.epochs=6",
          "--config.evaluate.after_training=False", "--config.train.val_every_epochs=0"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
  cache = str(tmp_path_factory.mktemp("jax_cache"))
  return dict(os.environ, PYTHONPATH=str(REPO), JAX_COMPILATION_CACHE_DIR=cache,
              JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
              XLA_FLAGS="--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true")


def main_command(workdir, max_steps=-1):
  return [sys.executable, "-m", "trackjax.main", *RECIPE, f"--workdir={workdir}",
          f"--config.train.max_steps={max_steps}"]


def launch_command(processes, restarts=0):
  return [sys.executable, "-m", "trackjax.launch_local", f"--processes={processes}",
          "--devices-per-process=" + str(8 // processes), f"--restarts={restarts}", "--"]


def run(command, env):
  proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                        timeout=RUN_TIMEOUT_S)
  assert proc.returncode == 0, proc.stderr[-4000:]
  return proc


def final_params(workdir):
  return weights.load_variables(os.path.join(workdir, "stage1", "final"))["params"]


def assert_same_params(a, b, atol=1e-5):
  diffs = jax.tree_util.tree_map(
      lambda x, y: float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64)))),
      a, b)
  worst = max(jax.tree_util.tree_leaves(diffs))
  assert worst <= atol, worst


def stream_position(workdir, step):
  import json  # pylint: disable=g-import-not-at-top
  path = pathlib.Path(workdir, "stage1", "checkpoints", str(step), "data", "metadata")
  return json.loads(path.read_text())


@pytest.fixture(scope="module")
def one_process(env, tmp_path_factory):
  """The uninterrupted reference: 1 process, 8 devices."""
  workdir = str(tmp_path_factory.mktemp("one_process"))
  run(launch_command(1) + main_command(workdir), env)
  return workdir


def test_two_processes_train_as_one_process_with_all_devices(env, one_process, tmp_path):
  workdir = str(tmp_path / "two")
  run(launch_command(2) + main_command(workdir), env)
  assert_same_params(final_params(workdir), final_params(one_process))
  position = stream_position(workdir, STEPS)
  assert position["next_batch"] == STEPS and position["process_count"] == 2
  # each process consumed its own half (4 samples) of every global batch of 8
  assert [p["samples"] for p in position["processes"]] == [4 * STEPS, 4 * STEPS]
  assert pathlib.Path(workdir, "log.process1.txt").exists()


def _read_lines(stream, lines):
  for line in iter(stream.readline, ""):
    lines.append(line)


def _committed_steps(workdir):
  root = pathlib.Path(workdir, "stage1", "checkpoints")
  if not root.is_dir():
    return []
  return sorted(int(p.name) for p in root.iterdir()
                if p.name.isdigit() and (p / "_CHECKPOINT_METADATA").exists())


def test_killed_process_is_restarted_and_the_run_resumes_to_the_same_parameters(
    env, one_process, tmp_path):
  workdir = str(tmp_path / "preempted")
  proc = subprocess.Popen(launch_command(2, restarts=1) + main_command(workdir), cwd=REPO,
                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
  lines = []
  reader = threading.Thread(target=_read_lines, args=(proc.stderr, lines), daemon=True)
  reader.start()
  try:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while not any(2 <= s < STEPS for s in _committed_steps(workdir)):
      assert proc.poll() is None, "".join(lines)[-4000:]
      assert time.monotonic() < deadline, "".join(lines)[-4000:]
      time.sleep(0.05)
    pids = [int(m.group(1)) for m in map(re.compile(r"attempt 0: process 1 pid (\d+)").search,
                                         lines) if m]
    os.kill(pids[0], signal.SIGKILL)  # mid-run, after a complete checkpoint
    assert proc.wait(timeout=RUN_TIMEOUT_S) == 0, "".join(lines)[-4000:]
  finally:
    if proc.poll() is None:
      proc.kill()
  reader.join(timeout=10)
  text = "".join(lines)
  assert "process 1 exited with -9" in text or "process 1 exited with 137" in text, text[-3000:]
  assert "attempt 1: process 0 pid" in text, text[-3000:]
  resumed = [int(s) for s in re.findall(r"resumed from step (\d+)",
                                        pathlib.Path(workdir, "log.txt").read_text())]
  assert resumed and 2 <= resumed[-1] < STEPS, resumed
  assert_same_params(final_params(workdir), final_params(one_process))


@pytest.mark.parametrize("first, then", [(2, 1), (1, 2)])
def test_restore_onto_another_process_count(env, one_process, tmp_path, first, then):
  workdir = str(tmp_path / f"from{first}to{then}")
  run(launch_command(first) + main_command(workdir, max_steps=STEPS // 2), env)
  assert stream_position(workdir, STEPS // 2)["process_count"] == first
  proc = run(launch_command(then) + main_command(workdir), env)
  assert f"resumed from step {STEPS // 2}" in proc.stderr + pathlib.Path(
      workdir, "log.txt").read_text()
  position = stream_position(workdir, STEPS)
  assert position["next_batch"] == STEPS and position["process_count"] == then
  assert_same_params(final_params(workdir), final_params(one_process))
