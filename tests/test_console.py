"""The console of a run: progress lines and warnings on the console, library INFO records in
``WORKDIR/log.txt`` (appended across runs), no carriage returns when not a terminal, progress only
on process 0, TensorFlow's import banners hidden.

The end-to-end test runs ``python -m trackjax.main`` (tiny config) with stdout and stderr piped;
compiled programs go to a persistent cache shared by its two runs.
"""

import logging
import os
import pathlib
import re
import subprocess
import sys
import warnings

import pytest

from trackjax import console

REPO = pathlib.Path(__file__).resolve().parents[1]
# A record in absl's format, as its stderr handler writes it: 'I1201 21:26:12.565220 1397 x.py:9]'.
ABSL_RECORD = re.compile(r"^[IWE]\d{4} \d\d:\d\d:\d\d\.\d+ ", re.M)
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [IWE] ", re.M)


def _main(workdir, *overrides, cache):
  """``python -m trackjax.main --config configs/stark_st50.py:tiny`` with pipes (not a TTY)."""
  env = dict(os.environ, PYTHONPATH=str(REPO), JAX_COMPILATION_CACHE_DIR=str(cache),
             JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",  # compiling is most of a tiny run
             XLA_FLAGS="--xla_backend_optimization_level=0 "
                       "--xla_llvm_disable_expensive_passes=true")
  for name in ("TF_CPP_MIN_LOG_LEVEL", "JAX_PROCESS_ID", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK"):
    env.pop(name, None)
  cmd = [sys.executable, "-m", "trackjax.main", "--config", "configs/stark_st50.py:tiny",
         "--workdir", str(workdir), *overrides]
  proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
  out = proc.stdout + proc.stderr
  assert proc.returncode == 0, out[-4000:]
  return out


def test_train_then_evaluate_console_and_log_file(tmp_path):
  workdir, cache = tmp_path / "run", tmp_path / "jax_cache"
  train_out = _main(workdir, "--config.train.max_steps=2", "--config.train.stages=('stage1',)",
                    "--config.evaluate.after_training=True", cache=cache)
  eval_out = _main(workdir, "--config.mode=evaluate", cache=cache)  # random weights: a warning
  for out in (train_out, eval_out):
    assert "\r" not in out
    assert not ABSL_RECORD.search(out), ABSL_RECORD.search(out).group(0)
    assert "Unable to initialize backend" not in out and "checkpoint_manager" not in out, out
  # One plain line per logged step, validation, then the evaluation's lines.
  assert "[stage1] train step 1/2" in train_out and "[stage1] train step 2/2" in train_out
  assert "[stage1] val step 2/2" in train_out
  assert re.search(r"\[synthetic\] \d+/\d+ frames sequences=3/3", train_out), train_out
  assert re.search(r"\[synthetic\] \d+/\d+ frames sequences=3/3", eval_out), eval_out
  assert "RANDOM weights" in eval_out  # a warning of trackjax itself still reaches the console
  assert len(train_out.splitlines()) < 40, train_out

  log = (workdir / "log.txt").read_text()
  assert log.count("run started") == 2  # appended by the second run
  assert "checkpoint_manager.py" in log  # Orbax's INFO records are kept, in the file
  assert "[stage1] train step 2/2" in log and "RANDOM weights" in log
  lines = [line for line in log.splitlines() if line[:1].isdigit()]
  assert lines and all(TIMESTAMP.match(line) for line in lines), lines[:3]


def test_tensorflow_import_banners_are_hidden():
  code = ("import trackjax.main, tensorflow as tf; import logging; "
          "logging.getLogger('mine').warning('user warning %d', int(tf.constant(1) + 1))")
  env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
  proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=dict(env, PYTHONPATH=str(REPO)),
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "user warning 2" in proc.stderr  # warnings of the user's own code are not hidden
  assert "cpu_feature_guard" not in proc.stderr and "oneDNN" not in proc.stderr, proc.stderr
  assert not ABSL_RECORD.search(proc.stderr), proc.stderr


# ------------------------------------------------------------------------------ in process


@pytest.fixture
def run_log(tmp_path, monkeypatch):
  for name in ("JAX_PROCESS_ID", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK"):
    monkeypatch.delenv(name, raising=False)
  level = logging.root.level
  opened = []

  def setup(process_id=None):
    if process_id is not None:
      monkeypatch.setenv("JAX_PROCESS_ID", str(process_id))
    opened.append(console.setup_run_logging(str(tmp_path), argv=["trackjax-test"]))
    return opened[-1]

  yield setup
  for log in opened:
    log.close()
  logging.root.setLevel(level)


def test_library_info_goes_to_the_file_warnings_to_both(run_log, capsys):
  log = run_log()
  logging.getLogger("orbax.fake").info("library detail")
  logging.getLogger("trackjax.fake").warning("look here")
  warnings.warn("a python warning")
  console.show("status line")
  err = capsys.readouterr().err
  assert "library detail" not in err
  assert "look here" in err and "a python warning" in err and "status line" in err
  text = pathlib.Path(log.path).read_text()
  for message in ("library detail", "look here", "a python warning", "status line"):
    assert message in text
  assert err.count("status line") == 1 and text.count("status line") == 1


def test_failure_traceback_goes_to_the_file(run_log, capsys):
  log = run_log()
  with pytest.raises(ZeroDivisionError):
    with log.record_failure():
      1 / 0  # pylint: disable=pointless-statement
  assert "ZeroDivisionError" in pathlib.Path(log.path).read_text()
  assert "ZeroDivisionError" not in capsys.readouterr().err  # Python prints it, once


def test_only_process_zero_shows_progress(run_log, tmp_path, capsys):
  log = run_log(process_id=1)
  assert log.path.endswith("log.process1.txt")
  assert not console.is_main_process()
  console.show("status of process 1")
  assert "status of process 1" not in capsys.readouterr().err
  assert "status of process 1" in pathlib.Path(log.path).read_text()


def test_plain_progress_lines_without_carriage_returns(capsys, monkeypatch):
  clock = [0.0]
  monkeypatch.setattr(console, "_clock", lambda: clock[0])
  progress = console.Progress("demo", 100, unit="frame", every_s=10.0, terminal=False)
  for i in range(10):
    clock[0] += 20.0 if i == 0 else 3.0  # the first unit compiles
    progress.update(10, {"sequences": "1/2"})
  progress.close()
  err = capsys.readouterr().err
  assert "\r" not in err
  # A line once 10 s have passed since the last one (at 20, 32 and 44 s), then the closing line.
  # Rates and ETAs leave the first unit out once there is more to go by.
  assert err.splitlines() == ["[demo] 10/100 frames sequences=1/2 0.5 frame/s eta 3m00s",
                              "[demo] 50/100 frames sequences=1/2 3.33 frame/s eta 15s",
                              "[demo] 90/100 frames sequences=1/2 3.33 frame/s eta 3s",
                              "[demo] 100/100 frames in 47s (2.13 frame/s)"]
  unknown_length = console.Progress("video", None, unit="frame", terminal=False)
  unknown_length.update(5)
  unknown_length.line()
  assert capsys.readouterr().err.startswith("[video] 5 frames ")


def test_terminal_progress_is_a_bar_and_lines_go_to_the_file_only(run_log, capsys):
  log = run_log()
  progress = console.Progress("stage1", 4, terminal=True)
  progress.set(2, {"loss": 0.5})
  progress.line("[stage1] train step 2/4 loss=0.5")
  progress.close()
  err = capsys.readouterr().err
  assert "\r" in err and "loss=0.5" in err  # tqdm's bar and its postfix
  assert "[stage1] train step 2/4" not in err
  assert "[stage1] train step 2/4 loss=0.5" in pathlib.Path(log.path).read_text()


def test_disabled_progress_writes_nothing(capsys):
  progress = console.Progress("stage1", 4, enabled=False, terminal=False)
  progress.line("[stage1] hidden")
  progress.update(4)
  progress.close()
  assert capsys.readouterr().err == ""


def test_native_info_lines_go_to_the_log_and_the_rest_back_to_stderr(capfd, caplog):
  caplog.set_level(logging.INFO, logger="tensorflow.native")
  with console._native_info_to_log():
    os.write(2, b"I0000 00:00:1796229242.282619 1810 port.cc:153] oneDNN custom operations are on.\n")
    os.write(2, b"W0000 00:00:1796229242.3 1810 cuda.cc:1] a native warning\n")
    os.write(2, b"2025-01-01 12:00:00.000001: I tensorflow/core/cpu_feature_guard.cc:1] AVX\n")
    os.write(2, b"plain text from C\n")
  err = capfd.readouterr().err
  assert err == "W0000 00:00:1796229242.3 1810 cuda.cc:1] a native warning\nplain text from C\n"
  messages = [r.getMessage() for r in caplog.records if r.name == "tensorflow.native"]
  assert len(messages) == 2 and "oneDNN" in messages[0] and "cpu_feature_guard" in messages[1]
