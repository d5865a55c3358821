"""Constant-velocity Kalman filter on (centre x, centre y, aspect w/h, height), batched, NumPy.

The state is ``[x, y, a, h, vx, vy, va, vh]``; one frame is one time step. Noise follows the
filter that DeepSORT introduced and ByteTrack kept: standard deviations proportional to the box
height, ``STD_WEIGHT_POSITION = 1/20`` for positions and ``STD_WEIGHT_VELOCITY = 1/160`` for
velocities, with fixed small values for the aspect ratio (1e-2 position / 1e-5 velocity in the
process noise, 1e-1 in the measurement noise). Initial covariance: twice the position and ten
times the velocity standard deviations of the first measurement. Every function takes a leading
batch dimension (K tracks) and returns new arrays.
"""

from __future__ import annotations

import numpy as np

STD_WEIGHT_POSITION = 1.0 / 20
STD_WEIGHT_VELOCITY = 1.0 / 160
NDIM = 4
_MOTION = np.eye(2 * NDIM) + np.eye(2 * NDIM, k=NDIM)  # x' = x + v (dt = 1 frame)
_OBSERVATION = np.eye(NDIM, 2 * NDIM)


def xywh_to_xyah(boxes_xywh) -> np.ndarray:
  """(K, 4) top-left x, y, w, h -> centre x, centre y, aspect w/h, height."""
  b = np.asarray(boxes_xywh, np.float64).reshape(-1, 4)
  return np.stack([b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2, b[:, 2] / b[:, 3], b[:, 3]], 1)


def xyah_to_xywh(xyah) -> np.ndarray:
  """(K, >= 4) centre x, centre y, aspect, height -> top-left x, y, w, h."""
  m = np.asarray(xyah, np.float64).reshape(-1, np.shape(xyah)[-1])
  w = m[:, 2] * m[:, 3]
  return np.stack([m[:, 0] - w / 2, m[:, 1] - m[:, 3] / 2, w, m[:, 3]], 1)


def _diag(std: np.ndarray) -> np.ndarray:
  """(K, D) standard deviations -> (K, D, D) diagonal covariances."""
  return std[:, :, None] * np.eye(std.shape[1])[None] * std[:, None, :]


def initiate(measurements_xyah) -> tuple[np.ndarray, np.ndarray]:
  """Mean (K, 8) and covariance (K, 8, 8) of new tracks from (K, 4) measurements."""
  m = np.asarray(measurements_xyah, np.float64).reshape(-1, NDIM)
  h = m[:, 3]
  wp, wv = STD_WEIGHT_POSITION, STD_WEIGHT_VELOCITY
  std = np.stack([2 * wp * h, 2 * wp * h, np.full_like(h, 1e-2), 2 * wp * h,
                  10 * wv * h, 10 * wv * h, np.full_like(h, 1e-5), 10 * wv * h], 1)
  return np.concatenate([m, np.zeros_like(m)], 1), _diag(std)


def predict(mean, covariance) -> tuple[np.ndarray, np.ndarray]:
  """One time step: ``x' = F x``, ``P' = F P F^T + Q`` with Q from the heights before the step."""
  mean = np.asarray(mean, np.float64).reshape(-1, 2 * NDIM)
  h = mean[:, 3]
  wp, wv = STD_WEIGHT_POSITION, STD_WEIGHT_VELOCITY
  std = np.stack([wp * h, wp * h, np.full_like(h, 1e-2), wp * h,
                  wv * h, wv * h, np.full_like(h, 1e-5), wv * h], 1)
  new_mean = mean @ _MOTION.T
  new_cov = _MOTION[None] @ np.asarray(covariance, np.float64) @ _MOTION.T[None] + _diag(std)
  return new_mean, new_cov


def project(mean, covariance) -> tuple[np.ndarray, np.ndarray]:
  """The state in measurement space: ``H x`` and ``H P H^T + R``."""
  mean = np.asarray(mean, np.float64).reshape(-1, 2 * NDIM)
  h = mean[:, 3]
  std = np.stack([STD_WEIGHT_POSITION * h, STD_WEIGHT_POSITION * h, np.full_like(h, 1e-1),
                  STD_WEIGHT_POSITION * h], 1)
  cov = _OBSERVATION[None] @ np.asarray(covariance, np.float64) @ _OBSERVATION.T[None]
  return mean @ _OBSERVATION.T, cov + _diag(std)


def update(mean, covariance, measurements_xyah) -> tuple[np.ndarray, np.ndarray]:
  """Kalman correction with (K, 4) measurements: gain ``K = P H^T S^-1``."""
  mean = np.asarray(mean, np.float64).reshape(-1, 2 * NDIM)
  covariance = np.asarray(covariance, np.float64)
  projected_mean, projected_cov = project(mean, covariance)
  cross = covariance @ _OBSERVATION.T[None]  # P H^T, (K, 8, 4)
  gain = np.swapaxes(np.linalg.solve(projected_cov, np.swapaxes(cross, 1, 2)), 1, 2)
  innovation = np.asarray(measurements_xyah, np.float64).reshape(-1, NDIM) - projected_mean
  new_mean = mean + np.einsum('kij,kj->ki', gain, innovation)
  new_cov = covariance - gain @ projected_cov @ np.swapaxes(gain, 1, 2)
  return new_mean, new_cov
