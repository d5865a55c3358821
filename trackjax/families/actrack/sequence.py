"""ACTrack's box as a sequence of coordinate tokens: quantisation, the decoder, greedy decoding.

Coordinates (ARTrack's): a box is the 4 tokens ``x1, y1, x2, y2``, each a bin of ``num_bins``
over ``coordinate_range`` search-crop sides centred on the crop (range 2: ``[-0.5, 1.5]`` in
crop-normalised units, so a box may reach half a crop beyond every side). Bin ``k`` stands for
``k / (num_bins - 1) * range - (range - 1) / 2``; ``quantize`` rounds to the nearest bin, so a
coordinate inside the range comes back within half a bin (``bin_width / 2``). Token ``num_bins``
is the start token; the decoder predicts bins only.

Sequence layout (static shapes): ``[prompt (4 * num_previous), START, c0, c1, c2]``: the previous
boxes oldest first (the spatio-temporal condition, mapped into the current search crop), the
start token, then the coordinates decoded so far. Position ``4 * num_previous + t`` predicts
coordinate ``t``. The decoder is a pre-norm Transformer decoder: causal self-attention over the
sequence, cross-attention to the memory (the projected search tokens of the ViT), an MLP. As
ARTrack's decoder (``Pix2Track``), the cross-attention keys are the memory plus position
embeddings of its token grids (plus a type embedding per grid when the template's tokens are in
the memory too); the values are the memory alone. The position table lives in the decoder's
width and is learned, initialised with MAE's 2-D sine-cosine table (``memory_grid_sides``; ARTrack
adds the backbone's own embeddings, which have the ViT's width).

``greedy_decode`` runs the decoder 4 times inside one ``lax.scan`` (one program, static shapes):
at step ``t`` the logits at position ``4 N + t`` (optionally blended with a Hanning window over
the bins, SeqTrack's option) give the argmax token, written to position ``4 N + 1 + t``. Thanks to
the causal mask, the tokens it returns are the argmax of a teacher-forced pass on them.
"""

from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from trackjax.models.vit import (LAYER_NORM_EPSILON, Attention, Mlp, exact_gelu,
                                 sincos_grid_init)

NUM_COORDINATES = 4
_trunc_normal = nn.initializers.truncated_normal(0.02)


# ------------------------------------------------------------------------------------------------
# Quantisation
# ------------------------------------------------------------------------------------------------


def bin_width(num_bins: int, coordinate_range: float) -> float:
  return float(coordinate_range) / (int(num_bins) - 1)


def bin_values(num_bins: int, coordinate_range: float) -> jnp.ndarray:
  """(num_bins,) crop-normalised coordinate of each bin."""
  k = jnp.arange(num_bins, dtype=jnp.float32)
  return k * bin_width(num_bins, coordinate_range) - (coordinate_range - 1.0) / 2.0


def quantize(coords, num_bins: int, coordinate_range: float) -> jnp.ndarray:
  """Crop-normalised coordinates (...) -> int32 bins in ``[0, num_bins)`` (clipped)."""
  offset = (coordinate_range - 1.0) / 2.0
  k = jnp.round((jnp.asarray(coords, jnp.float32) + offset) / bin_width(num_bins, coordinate_range))
  return jnp.clip(jnp.nan_to_num(k), 0, num_bins - 1).astype(jnp.int32)


def dequantize(bins, num_bins: int, coordinate_range: float) -> jnp.ndarray:
  offset = (coordinate_range - 1.0) / 2.0
  return jnp.asarray(bins, jnp.float32) * bin_width(num_bins, coordinate_range) - offset


def xywh_to_corners(box):
  box = jnp.asarray(box, jnp.float32)
  return jnp.concatenate([box[..., :2], box[..., :2] + box[..., 2:]], axis=-1)


def box_tokens(box_xywh, num_bins: int, coordinate_range: float) -> jnp.ndarray:
  """(..., 4) crop-normalised xywh boxes -> (..., 4) bins of x1, y1, x2, y2."""
  return quantize(xywh_to_corners(box_xywh), num_bins, coordinate_range)


def prompt_tokens(previous_xywh, num_bins: int, coordinate_range: float) -> jnp.ndarray:
  """(B, N, 4) previous boxes, oldest first, crop-normalised xywh -> (B, 4 N) prompt."""
  tokens = box_tokens(previous_xywh, num_bins, coordinate_range)
  return tokens.reshape(tokens.shape[0], -1)


def bin_hanning_window(num_bins: int) -> np.ndarray:
  """(num_bins,) Hanning window over the bins, peaking at the middle bin (the crop centre)."""
  return np.hanning(num_bins + 2)[1:-1].astype(np.float32)


# ------------------------------------------------------------------------------------------------
# Decoder
# ------------------------------------------------------------------------------------------------


class CrossAttention(nn.Module):
  width: int
  num_heads: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, memory, keys):
    """Queries ``x`` (B, N, width) attend to ``keys`` (B, L, width) and read ``memory``."""
    b, n, _ = x.shape
    head_dim = self.width // self.num_heads
    dense = lambda f, name: nn.Dense(f, dtype=self.dtype, kernel_init=_trunc_normal, name=name)
    heads = lambda t: t.reshape(b, t.shape[1], self.num_heads, head_dim)
    q = heads(dense(self.width, "q")(x))
    k = heads(dense(self.width, "k")(keys))
    v = heads(dense(self.width, "v")(memory))
    logits = jnp.einsum("bqhd,bkhd->bhqk", q, k) / np.float32(np.sqrt(head_dim))
    weights = jax.nn.softmax(logits.astype(jnp.float32), axis=-1).astype(self.dtype)
    out = jnp.einsum("bhqk,bkhd->bqhd", weights, v).reshape(b, n, self.width)
    return dense(self.width, "proj")(out)


class DecoderLayer(nn.Module):
  width: int
  num_heads: int
  mlp_dim: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, memory, keys, causal_mask):
    norm = lambda name: nn.LayerNorm(epsilon=LAYER_NORM_EPSILON, dtype=self.dtype, name=name)
    x = x + Attention(self.width, self.num_heads, self.dtype, name="self_attn")(
        norm("norm1")(x), causal_mask)
    x = x + CrossAttention(self.width, self.num_heads, self.dtype, name="cross_attn")(
        norm("norm2")(x), memory, keys)
    return x + Mlp(self.mlp_dim, self.width, self.dtype, name="mlp")(norm("norm3")(x))


def memory_position_init(sides: tuple[int, ...]):
  """(1, sum(side**2), D) initializer: the sine-cosine table of each grid, concatenated."""
  def init(key, shape, dtype=jnp.float32):
    tables = [sincos_grid_init(side)(key, (1, side * side, shape[-1]), dtype) for side in sides]
    return jnp.concatenate(tables, axis=1)
  return init


class SequenceDecoder(nn.Module):
  """Coordinate-token decoder: ``project_memory`` once per frame, ``logits`` per decoding step.

  ``memory_grid_sides``: sides of the square token grids the memory holds, in order (e.g.
  ``(16,)`` for the search tokens of a 256 crop at patch 16); empty = no position embeddings on
  the cross-attention keys. ``memory_mlp_dim > 0``: the encoder tokens go through a hidden layer
  (``Dense(memory_mlp_dim)``, GELU) before the memory projection; 0 = the projection alone
  (ARTrack's).
  """

  num_bins: int
  num_previous: int
  width: int = 256
  depth: int = 2
  num_heads: int = 8
  mlp_dim: int = 1024
  memory_grid_sides: tuple[int, ...] = ()
  memory_mlp_dim: int = 0
  dtype: Any = jnp.float32

  @property
  def sequence_length(self) -> int:
    return NUM_COORDINATES * (self.num_previous + 1)

  def setup(self):
    self.token_embed = nn.Embed(self.num_bins + 1, self.width, embedding_init=_trunc_normal,
                                name="token_embed")
    self.pos_embed = self.param("pos_embed", _trunc_normal, (1, self.sequence_length, self.width))
    if self.memory_mlp_dim > 0:
      self.memory_hidden = nn.Dense(self.memory_mlp_dim, dtype=self.dtype,
                                    kernel_init=_trunc_normal, name="memory_hidden")
    self.memory_proj = nn.Dense(self.width, dtype=self.dtype, kernel_init=_trunc_normal,
                                name="memory_proj")
    self.memory_norm = nn.LayerNorm(epsilon=LAYER_NORM_EPSILON, dtype=self.dtype,
                                    name="memory_norm")
    sides = tuple(int(s) for s in self.memory_grid_sides)
    if sides:
      self.memory_pos = self.param("memory_pos", memory_position_init(sides),
                                   (1, sum(s * s for s in sides), self.width))
    if len(sides) > 1:  # ARTrack's ``identity``: one embedding per grid (template, search)
      self.memory_type = self.param("memory_type", _trunc_normal, (len(sides), self.width))
    self.layers = [DecoderLayer(self.width, self.num_heads, self.mlp_dim, self.dtype,
                                name=f"layer_{i}") for i in range(self.depth)]
    self.norm = nn.LayerNorm(epsilon=LAYER_NORM_EPSILON, dtype=self.dtype, name="norm")
    self.head = nn.Dense(self.num_bins, dtype=self.dtype, kernel_init=_trunc_normal, name="head")

  def project_memory(self, tokens):
    """Encoder tokens (B, L, D) -> decoder memory (B, L, width)."""
    if self.memory_mlp_dim > 0:
      tokens = exact_gelu(self.memory_hidden(tokens))
    return self.memory_norm(self.memory_proj(tokens))

  def memory_keys(self, memory):
    """The cross-attention keys: ``memory`` plus its position (and type) embeddings."""
    sides = tuple(int(s) for s in self.memory_grid_sides)
    if not sides:
      return memory
    if memory.shape[1] != sum(s * s for s in sides):
      raise ValueError(f"decoder memory has {memory.shape[1]} tokens, its grids {sides} "
                       f"{sum(s * s for s in sides)}")
    pos = self.memory_pos
    if len(sides) > 1:
      pos = pos + jnp.repeat(self.memory_type, np.array([s * s for s in sides]), axis=0,
                             total_repeat_length=pos.shape[1])[None]
    return memory + pos.astype(memory.dtype)

  def logits(self, sequence, memory):
    """int32 (B, T) tokens -> float32 (B, T, num_bins) next-token logits (causal)."""
    length = sequence.shape[1]
    x = self.token_embed(sequence).astype(self.dtype) + self.pos_embed[:, :length].astype(
        self.dtype)
    causal = jnp.tril(jnp.ones((length, length), bool))
    keys = self.memory_keys(memory)
    for layer in self.layers:
      x = layer(x, memory, keys, causal)
    return self.head(self.norm(x)).astype(jnp.float32)


def start_token(num_bins: int) -> int:
  return int(num_bins)


def teacher_forced_sequence(prompt, targets, num_bins: int) -> jnp.ndarray:
  """(B, 4N) prompt and (B, 4) target bins -> (B, 4N + 4) ``[prompt, START, t0, t1, t2]``."""
  start = jnp.full((prompt.shape[0], 1), start_token(num_bins), jnp.int32)
  return jnp.concatenate([prompt.astype(jnp.int32), start, targets[:, :-1].astype(jnp.int32)],
                         axis=1)


def coordinate_logits(logits, prompt_length: int):
  """(B, T, bins) logits of a sequence -> (B, 4, bins) those predicting the coordinates."""
  return logits[:, prompt_length:prompt_length + NUM_COORDINATES]


def greedy_decode(logits_fn: Callable[[jnp.ndarray], jnp.ndarray], prompt, num_bins: int,
                  window=None, window_influence: float = 0.0):
  """Greedy coordinate decoding in one ``lax.scan``.

  Args:
    logits_fn: (B, 4N + 4) int32 sequence -> (B, 4N + 4, num_bins) logits.
    prompt: (B, 4N) int32 previous-box tokens.
    window: (num_bins,) blended as ``p * (1 - w) + window * w`` when ``window_influence > 0``.

  Returns:
    ``(tokens (B, 4) int32, probabilities (B, 4, num_bins) float32)``, the probabilities being
    the softmax before the window.
  """
  b, p = prompt.shape
  start = jnp.full((b, NUM_COORDINATES), start_token(num_bins), jnp.int32)
  sequence = jnp.concatenate([prompt.astype(jnp.int32), start], axis=1)
  positions = jnp.arange(sequence.shape[1])

  def step(sequence, t):
    logits = jax.lax.dynamic_index_in_dim(logits_fn(sequence), p + t, axis=1, keepdims=False)
    probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)
    scores = probs
    if window is not None and window_influence > 0:
      scores = probs * (1.0 - window_influence) + jnp.asarray(window, jnp.float32) * (
          window_influence)
    scores = jnp.where(jnp.isfinite(scores), scores, -jnp.inf)
    token = jnp.argmax(scores, axis=-1).astype(jnp.int32)
    sequence = jnp.where(positions[None] == p + 1 + t, token[:, None], sequence)
    return sequence, (token, probs)

  _, (tokens, probs) = jax.lax.scan(step, sequence, jnp.arange(NUM_COORDINATES))
  return tokens.T, jnp.swapaxes(probs, 0, 1)
