"""DETR sine positional encoding computed from a padding mask."""

from __future__ import annotations

import math

import jax.numpy as jnp


def downsample_mask(mask: jnp.ndarray, stride: int) -> jnp.ndarray:
  """Padding mask (B, H, W) at feature resolution, as PyTorch's legacy nearest interpolation.

  ``F.interpolate(mode='nearest')`` to an exact divisor samples pixel ``stride * i``; this is that
  sampling (``jax.image.resize`` would use half-pixel centres and differ).
  """
  return mask[:, ::stride, ::stride]


def sine_position_encoding(mask: jnp.ndarray, num_pos_feats: int = 128,
                           temperature: float = 10000.0, normalize: bool = True,
                           scale: float = 2 * math.pi, eps: float = 1e-6) -> jnp.ndarray:
  """Encoding (B, H, W, 2 * num_pos_feats) laid out as [y features, x features].

  Coordinates are cumulative counts of valid (non-padded) cells, starting at 1, optionally divided by
  the last row/column plus ``eps`` and multiplied by ``scale``. Each half interleaves sin and cos
  over frequencies ``temperature ** (2 * (i // 2) / num_pos_feats)``.
  """
  not_mask = jnp.logical_not(mask).astype(jnp.float32)
  y_embed = jnp.cumsum(not_mask, axis=1)
  x_embed = jnp.cumsum(not_mask, axis=2)
  if normalize:
    y_embed = y_embed / (y_embed[:, -1:, :] + eps) * scale
    x_embed = x_embed / (x_embed[:, :, -1:] + eps) * scale
  i = jnp.arange(num_pos_feats, dtype=jnp.float32)
  dim_t = temperature ** (2 * jnp.floor(i / 2) / num_pos_feats)

  def interleave(embed):
    t = embed[..., None] / dim_t
    both = jnp.stack([jnp.sin(t[..., 0::2]), jnp.cos(t[..., 1::2])], axis=-1)
    return both.reshape(*t.shape[:-1], num_pos_feats)

  return jnp.concatenate([interleave(y_embed), interleave(x_embed)], axis=-1)
