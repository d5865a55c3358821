"""ImageNet normalisation applied on device (pipelines and trackers hand over uint8 RGB crops)."""

import jax.numpy as jnp

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize_images(images, dtype=jnp.float32):
  """uint8 (or float in [0, 255]) RGB, channels last -> ``(x / 255 - mean) / std`` in ``dtype``."""
  x = images.astype(jnp.float32) / 255.0
  x = (x - jnp.asarray(IMAGENET_MEAN, jnp.float32)) / jnp.asarray(IMAGENET_STD, jnp.float32)
  return x.astype(dtype)
