"""ImageNet normalisation applied on device (pipelines and trackers hand over uint8 RGB crops)."""

import jax.numpy as jnp

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize_images(images, dtype=jnp.float32, pixel_scale=None):
  """uint8 (or float in [0, 255]) RGB, channels last -> ``(x / 255 - mean) / std`` in ``dtype``.

  ``pixel_scale`` (the images' leading dims): training's brightness jitter as the reference
  applies it, ``clip(x * (b / 255), 0, 1)`` in float32 instead of ``x / 255``.
  """
  x = images.astype(jnp.float32)
  if pixel_scale is None:
    x = x / 255.0
  else:
    scale = jnp.asarray(pixel_scale, jnp.float32)
    x = jnp.clip(x * scale.reshape(scale.shape + (1, 1, 1)), 0.0, 1.0)
  x = (x - jnp.asarray(IMAGENET_MEAN, jnp.float32)) / jnp.asarray(IMAGENET_STD, jnp.float32)
  return x.astype(dtype)
