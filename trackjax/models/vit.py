"""A one-stream Vision Transformer: template and search patches attended jointly.

``OneStreamViT`` patch-embeds a template crop and a search crop with one strided convolution,
adds each its own learned position embedding (``pos_embed_z`` for the template grid,
``pos_embed_x`` for the search grid), concatenates the two token sets (template first) and runs
pre-norm Transformer blocks over all of them, then a final LayerNorm. Parameter names follow
timm's ViT (``patch_embed``, ``block_<i>/{norm1,attn/{qkv,proj},norm2,mlp/{fc1,fc2}}``,
``norm``), so a PyTorch ViT state dict maps onto it by renaming and transposing only.

Tokens added between blocks: ``__call__(..., additions={i: (B, Lz + Lx, D)})`` adds each array to
the tokens entering block ``i`` (a side network's features, for example). Nothing is added where
no array is given, so without additions the network is the plain ViT.

Position embeddings are learned, initialised with MAE's fixed 2-D sine-cosine table of each grid
(``sincos_grid_init``), which gives a network trained from scratch its token positions from the
first step; imported weights replace them.

``interpolate_grid_embedding`` resamples a (H*W, D) grid of position embeddings to another grid
(bicubic, as timm and the one-stream trackers do when the crop sizes differ from pretraining).
LayerNorm epsilon 1e-6 and the exact (erf) GELU are timm's ViT defaults.
"""

from __future__ import annotations

from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

LAYER_NORM_EPSILON = 1e-6
_trunc_normal = nn.initializers.truncated_normal(0.02)


def sincos_grid_init(side: int):
  """An initializer of (1, side*side, D) position embeddings: MAE's fixed 2-D sine-cosine
  embedding (half the channels encode the row, half the column; frequencies 1 / 10000**(2i/D'))."""
  def init(key, shape, dtype=jnp.float32):
    del key
    width = shape[-1]
    quarter = width // 4
    omega = 1.0 / 10000 ** (np.arange(quarter, dtype=np.float64) / max(quarter, 1))
    rows, cols = np.meshgrid(np.arange(side, dtype=np.float64), np.arange(side, dtype=np.float64),
                             indexing="ij")
    parts = []
    for pos in (rows.reshape(-1), cols.reshape(-1)):
      angle = pos[:, None] * omega[None]
      parts += [np.sin(angle), np.cos(angle)]
    table = np.concatenate(parts, axis=1)
    table = np.pad(table, ((0, 0), (0, width - table.shape[1])))
    return jnp.asarray(table[None], dtype)
  return init


def exact_gelu(x):
  return nn.gelu(x, approximate=False)


class Attention(nn.Module):
  """Multi-head self-attention with a fused ``qkv`` projection (timm layout)."""

  width: int
  num_heads: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, mask=None):
    b, n, _ = x.shape
    head_dim = self.width // self.num_heads
    qkv = nn.Dense(3 * self.width, dtype=self.dtype, kernel_init=_trunc_normal, name="qkv")(x)
    qkv = qkv.reshape(b, n, 3, self.num_heads, head_dim)
    q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
    logits = jnp.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(head_dim).astype(np.float32)
    if mask is not None:  # (..., q, k) True where attention is allowed
      logits = jnp.where(mask, logits, jnp.finfo(logits.dtype).min)
    weights = jax.nn.softmax(logits.astype(jnp.float32), axis=-1).astype(self.dtype)
    out = jnp.einsum("bhqk,bkhd->bqhd", weights, v).reshape(b, n, self.width)
    return nn.Dense(self.width, dtype=self.dtype, kernel_init=_trunc_normal, name="proj")(out)


class Mlp(nn.Module):
  hidden: int
  width: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    x = nn.Dense(self.hidden, dtype=self.dtype, kernel_init=_trunc_normal, name="fc1")(x)
    x = exact_gelu(x)
    return nn.Dense(self.width, dtype=self.dtype, kernel_init=_trunc_normal, name="fc2")(x)


class Block(nn.Module):
  """Pre-norm Transformer block: ``x + attn(norm1(x))``, then ``x + mlp(norm2(x))``."""

  width: int
  num_heads: int
  mlp_dim: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    norm = lambda name: nn.LayerNorm(epsilon=LAYER_NORM_EPSILON, dtype=self.dtype, name=name)
    x = x + Attention(self.width, self.num_heads, self.dtype, name="attn")(norm("norm1")(x))
    return x + Mlp(self.mlp_dim, self.width, self.dtype, name="mlp")(norm("norm2")(x))


class OneStreamViT(nn.Module):
  """Template and search crops -> jointly attended tokens (B, Lz + Lx, width), template first.

  Attributes:
    template_size / search_size: crop sides in pixels (multiples of ``patch_size``).
  """

  width: int = 768
  depth: int = 12
  num_heads: int = 12
  mlp_dim: int = 3072
  patch_size: int = 16
  template_size: int = 128
  search_size: int = 256
  dtype: Any = jnp.float32

  def setup(self):
    p = self.patch_size
    self.patch_embed = nn.Conv(self.width, (p, p), strides=(p, p), padding="VALID",
                               dtype=self.dtype, name="patch_embed")
    sz, sx = self.template_size // p, self.search_size // p
    self.pos_embed_z = self.param("pos_embed_z", sincos_grid_init(sz), (1, sz * sz, self.width))
    self.pos_embed_x = self.param("pos_embed_x", sincos_grid_init(sx), (1, sx * sx, self.width))
    self.blocks = [Block(self.width, self.num_heads, self.mlp_dim, self.dtype, name=f"block_{i}")
                   for i in range(self.depth)]
    self.norm = nn.LayerNorm(epsilon=LAYER_NORM_EPSILON, dtype=self.dtype, name="norm")

  def _patches(self, images):
    x = self.patch_embed(images)
    return x.reshape(x.shape[0], -1, self.width)

  def embed_template(self, images):
    """Normalised template crops (B, Sz, Sz, 3) -> tokens with their position embedding."""
    return self._patches(images) + self.pos_embed_z.astype(self.dtype)

  def embed_search(self, images):
    """Normalised search crops (B, Sx, Sx, 3) -> tokens with their position embedding."""
    return self._patches(images) + self.pos_embed_x.astype(self.dtype)

  def encode(self, template_tokens, search_tokens,
             additions: Mapping[int, jnp.ndarray] | None = None):
    """Embedded tokens -> the blocks over their concatenation -> LayerNorm."""
    x = jnp.concatenate([template_tokens, search_tokens], axis=1)
    additions = dict(additions or {})
    unknown = sorted(set(additions) - set(range(self.depth)))
    if unknown:
      raise ValueError(f"additions at blocks {unknown}: the ViT has blocks 0..{self.depth - 1}")
    for i, block in enumerate(self.blocks):
      if i in additions:
        x = x + additions[i].astype(x.dtype)
      x = block(x)
    return self.norm(x)

  def __call__(self, template_images, search_images,
               additions: Mapping[int, jnp.ndarray] | None = None):
    return self.encode(self.embed_template(template_images), self.embed_search(search_images),
                       additions)


def grid_side(num_tokens: int) -> int:
  side = int(round(np.sqrt(num_tokens)))
  if side * side != num_tokens:
    raise ValueError(f"{num_tokens} position embeddings are not a square grid")
  return side


def interpolate_grid_embedding(embedding: np.ndarray, side: int) -> np.ndarray:
  """(H*W, D) position embeddings of a square grid -> (side*side, D), bicubic.

  The grid is resampled as an image (``jax.image.resize``, half-pixel centres as PyTorch's
  ``align_corners=False``, no antialiasing); the same grid comes back unchanged.
  """
  embedding = np.asarray(embedding, np.float32)
  old = grid_side(embedding.shape[0])
  if old == side:
    return embedding.copy()
  grid = embedding.reshape(old, old, -1)
  out = jax.image.resize(jnp.asarray(grid), (side, side, grid.shape[-1]), "bicubic",
                         antialias=False)
  return np.asarray(out, np.float32).reshape(side * side, -1)
