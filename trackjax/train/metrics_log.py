"""Training observability: ``metrics.jsonl``, TensorBoard events and progress output.

Every logged record goes to ``WORKDIR/metrics.jsonl`` (one JSON object per line with ``stage``,
``step`` and the scalars) and to TensorBoard under ``WORKDIR/tensorboard/<stage>``. Progress is a
tqdm bar with ETA when stderr is a terminal, plain log lines otherwise.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from typing import Mapping

import tensorboardX
import tqdm


class NonFiniteError(FloatingPointError):
  """A loss or gradient norm became NaN or infinite."""


def check_finite(stage: str, step: int, metrics: Mapping[str, float],
                 keys=("loss", "grad_norm")) -> None:
  bad = {k: metrics[k] for k in keys if k in metrics and not math.isfinite(metrics[k])}
  if bad:
    raise NonFiniteError(
        f"{stage}: non-finite {', '.join(f'{k}={v}' for k, v in bad.items())} at step {step}; "
        "the run stopped and the last good checkpoint is kept")


class MetricsLogger:
  """Writes scalars to ``metrics.jsonl`` and TensorBoard; shows progress (only on process 0)."""

  def __init__(self, workdir: str, stage: str, total_steps: int, start_step: int,
               enabled: bool = True, use_tqdm: bool | None = None):
    self.stage = stage
    self.enabled = enabled
    self.total_steps = total_steps
    self._jsonl = None
    self._tb = None
    self._bar = None
    self._t0 = time.time()
    self._start_step = start_step
    if not enabled:
      return
    os.makedirs(workdir, exist_ok=True)
    self._jsonl = open(os.path.join(workdir, "metrics.jsonl"), "a")
    self._tb = tensorboardX.SummaryWriter(os.path.join(workdir, "tensorboard", stage))
    if use_tqdm is None:
      use_tqdm = sys.stderr.isatty()
    if use_tqdm:
      self._bar = tqdm.tqdm(total=total_steps, initial=start_step, desc=stage, dynamic_ncols=True)

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
    if self._bar is None:
      done = step - self._start_step
      elapsed = time.time() - self._t0
      eta = elapsed / max(done, 1) * (self.total_steps - step)
      shown = " ".join(f"{k}={v:.4g}" for k, v in scalars.items()
                       if k in ("loss", "giou", "l1", "cls", "iou", "samples_per_s", "val_loss"))
      print(f"[{self.stage}] {prefix} step {step}/{self.total_steps} {shown} eta {eta:.0f}s",
            flush=True)

  def advance(self, step: int, scalars: Mapping[str, float] | None = None) -> None:
    if self._bar is not None:
      self._bar.update(step - self._bar.n)
      if scalars:
        self._bar.set_postfix({k: f"{v:.4g}" for k, v in scalars.items()
                               if k in ("loss", "iou")}, refresh=False)

  def close(self) -> None:
    if self._bar is not None:
      self._bar.close()
    if self._tb is not None:
      self._tb.close()
    if self._jsonl is not None:
      self._jsonl.close()
