"""DETR-style post-norm transformer encoder/decoder with PyTorch ``nn.MultiheadAttention`` semantics.

Tensors are batch-first (B, L, C). Padding masks are bool (B, L) with True on padded tokens. Weight
names follow the official state dict (``in_proj_kernel`` holds [Wq; Wk; Wv] transposed), which keeps
the checkpoint converter a plain transpose.
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from trackjax.models.matmul_precision import dense_hooks, linear, matmul, split_last_axis

# DETR's transformer (and the trackers built on it) initialises every matrix with xavier_uniform,
# including the stacked (3C, C) in-projection, so its bound uses fan_out = 3C.
xavier_uniform = nn.initializers.xavier_uniform()


def torch_linear_bias_init(fan_in: int):
  """``nn.Linear``'s default bias init, U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
  bound = 1.0 / math.sqrt(fan_in)
  return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -bound, bound)


def dense(features: int, fan_in: int, name: str, dtype, matmul_dtype=None) -> nn.Dense:
  return nn.Dense(features, kernel_init=xavier_uniform, bias_init=torch_linear_bias_init(fan_in),
                  name=name, dtype=dtype, **dense_hooks(matmul_dtype))


# Inference form of the in-projection (``split_in_projections``): [Wq; Wk; Wv] as three (C, C)
# kernels and biases, so that no step slices the stored (C, 3C) kernel (slices are copies on XLA's
# CPU backend).
SPLIT_NAMES = (("q_kernel", "k_kernel", "v_kernel"), ("q_bias", "k_bias", "v_bias"))


def split_in_projections(variables):
  """A copy of ``variables`` whose attention in-projections are three separate kernels and biases.

  Leaves ``in_proj_kernel`` (C, 3C) / ``in_proj_bias`` (3C,) become ``q_kernel``, ``k_kernel``,
  ``v_kernel`` (C, C) and ``q_bias``, ``k_bias``, ``v_bias`` (C,); ``MultiheadAttention`` reads
  either form and computes the same products. The stored parameters are untouched.
  """
  def visit(tree):
    if not isinstance(tree, dict):
      return tree
    out = {k: visit(v) for k, v in tree.items()}
    if "in_proj_kernel" in out and "in_proj_bias" in out:
      w, b = out.pop("in_proj_kernel"), out.pop("in_proj_bias")
      c = w.shape[0]
      for i, (kernel, bias) in enumerate(zip(*SPLIT_NAMES)):
        out[kernel], out[bias] = w[:, i * c:(i + 1) * c], b[i * c:(i + 1) * c]
    return out
  return {k: visit(dict(v)) if k == "params" else v for k, v in variables.items()}


class MultiheadAttention(nn.Module):
  """``torch.nn.MultiheadAttention``: q scaled by 1/sqrt(head_dim), dropout on attention weights.

  Padded keys get a ``finfo.min`` bias. Two cases skip work whose result is known, without changing
  the function:

  * one key (the decoder's self-attention over its single query): the weights are exactly 1, so
    the output is the value projection;
  * few queries over many keys (``num_heads * Lq < Lk``, the decoder's cross-attention over the
    528 memory tokens), without dropout: the key projection is applied to the queries
    (``q . (W_k m + b_k) = (W_k^T q) . m + q . b_k``) and the value projection to the weighted
    memory (``sum p (W_v m + b_v) = W_v (sum p m) + b_v``), so the memory is never projected.

  With ``matmul_dtype='bfloat16'`` the projections and both attention products round their operands
  to bf16 (float32 accumulation) and the softmax is normalised after the product with the values;
  the softmax, and the small products of the few-queries case, are float32. (On float32, XLA
  0.10's CPU backend fuses the normalised-after form into one slower kernel: 1.5x on ST50's
  encoder, so the float32 path normalises first.)
  """

  num_heads: int
  dropout: float = 0.0
  dtype: Any = jnp.float32
  matmul_dtype: str | None = None

  def in_projections(self, c):
    """(wq, wk, wv), (bq, bk, bv) from the stored (C, 3C) kernel or its split inference form."""
    if self.has_variable("params", SPLIT_NAMES[0][0]):
      ws = [self.param(n, xavier_uniform, (c, c), jnp.float32) for n in SPLIT_NAMES[0]]
      bs = [self.param(n, nn.initializers.zeros, (c,), jnp.float32) for n in SPLIT_NAMES[1]]
    else:
      w = self.param("in_proj_kernel", xavier_uniform, (c, 3 * c), jnp.float32)
      b = self.param("in_proj_bias", nn.initializers.zeros, (3 * c,), jnp.float32)
      ws, bs = split_last_axis(w, 3), split_last_axis(b, 3)
    if self.matmul_dtype is None or ws[0].dtype != jnp.bfloat16:  # bf16: pre-rounded, kept so
      ws = [x.astype(self.dtype) for x in ws]
    return ws, [x.astype(self.dtype) for x in bs]

  @nn.compact
  def __call__(self, query, key, value, key_padding_mask=None, deterministic: bool = True):
    c = query.shape[-1]
    h, head_dim = self.num_heads, c // self.num_heads
    (wq, wk, wv), (bq, bk, bv) = self.in_projections(c)
    out_proj = nn.Dense(c, kernel_init=xavier_uniform, bias_init=nn.initializers.zeros,
                        name="out_proj", dtype=self.dtype, **dense_hooks(self.matmul_dtype))
    lq, lk = query.shape[-2], key.shape[-2]
    no_dropout = deterministic or self.dropout == 0.0
    if lk == 1 and no_dropout:
      return out_proj(linear(value.astype(self.dtype), wv, self.matmul_dtype) + bv)
    q = (linear(query.astype(self.dtype), wq, self.matmul_dtype) + bq) * (head_dim ** -0.5)
    bias = None
    if key_padding_mask is not None:
      # A finite minimum instead of -inf: identical whenever a row has one valid key, and a fully
      # padded row gives uniform weights instead of NaN.
      bias = jnp.where(key_padding_mask, jnp.finfo(jnp.float32).min, 0.0)[:, None, None, :]
    if h * lq < lk and no_dropout:
      return out_proj(self._few_queries(q, key, value, bias, wk, bk, wv, bv))

    def heads(t):  # (B, L, C) -> (B, H, L, D): head-major, so both products are plain batched
      # matmuls (about 1.6x faster on CPU than einsums over the (B, L, H, D) layout).
      return jnp.swapaxes(t.reshape(*t.shape[:-1], h, head_dim), -3, -2)

    k = linear(key.astype(self.dtype), wk, self.matmul_dtype) + bk
    v = linear(value.astype(self.dtype), wv, self.matmul_dtype) + bv
    logits = matmul(heads(q), jnp.swapaxes(heads(k), -1, -2), self.matmul_dtype).astype(jnp.float32)
    if bias is not None:
      logits = logits + bias
    if self.matmul_dtype is None:
      weights = jax.nn.softmax(logits, axis=-1).astype(self.dtype)
      weights = nn.Dropout(self.dropout)(weights, deterministic=deterministic)
      out = jnp.matmul(weights, heads(v))
    else:
      # Softmax normalised after the product with the values: one exp pass over the (Lq, Lk)
      # logits, the division on (Lq, D) only, and bf16 operands (1.25x faster than above on ST50).
      # Dropout before or after the division is the same elementwise scaling.
      exp = jnp.exp(logits - jnp.max(logits, axis=-1, keepdims=True))
      total = jnp.sum(exp, axis=-1, keepdims=True)
      exp = nn.Dropout(self.dropout)(exp, deterministic=deterministic)
      out = matmul(exp, heads(v).astype(jnp.float32), self.matmul_dtype) / total
      out = out.astype(self.dtype)
    return out_proj(jnp.swapaxes(out, -3, -2).reshape(*query.shape[:-1], c))

  def _few_queries(self, q, key, value, bias, wk, bk, wv, bv):
    """Attention of (B, Lq, C) scaled queries with the key/value projections moved off the keys.

    Per-head products are written with a one-hot (H, C) head mask over the channels instead of
    (C, H, D) views of the kernels, which XLA would transpose (copy) on every step.
    """
    c, h = q.shape[-1], self.num_heads
    f32 = lambda t: t.astype(jnp.float32)
    own = (jnp.arange(c) // (c // h))[None, :] == jnp.arange(h)[:, None]  # (H, C): head's channels
    q_heads = jnp.where(own, f32(q)[:, :, None, :], 0.0)  # (B, Lq, H, C): q_h on its channels
    q_key = jnp.einsum("bqhj,cj->bhqc", q_heads, f32(wk))  # W_k,h^T q_h
    q_bias = jnp.einsum("bqhj,j->bhq", q_heads, f32(bk))[..., None]  # q_h . b_k,h
    logits = jnp.einsum("bhqc,bkc->bhqk", q_key, f32(key)) + q_bias
    if bias is not None:
      logits = logits + bias
    weights = jax.nn.softmax(logits, axis=-1)
    context = jnp.einsum("bhqk,bkc->bhqc", weights, f32(value))  # weighted memory per head
    every = jnp.einsum("bhqc,cj->bhqj", context, f32(wv))  # W_v of all heads; keep head h's own
    out = jnp.sum(jnp.where(own[None, :, None, :], every, 0.0), axis=1) + f32(bv)
    return out.astype(self.dtype)


class FeedForward(nn.Module):
  dim_feedforward: int
  dropout: float
  dtype: Any = jnp.float32
  matmul_dtype: str | None = None

  @nn.compact
  def __call__(self, x, deterministic: bool):
    c = x.shape[-1]
    h = nn.relu(dense(self.dim_feedforward, c, "linear1", self.dtype, self.matmul_dtype)(x))
    h = nn.Dropout(self.dropout)(h, deterministic=deterministic)
    return dense(c, self.dim_feedforward, "linear2", self.dtype, self.matmul_dtype)(h)


def _layer_norm(name, dtype):
  return nn.LayerNorm(epsilon=1e-5, name=name, dtype=dtype)


class EncoderLayer(nn.Module):
  num_heads: int
  dim_feedforward: int
  dropout: float
  dtype: Any = jnp.float32
  matmul_dtype: str | None = None

  @nn.compact
  def __call__(self, src, mask, pos, deterministic: bool):
    qk = src + pos
    attn = MultiheadAttention(self.num_heads, self.dropout, name="self_attn", dtype=self.dtype,
                              matmul_dtype=self.matmul_dtype)(qk, qk, src, mask, deterministic)
    src = _layer_norm("norm1", self.dtype)(
        src + nn.Dropout(self.dropout)(attn, deterministic=deterministic))
    ff = FeedForward(self.dim_feedforward, self.dropout, name="ffn", dtype=self.dtype,
                     matmul_dtype=self.matmul_dtype)(src, deterministic)
    return _layer_norm("norm2", self.dtype)(
        src + nn.Dropout(self.dropout)(ff, deterministic=deterministic))


class DecoderLayer(nn.Module):
  num_heads: int
  dim_feedforward: int
  dropout: float
  dtype: Any = jnp.float32
  matmul_dtype: str | None = None

  @nn.compact
  def __call__(self, tgt, memory, memory_mask, pos, query_pos, deterministic: bool):
    drop = lambda t: nn.Dropout(self.dropout)(t, deterministic=deterministic)
    qk = tgt + query_pos
    attn = MultiheadAttention(self.num_heads, self.dropout, name="self_attn", dtype=self.dtype,
                              matmul_dtype=self.matmul_dtype)(qk, qk, tgt, None, deterministic)
    tgt = _layer_norm("norm1", self.dtype)(tgt + drop(attn))
    attn = MultiheadAttention(self.num_heads, self.dropout, name="multihead_attn",
                              dtype=self.dtype, matmul_dtype=self.matmul_dtype)(
        tgt + query_pos, memory + pos, memory, memory_mask, deterministic)
    tgt = _layer_norm("norm2", self.dtype)(tgt + drop(attn))
    ff = FeedForward(self.dim_feedforward, self.dropout, name="ffn", dtype=self.dtype,
                     matmul_dtype=self.matmul_dtype)(tgt, deterministic)
    return _layer_norm("norm3", self.dtype)(tgt + drop(ff))


class Transformer(nn.Module):
  """Encoder over the token sequence, then a decoder of learned queries over the memory.

  Returns ``(hs, memory)``: decoder output after the final LayerNorm (B, Nq, C) and the encoder
  memory (B, L, C). There is no final encoder norm (post-norm DETR).
  """

  num_heads: int = 8
  num_encoder_layers: int = 6
  num_decoder_layers: int = 6
  dim_feedforward: int = 2048
  dropout: float = 0.1
  dtype: Any = jnp.float32
  matmul_dtype: str | None = None  # 'bfloat16': bf16 products, float32 accumulation

  @nn.compact
  def __call__(self, src, mask, pos, query_embed, deterministic: bool = True):
    memory = src.astype(self.dtype)
    pos = pos.astype(self.dtype)
    for i in range(self.num_encoder_layers):
      memory = EncoderLayer(self.num_heads, self.dim_feedforward, self.dropout,
                            name=f"encoder_layers_{i}", dtype=self.dtype,
                            matmul_dtype=self.matmul_dtype)(
          memory, mask, pos, deterministic)
    query_pos = jnp.broadcast_to(query_embed.astype(self.dtype),
                                 (src.shape[0],) + query_embed.shape)
    tgt = jnp.zeros_like(query_pos)
    for i in range(self.num_decoder_layers):
      tgt = DecoderLayer(self.num_heads, self.dim_feedforward, self.dropout,
                         name=f"decoder_layers_{i}", dtype=self.dtype,
                         matmul_dtype=self.matmul_dtype)(
          tgt, memory, mask, pos, query_pos, deterministic)
    hs = _layer_norm("decoder_norm", self.dtype)(tgt)
    return hs, memory
