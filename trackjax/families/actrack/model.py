"""ACTrack's network: a frozen one-stream ViT, an additive siamese conv net, a sequence decoder.

Parameters (three subtrees, each its own role in training):

* ``backbone``: ``trackjax.models.vit.OneStreamViT`` (OSTrack's ViT-B/16: template 128 and
  search 256 patch-embedded with their own position embeddings, jointly attended). Frozen in
  ACTrack's training: the loss stops its gradient and the optimizer keeps no state for it.
* ``additive``: ``AdditiveSiameseNet``, one small conv net applied with the same weights to the
  template crop and to the search crop (siamese). Stage ``i`` (stride ``4 * 2**i``) is
  average-pooled to the ViT's patch grid and projected to the ViT width by a zero-initialised
  linear layer (ControlNet's zero convolution); the result is added to the template and search
  tokens entering ViT block ``additive_blocks[i]``. At initialisation every addition is exactly
  zero, so the model computes the frozen backbone exactly.
* ``decoder``: ``sequence.SequenceDecoder``, coordinate tokens decoded over the search tokens.
* ``corner_head`` (only with ``corner_head=True``, the quickstart): OSTrack's box head of type
  ``CORNER`` (``trackjax.models.heads.CornerHead``) on the ViT's search tokens as a (S/p, S/p)
  map, trained only in the ``backbone`` stage. It stands in for the localisation training a
  released OSTrack backbone has had; ACTrack's tracker never runs it.

Methods (``model.apply(variables, ..., method=...)``):

* ``template_memory(z_images, use_additive)``: what a template contributes before the blocks,
  computed once per template: its embedded tokens and its additive features. In a one-stream ViT
  template and search tokens attend to each other from the first block on, so nothing after the
  patch embedding can be cached (as OSTrack, which reruns the template through the blocks).
* ``search_memory(template_memory, x_images, use_additive)``: the ViT over both, then the
  decoder's memory (the search tokens, or all tokens with ``decoder_memory='all'``).
* ``decoder_logits(sequence, memory)``: one decoder pass.
* ``__call__(z_images, x_images, sequence, use_additive=True, return_corners=False)``:
  teacher-forced logits; with ``return_corners`` also the corner head's (B, 4) normalised
  ``(x1, y1, x2, y2)`` of the same forward pass.

``use_additive=False`` skips the additive net: the plain one-stream ViT tracker (the quickstart's
``backbone`` stage, where no pretrained ViT is at hand).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from trackjax.families.actrack import sequence as seq
from trackjax.models.heads import CornerHead
from trackjax.models.vit import OneStreamViT


class AdditiveSiameseNet(nn.Module):
  """Normalised crops (B, S, S, 3) -> one (B, (S / patch)**2, out_width) addition per stage.

  A 3x3 stride-2 stem, then per stage a 3x3 stride-2 conv and ``convs_per_stage - 1`` 3x3 convs
  (each conv: GroupNorm, ReLU), widths ``widths``; stage ``i`` ends at stride ``4 * 2**i``, is
  average-pooled to stride ``patch_size`` and goes through its zero-initialised ``zero_proj_i``.
  """

  widths: tuple[int, ...]
  convs_per_stage: int
  groups: int
  patch_size: int
  out_width: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, images):
    def conv(x, width, stride, name):
      x = nn.Conv(width, (3, 3), strides=(stride, stride), padding="SAME", use_bias=False,
                  dtype=self.dtype, name=name)(x)
      x = nn.GroupNorm(num_groups=min(self.groups, width), dtype=self.dtype,
                       name=f"{name}_norm")(x)
      return nn.relu(x)

    b = images.shape[0]
    x = conv(images, self.widths[0], 2, "stem")
    stride = 2
    outputs = []
    for i, width in enumerate(self.widths):
      for j in range(max(int(self.convs_per_stage), 1)):
        x = conv(x, width, 2 if j == 0 else 1, f"stage{i}_conv{j}")
      stride *= 2
      if self.patch_size % stride:
        raise ValueError(f"additive stage {i} ends at stride {stride}, finer than and not "
                         f"dividing the patch size {self.patch_size}: use fewer stages")
      pool = self.patch_size // stride
      y = nn.avg_pool(x, (pool, pool), strides=(pool, pool)) if pool > 1 else x
      y = y.reshape(b, -1, width)
      outputs.append(nn.Dense(self.out_width, dtype=self.dtype, kernel_init=nn.initializers.zeros,
                              bias_init=nn.initializers.zeros, name=f"zero_proj_{i}")(y))
    return tuple(outputs)


class ACTrack(nn.Module):
  """See the module docstring."""

  vit_width: int
  vit_depth: int
  vit_heads: int
  vit_mlp_dim: int
  patch_size: int
  template_size: int
  search_size: int
  additive_blocks: tuple[int, ...]
  additive_widths: tuple[int, ...]
  additive_convs_per_stage: int
  additive_groups: int
  num_bins: int
  num_previous: int
  decoder_width: int
  decoder_depth: int
  decoder_heads: int
  decoder_mlp_dim: int
  decoder_memory: str = "search"
  decoder_memory_position: bool = True
  decoder_memory_mlp_dim: int = 0
  corner_head: bool = False
  corner_head_channels: tuple[int, ...] = (64, 32, 16, 16)
  dtype: Any = jnp.float32

  def setup(self):
    if len(self.additive_blocks) != len(self.additive_widths):
      raise ValueError(f"config.model.additive_blocks {self.additive_blocks} and additive_widths "
                       f"{self.additive_widths} must have one entry per additive stage")
    if self.decoder_memory not in ("search", "all"):
      raise ValueError(f"config.model.decoder_memory={self.decoder_memory!r}: 'search' or 'all'")
    self.backbone = OneStreamViT(
        width=self.vit_width, depth=self.vit_depth, num_heads=self.vit_heads,
        mlp_dim=self.vit_mlp_dim, patch_size=self.patch_size, template_size=self.template_size,
        search_size=self.search_size, dtype=self.dtype, name="backbone")
    self.additive = AdditiveSiameseNet(
        widths=tuple(self.additive_widths), convs_per_stage=self.additive_convs_per_stage,
        groups=self.additive_groups, patch_size=self.patch_size, out_width=self.vit_width,
        dtype=self.dtype, name="additive")
    grids = ()
    if self.decoder_memory_position:
      search_side = self.search_size // self.patch_size
      grids = ((search_side,) if self.decoder_memory == "search"
               else (self.template_size // self.patch_size, search_side))
    self.decoder = seq.SequenceDecoder(
        num_bins=self.num_bins, num_previous=self.num_previous, width=self.decoder_width,
        depth=self.decoder_depth, num_heads=self.decoder_heads, mlp_dim=self.decoder_mlp_dim,
        memory_grid_sides=grids, memory_mlp_dim=self.decoder_memory_mlp_dim, dtype=self.dtype,
        name="decoder")
    if self.corner_head:
      self.corners = CornerHead(channels=tuple(self.corner_head_channels), stride=self.patch_size,
                                image_size=self.search_size, dtype=self.dtype,
                                name="corner_head")

  @property
  def prompt_length(self) -> int:
    return seq.NUM_COORDINATES * self.num_previous

  def template_memory(self, z_images, use_additive: bool = True) -> dict[str, Any]:
    """Template crops -> ``{'tokens': (B, Lz, D), 'additive': ((B, Lz, D), ...)}``."""
    tokens = self.backbone.embed_template(z_images)
    additive = self.additive(z_images) if use_additive else ()
    return {"tokens": tokens, "additive": tuple(additive)}

  def encode(self, template_memory, x_images, use_additive: bool = True):
    """The ViT's output tokens (B, Lz + Lx, D) for cached template memory and search crops."""
    search_tokens = self.backbone.embed_search(x_images)
    additions = None
    if use_additive:
      search_additive = self.additive(x_images)
      additions = {block: jnp.concatenate([z, x], axis=1) for block, z, x in zip(
          self.additive_blocks, template_memory["additive"], search_additive)}
    return self.backbone.encode(template_memory["tokens"], search_tokens, additions)

  def search_memory(self, template_memory, x_images, use_additive: bool = True):
    """The decoder's memory (B, L, decoder_width) for one search crop per template."""
    return self._memory(self.encode(template_memory, x_images, use_additive),
                        template_memory["tokens"].shape[1])

  def _memory(self, tokens, template_length: int):
    if self.decoder_memory == "search":
      tokens = tokens[:, template_length:]
    return self.decoder.project_memory(tokens)

  def decoder_logits(self, sequence, memory):
    return self.decoder.logits(sequence, memory)

  def search_corners(self, tokens, template_length: int, train: bool = False):
    """The corner head on the search tokens of the ViT's output: (B, 4) normalised corners."""
    search = tokens[:, template_length:]
    side = self.search_size // self.patch_size
    return self.corners(search.reshape(search.shape[0], side, side, search.shape[-1]), train)

  def __call__(self, z_images, x_images, sequence, use_additive: bool = True,
               return_corners: bool = False, train: bool = False):
    """Teacher-forced logits (B, T, num_bins) of ``sequence`` (B, T); with ``return_corners``
    ``(logits, corners)``."""
    if return_corners and not self.corner_head:
      raise ValueError("return_corners=True needs config.model.corner_head=True")
    template = self.template_memory(z_images, use_additive)
    length = template["tokens"].shape[1]
    tokens = self.encode(template, x_images, use_additive)
    logits = self.decoder_logits(sequence, self._memory(tokens, length))
    if not (self.corner_head and (return_corners or self.is_initializing())):
      return logits
    corners = self.search_corners(tokens, length, train)  # at init: creates its parameters
    return (logits, corners) if return_corners else logits


def build_actrack(model_config, dtype: Any = jnp.float32) -> ACTrack:
  """The ``ACTrack`` module ``config.model`` describes."""
  m = model_config
  if int(m.feature_stride) != int(m.patch_size):
    raise ValueError(f"config.model.feature_stride={m.feature_stride} must equal patch_size="
                     f"{m.patch_size} (the token grid the data pipeline checks)")
  for field in ("template_size", "search_size"):
    if int(m[field]) % int(m.patch_size):
      raise ValueError(f"config.model.{field}={m[field]} is not a multiple of patch_size="
                       f"{m.patch_size}")
  return ACTrack(
      vit_width=m.vit_width, vit_depth=m.vit_depth, vit_heads=m.vit_heads,
      vit_mlp_dim=m.vit_mlp_dim, patch_size=m.patch_size, template_size=m.template_size,
      search_size=m.search_size, additive_blocks=tuple(m.additive_blocks),
      additive_widths=tuple(m.additive_widths), additive_convs_per_stage=m.additive_convs_per_stage,
      additive_groups=m.additive_groups, num_bins=m.num_bins, num_previous=m.num_previous,
      decoder_width=m.decoder_width, decoder_depth=m.decoder_depth,
      decoder_heads=m.decoder_heads, decoder_mlp_dim=m.decoder_mlp_dim,
      decoder_memory=m.get("decoder_memory", "search"),
      decoder_memory_position=bool(m.get("decoder_memory_position", True)),
      decoder_memory_mlp_dim=int(m.get("decoder_memory_mlp_dim", 0)),
      corner_head=bool(m.get("corner_head", False)),
      corner_head_channels=tuple(m.get("corner_head_channels", (64, 32, 16, 16))), dtype=dtype)


def dummy_inputs(model_config, batch_size: int = 1):
  """Zero inputs with the shapes ``ACTrack.__call__`` expects (for ``init`` and ``eval_shape``)."""
  ts, ss = model_config.template_size, model_config.search_size
  length = seq.NUM_COORDINATES * (int(model_config.num_previous) + 1)
  return (jnp.zeros((batch_size, ts, ts, 3), jnp.float32),
          jnp.zeros((batch_size, ss, ss, 3), jnp.float32),
          jnp.zeros((batch_size, length), jnp.int32))


def init_variables(model_config, rng):
  """Fresh ``params`` (backbone, additive, decoder); traceable, for ``jax.eval_shape``."""
  return build_actrack(model_config).init(rng, *dummy_inputs(model_config))


def parameter_counts(variables) -> dict[str, int]:
  """Parameters per subtree (``backbone``, ``additive``, ``decoder``)."""
  return {name: sum(int(x.size) for x in jax.tree_util.tree_leaves(tree))
          for name, tree in variables["params"].items()}
