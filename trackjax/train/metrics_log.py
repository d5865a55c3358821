"""Training observability: ``metrics.jsonl``, TensorBoard events and progress output.

Every logged record goes to ``WORKDIR/metrics.jsonl`` (one JSON object per line with ``stage``,
``step`` and the scalars) and to TensorBoard under ``WORKDIR/tensorboard/<stage>``. Progress
(``trackjax.console.Progress``) is one tqdm bar per stage with ETA when stderr is a terminal,
otherwise a plain line per logged record (every ``config.train.log_every_steps``); the lines also
go to the run's log file.
"""

from __future__ import annotations

import json
import math
import os
import time
from typing import Mapping

import tensorboardX

from trackjax import console


class NonFiniteError(FloatingPointError):
  """A loss or gradient norm became NaN or infinite."""


def check_finite(stage: str, step: int, metrics: Mapping[str, float],
                 keys=("loss", "grad_norm")) -> None:
  bad = {k: metrics[k] for k in keys if k in metrics and not math.isfinite(metrics[k])}
  if bad:
    raise NonFiniteError(
        f"{stage}: non-finite {', '.join(f'{k}={v}' for k, v in bad.items())} at step {step}; "
        "the run stopped and the last good checkpoint is kept")


_SHOWN = ("loss", "giou", "l1", "cls", "iou", "samples_per_s", "val_loss")


class MetricsLogger:
  """Writes scalars to ``metrics.jsonl`` and TensorBoard; shows progress (only on process 0)."""

  def __init__(self, workdir: str, stage: str, total_steps: int, start_step: int,
               enabled: bool = True, use_tqdm: bool | None = None):
    self.stage = stage
    self.enabled = enabled
    self.total_steps = total_steps
    self._jsonl = None
    self._tb = None
    self._progress = console.Progress(stage, total_steps, initial=start_step, unit="step",
                                      enabled=enabled, terminal=use_tqdm)
    if not enabled:
      return
    os.makedirs(workdir, exist_ok=True)
    self._jsonl = open(os.path.join(workdir, "metrics.jsonl"), "a")
    self._tb = tensorboardX.SummaryWriter(os.path.join(workdir, "tensorboard", stage))
    self._progress.line(f"[{stage}] training from step {start_step} to {total_steps} "
                        "(the first step compiles)")

  def write(self, step: int, scalars: Mapping[str, float], prefix: str = "train") -> None:
    if not self.enabled:
      return
    record = {"stage": self.stage, "step": int(step), "time": round(time.time(), 3)}
    record.update({f"{prefix}/{k}": float(v) for k, v in scalars.items()})
    self._jsonl.write(json.dumps(record) + "\n")
    self._jsonl.flush()
    for key, value in scalars.items():
      self._tb.add_scalar(f"{prefix}/{key}", float(value), int(step))
    self._tb.flush()
    self._progress.set(step)
    shown = " ".join(f"{k}={v:.4g}" for k, v in scalars.items() if k in _SHOWN)
    self._progress.line(f"[{self.stage}] {prefix} step {step}/{self.total_steps} {shown} "
                        f"eta {console.format_duration(self._progress.eta_s())}")

  def advance(self, step: int, scalars: Mapping[str, float] | None = None) -> None:
    info = None
    if scalars:
      info = {k: float(v) for k, v in scalars.items() if k in ("loss", "iou")}
    self._progress.set(step, info)

  def close(self) -> None:
    self._progress.close()
    if self._tb is not None:
      self._tb.close()
    if self._jsonl is not None:
      self._jsonl.close()
