"""ROIAlign in JAX with torchvision's ``roi_align`` semantics (``aligned=True``).

``roi_align(features, boxes, output_size, spatial_scale, sampling_ratio)``: for each box
(x1, y1, x2, y2 in image pixels) the box is scaled by ``spatial_scale`` and shifted by -0.5 (the
``aligned=True`` half-pixel offset: pixel centres sit at integer feature coordinates), split into
``output_size`` (height, width) bins, and each bin is the mean of ``sampling_ratio`` x
``sampling_ratio`` bilinear samples at the centres of a regular sub-grid. A sample is zero when it
lies beyond one pixel outside the map (y < -1 or y > H, likewise x); otherwise its coordinates are
clamped into the map (torchvision's ``bilinear_interpolate``). Boxes smaller than a pixel keep
their size (``aligned=True`` has no minimum of 1).

The one difference from torchvision: ``sampling_ratio`` must be positive. torchvision's adaptive
count (``sampling_ratio <= 0``: ``ceil(roi_size / output_size)`` per box) changes the number of
samples with the box, which a jitted function of static shapes cannot do; the count is a field of
the caller's config instead.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp


def _bilinear_clamped(feature: jnp.ndarray, y: jnp.ndarray, x: jnp.ndarray) -> jnp.ndarray:
  """torchvision's ``bilinear_interpolate`` of ``feature`` (H, W, C) at ``y``, ``x`` (any shape)."""
  height, width = feature.shape[0], feature.shape[1]
  outside = (y < -1.0) | (y > height) | (x < -1.0) | (x > width)
  y = jnp.maximum(y, 0.0)
  x = jnp.maximum(x, 0.0)
  y_low = jnp.floor(y)
  x_low = jnp.floor(x)
  y_edge = y_low >= height - 1
  x_edge = x_low >= width - 1
  y_low = jnp.where(y_edge, height - 1, y_low)
  x_low = jnp.where(x_edge, width - 1, x_low)
  y = jnp.where(y_edge, y_low, y)
  x = jnp.where(x_edge, x_low, x)
  y_high = jnp.where(y_edge, y_low, y_low + 1)
  x_high = jnp.where(x_edge, x_low, x_low + 1)
  ly, lx = y - y_low, x - x_low
  hy, hx = 1.0 - ly, 1.0 - lx
  yl, yh = y_low.astype(jnp.int32), y_high.astype(jnp.int32)
  xl, xh = x_low.astype(jnp.int32), x_high.astype(jnp.int32)
  value = ((hy * hx)[..., None] * feature[yl, xl] + (hy * lx)[..., None] * feature[yl, xh]
           + (ly * hx)[..., None] * feature[yh, xl] + (ly * lx)[..., None] * feature[yh, xh])
  return jnp.where(outside[..., None], 0.0, value)


def _sample_points(boxes: jnp.ndarray, output_size: Sequence[int], spatial_scale: float,
                   sampling_ratio: int):
  """Sample coordinates on the feature grid: y (N, PH, S) per bin row, x (N, PW, S) per column."""
  out_h, out_w = int(output_size[0]), int(output_size[1])
  boxes = boxes.astype(jnp.float32) * spatial_scale - 0.5
  x1, y1, x2, y2 = (boxes[:, i] for i in range(4))
  bin_h = (y2 - y1) / out_h
  bin_w = (x2 - x1) / out_w
  s = int(sampling_ratio)
  offsets = (jnp.arange(s, dtype=jnp.float32) + 0.5) / s  # sub-grid centres within a bin
  rows = jnp.arange(out_h, dtype=jnp.float32)[:, None] + offsets[None, :]  # (PH, S)
  cols = jnp.arange(out_w, dtype=jnp.float32)[:, None] + offsets[None, :]  # (PW, S)
  ys = y1[:, None, None] + rows[None] * bin_h[:, None, None]  # (N, PH, S)
  xs = x1[:, None, None] + cols[None] * bin_w[:, None, None]  # (N, PW, S)
  return ys, xs


def roi_align_single(features: jnp.ndarray, boxes: jnp.ndarray, output_size: Sequence[int],
                     spatial_scale: float = 1.0, sampling_ratio: int = 2) -> jnp.ndarray:
  """ROIAlign of ``boxes`` (N, 4) xyxy on one map ``features`` (H, W, C) -> (N, PH, PW, C)."""
  if int(sampling_ratio) <= 0:
    raise ValueError(f"sampling_ratio={sampling_ratio}: must be positive (torchvision's adaptive "
                     "count has no static shape)")
  ys, xs = _sample_points(boxes, output_size, spatial_scale, sampling_ratio)
  n, out_h, s = ys.shape
  out_w = xs.shape[1]
  y = jnp.broadcast_to(ys[:, :, :, None, None], (n, out_h, s, out_w, s))
  x = jnp.broadcast_to(xs[:, None, None, :, :], (n, out_h, s, out_w, s))
  samples = _bilinear_clamped(features.astype(jnp.float32), y, x)  # (N, PH, S, PW, S, C)
  return samples.mean(axis=(2, 4)).astype(features.dtype)


def roi_align(features: jnp.ndarray, boxes: jnp.ndarray, output_size: Sequence[int],
              spatial_scale: float = 1.0, sampling_ratio: int = 2) -> jnp.ndarray:
  """ROIAlign per image: ``features`` (B, H, W, C), ``boxes`` (B, N, 4) xyxy in image pixels ->
  (B, N, PH, PW, C) (``spatial_scale`` = feature size / image size, e.g. 1/4)."""
  return jax.vmap(lambda f, b: roi_align_single(f, b, output_size, spatial_scale,
                                                sampling_ratio))(features, boxes)
