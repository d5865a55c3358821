"""The console and the log file of a trackjax run (every mode of ``python -m trackjax.main``).

The console shows progress, status lines, warnings and errors. Progress is one tqdm bar per stage
when stderr is a terminal, plain lines otherwise (CI, nohup, notebooks: never a carriage return).
Everything logged, library INFO records of absl, Orbax, jax, Grain, TensorFlow ... included, goes
with timestamps to ``WORKDIR/log.txt`` (``log.process<i>.txt`` on process i > 0), appended across
resumed runs; so do progress and status lines. Only process 0 shows progress and status. absl's
``--alsologtostderr`` brings every record back to the console (for debugging).

``quiet_native_logs()`` runs before jax or TensorFlow is imported: their C++ loggers read
``TF_CPP_MIN_LOG_LEVEL`` once, at import; at 1 their INFO banners (TF's CPU-instruction and oneDNN
notices) are dropped and native warnings and errors still reach stderr. TensorFlow 2.19 and newer
print some banners through absl before reading that variable (tensorflow/tensorflow#100442), so the
first ``import tensorflow`` after it also runs with file descriptor 2 captured: native INFO lines
go to the log (record ``tensorflow.native``), every other line back to stderr, in order.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import logging
import os
import re
import sys
import tempfile
import time
from typing import Mapping

import tqdm

LOG_FORMAT = "%(asctime)s %(levelname).1s %(name)s %(filename)s:%(lineno)d] %(message)s"
CONSOLE_FORMAT = "%(levelname)s: %(message)s"
_WARNING_LINE = re.compile(r"^.*?:\d+: \w*Warning: (.*)$")  # warnings.formatwarning's first line
_PROCESS_ID_VARIABLES = ("JAX_PROCESS_ID", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK")

_log = logging.getLogger("trackjax.console")
_progress_log = logging.getLogger("trackjax.progress")
_clock = time.perf_counter  # progress timing (replaced in tests)


# Native INFO lines: glog/absl ("I1202 16:32:08.123 ..." or "I0000 00:00:..."), TF's older
# "2025-01-01 12:00:00.000000: I tensorflow/..." and absl's notice that logging is not initialised.
_NATIVE_INFO_LINE = re.compile(
    rb"^(I\d{4} \d\d:\d\d:\d\d|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: I |"
    rb"WARNING: All log messages before absl::InitializeLog\(\) is called)")


def quiet_native_logs() -> None:
  """Hides C++ INFO logging of TensorFlow and XLA (a value set by the user is kept).

  ``TF_CPP_MIN_LOG_LEVEL`` set by the user is respected: at 0 nothing is filtered.
  """
  if os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1") == "0":
    return
  if "tensorflow" not in sys.modules and not any(
      isinstance(finder, _QuietTensorflowImport) for finder in sys.meta_path):
    sys.meta_path.insert(0, _QuietTensorflowImport())


@contextlib.contextmanager
def _native_info_to_log():
  """Captures file descriptor 2; INFO lines become log records, the rest is written back."""
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile() as captured:
    os.dup2(captured.fileno(), 2)
    try:
      yield
    finally:
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
      captured.seek(0)
      native = logging.getLogger("tensorflow.native")
      for line in captured.read().splitlines(keepends=True):
        if _NATIVE_INFO_LINE.match(line):
          native.info("%s", line.decode(errors="replace").rstrip())
        else:
          os.write(2, line)


class _QuietTensorflowImport(importlib.abc.MetaPathFinder):
  """One-shot import hook: the first ``import tensorflow`` runs under ``_native_info_to_log``."""

  def find_spec(self, name, path=None, target=None):
    if name != "tensorflow":
      return None
    sys.meta_path.remove(self)
    spec = importlib.util.find_spec(name)
    if spec is not None and spec.loader is not None:
      spec.loader = _QuietLoader(spec.loader)
    return spec


class _QuietLoader(importlib.abc.Loader):
  def __init__(self, loader):
    self._loader = loader

  def __getattr__(self, name):
    return getattr(self._loader, name)

  def create_module(self, spec):
    return self._loader.create_module(spec)

  def exec_module(self, module):
    try:
      with _native_info_to_log():
        self._loader.exec_module(module)
    finally:  # the module keeps its own loader
      module.__loader__ = self._loader
      if module.__spec__ is not None:
        module.__spec__.loader = self._loader


def launch_process_index() -> int:
  """This process's index as the launcher gives it (JAX, SLURM, Open MPI variables; else 0)."""
  for name in _PROCESS_ID_VARIABLES:
    value = os.environ.get(name, "").strip()
    if value.isdigit():
      return int(value)
  return 0


def is_main_process() -> bool:
  """True on process 0; asks JAX only once it runs distributed (never starts a backend)."""
  jax = sys.modules.get("jax")
  if jax is not None and jax.distributed.is_initialized():
    return jax.process_index() == 0
  return launch_process_index() == 0


def stderr_is_terminal() -> bool:
  isatty = getattr(sys.stderr, "isatty", None)
  return bool(isatty and isatty())


def format_duration(seconds: float) -> str:
  """``42s``, ``12m05s``, ``3h07m``."""
  seconds = max(int(round(seconds)), 0)
  if seconds < 60:
    return f"{seconds}s"
  if seconds < 3600:
    return f"{seconds // 60}m{seconds % 60:02d}s"
  return f"{seconds // 3600}h{seconds // 60 % 60:02d}m"


def _write_console(text: str) -> None:
  """A line on stderr that leaves an active tqdm bar intact."""
  tqdm.tqdm.write(text, file=sys.stderr)


def show(message: str) -> None:
  """A status line: on the console of process 0 and in the log file."""
  if is_main_process():
    _write_console(message)
  _progress_log.info(message, extra={"console": False}, stacklevel=2)


class _ConsoleFilter(logging.Filter):
  """Warnings and errors (every record with ``show_all``), unless a record says ``console=False``
  (already shown, or for the file only)."""

  def __init__(self, show_all: bool = False):
    super().__init__()
    self._show_all = show_all

  def filter(self, record: logging.LogRecord) -> bool:
    return bool(getattr(record, "console", self._show_all or record.levelno >= logging.WARNING))


class _ConsoleHandler(logging.Handler):
  """Writes to the current ``sys.stderr`` around any tqdm bar."""

  def emit(self, record: logging.LogRecord) -> None:
    try:
      if record.name == "py.warnings":  # 'path:line: Category: message\n  source': message only
        first_line = record.getMessage().split("\n", 1)[0]
        match = _WARNING_LINE.match(first_line)
        _write_console(f"{record.levelname}: {match.group(1) if match else first_line}")
        return
      _write_console(self.format(record).rstrip("\n"))
    except Exception:  # pylint: disable=broad-except
      self.handleError(record)


class RunLog:
  """The handlers ``setup_run_logging`` installed; ``close()`` removes them."""

  def __init__(self, path: str, file_handler: logging.Handler, console_handler: logging.Handler):
    self.path = path
    self._file_handler = file_handler
    self._console_handler = console_handler

  @contextlib.contextmanager
  def record_failure(self):
    """Writes an uncaught exception's traceback to the log file (Python prints it on stderr)."""
    try:
      yield self
    except KeyboardInterrupt:
      _log.warning("interrupted", extra={"console": False})
      raise
    except SystemExit as exit_:
      if exit_.code:
        _log.error("exited with %s", exit_.code, extra={"console": False})
      raise
    except BaseException:
      _log.exception("the run failed", extra={"console": False})
      raise

  def close(self) -> None:
    for handler in (self._file_handler, self._console_handler):
      logging.root.removeHandler(handler)
      handler.close()
    logging.captureWarnings(False)


def setup_run_logging(workdir: str, argv: list[str] | None = None) -> RunLog:
  """Routes all logging to ``WORKDIR/log.txt`` and warnings and errors also to the console.

  Replaces absl's stderr handler (which ``app.run`` installs at INFO); the root level stays what
  an explicit ``--verbosity`` asks for, INFO otherwise. absl's ``--alsologtostderr`` (or
  ``--logtostderr``) shows every record on the console as well. Python warnings become records.
  """
  quiet_native_logs()  # for TensorFlow imported later (the tf.data pipeline)
  os.makedirs(workdir, exist_ok=True)
  index = launch_process_index()
  path = os.path.join(workdir, "log.txt" if index == 0 else f"log.process{index}.txt")
  root = logging.root
  for handler in list(root.handlers):
    if isinstance(handler, (_ConsoleHandler, _RunFileHandler)) or _is_absl_handler(handler):
      root.removeHandler(handler)
  file_handler = _RunFileHandler(path, mode="a", encoding="utf-8")
  file_handler.setFormatter(logging.Formatter(LOG_FORMAT))
  console_handler = _ConsoleHandler()
  console_handler.setFormatter(logging.Formatter(CONSOLE_FORMAT))
  console_handler.addFilter(_ConsoleFilter(
      show_all=_absl_flag("alsologtostderr") or _absl_flag("logtostderr")))
  root.addHandler(file_handler)
  root.addHandler(console_handler)
  if not _flag_given("verbosity"):
    root.setLevel(logging.INFO)
  logging.captureWarnings(True)
  command = " ".join(argv if argv is not None else sys.argv)
  _log.info("run started (pid %d, process %d): %s", os.getpid(), index, command,
            extra={"console": False})
  return RunLog(path, file_handler, console_handler)


class _RunFileHandler(logging.FileHandler):
  """The run's log file (a class of its own so that a second set-up replaces it)."""


def _is_absl_handler(handler: logging.Handler) -> bool:
  absl_logging = sys.modules.get("absl.logging")
  return absl_logging is not None and handler is absl_logging.get_absl_handler()


def _flag_given(name: str) -> bool:
  """Whether the command line set absl flag ``name``."""
  absl_flags = sys.modules.get("absl.flags")
  return bool(absl_flags and name in absl_flags.FLAGS and absl_flags.FLAGS[name].present)


def _absl_flag(name: str) -> bool:
  """The value of absl's boolean flag ``name`` once the command line is parsed (else False)."""
  absl_flags = sys.modules.get("absl.flags")
  if not (absl_flags and name in absl_flags.FLAGS and absl_flags.FLAGS.is_parsed()):
    return False
  return bool(absl_flags.FLAGS[name].value)


class Progress:
  """One stage's progress: a tqdm bar on a terminal, plain lines otherwise; lines also go to the
  log file.

  Plain lines come from ``line()`` (the caller's cadence: every ``log_every_steps``, every N
  sequences) and, when ``every_s`` > 0, from ``update``/``set`` once that long has passed since
  the last line. ``total`` None: a count without ETA (a video of unknown length). Disabled
  (``enabled=False``: not process 0) it shows and logs nothing.
  """

  def __init__(self, desc: str, total: int | None, *, initial: int = 0, unit: str = "step",
               every_s: float = 0.0, enabled: bool = True, terminal: bool | None = None):
    self.desc = desc
    self.total = None if total is None else int(total)
    self.unit = unit
    self.n = int(initial)
    self.enabled = enabled
    self._initial = int(initial)
    self._every_s = every_s
    self._t0 = _clock()
    self._last_line_time = self._t0
    self._last_line_n = None
    self._mark = None  # (time, n) the recent rate counts from: the first unit (compiles), a line
    self._recent_rate = None  # the rate shown by the last line
    self._info: str = ""
    self._bar = None
    if enabled and (stderr_is_terminal() if terminal is None else terminal):
      self._bar = tqdm.tqdm(total=self.total, initial=self.n, desc=desc, unit=unit,
                            dynamic_ncols=True, file=sys.stderr)

  def average_rate(self) -> float:
    """Units per second since the start (compilation included)."""
    return (self.n - self._initial) / max(_clock() - self._t0, 1e-9)

  def rate(self) -> float:
    """Units per second since the last line, or since the first unit (which compiles)."""
    if self._mark is not None and self.n > self._mark[1]:
      return (self.n - self._mark[1]) / max(_clock() - self._mark[0], 1e-9)
    return self.average_rate() if self._recent_rate is None else self._recent_rate

  def eta_s(self) -> float:
    if self.total is None:
      return float("nan")
    return max(self.total - self.n, 0) / max(self.rate(), 1e-9)

  def update(self, count: int = 1, info: Mapping[str, object] | None = None) -> None:
    self.set(self.n + count, info)

  def set(self, position: int, info: Mapping[str, object] | None = None) -> None:
    """Moves to ``position``; ``info`` (a few short values) shows in the bar and the lines."""
    if not self.enabled:
      return
    self.n = int(position)
    if self._mark is None and self.n > self._initial:
      self._mark = (_clock(), self.n)
    if info is not None:
      self._info = " ".join(f"{k}={_short(v)}" for k, v in info.items())
    if self._bar is not None:
      if info is not None:
        self._bar.set_postfix({k: _short(v) for k, v in info.items()}, refresh=False)
      self._bar.update(self.n - self._bar.n)
    elif self._every_s > 0 and _clock() - self._last_line_time >= self._every_s:
      self.line()

  def status(self) -> str:
    """``[desc] n/total units info 12.3 unit/s eta 4m10s``."""
    parts = [f"[{self.desc}] {self._count()}"]
    if self._info:
      parts.append(self._info)
    parts.append(f"{_rate(self.rate())} {self.unit}/s")
    if self.total is not None:
      parts.append(f"eta {format_duration(self.eta_s())}")
    return " ".join(parts)

  def _count(self) -> str:
    return f"{self.n}{'' if self.total is None else f'/{self.total}'} {self.unit}s"

  def line(self, text: str | None = None) -> None:
    """A plain line (``status()`` by default): console when not a terminal, log file always."""
    if not self.enabled:
      return
    text = self.status() if text is None else text
    if self._bar is None:
      _write_console(text)
    _progress_log.info(text, extra={"console": False}, stacklevel=2)
    self._last_line_time = _clock()
    self._last_line_n = self.n
    if self._mark is not None and self.n > self._mark[1]:
      self._recent_rate = self.rate()
      self._mark = (self._last_line_time, self.n)

  def close(self, summary: bool = True) -> None:
    """Closes the bar; with ``summary`` a closing line (not repeated after a line at the end)."""
    if not self.enabled:
      return
    if self._bar is not None:
      self._bar.close()
      self._bar = None
      terminal = True
    else:
      terminal = False
    if summary and self._last_line_n != self.n:
      elapsed = _clock() - self._t0
      text = (f"[{self.desc}] {self._count()} in {format_duration(elapsed)} "
              f"({_rate(self.average_rate())} {self.unit}/s)")
      if not terminal:
        _write_console(text)
      _progress_log.info(text, extra={"console": False}, stacklevel=2)
    self.enabled = False


def _rate(per_second: float) -> str:
  return f"{per_second:.3g}" if per_second < 1000 else f"{per_second:.0f}"


def _short(value) -> str:
  return f"{value:.4g}" if isinstance(value, float) else str(value)
