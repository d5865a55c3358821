"""Pixels of the synthetic MOT set: look-alike person sprites and the per-frame compositor.

Every target shares one silhouette (head, torso, two arms, two legs on a tall box of aspect about
0.4) and one skin tone; identities differ only in part colours drawn from small per-sequence
palettes and in one fine detail on the torso or arms (horizontal or vertical stripes, a chest
patch, a belt, coloured sleeves). Sprites are premultiplied RGBA pyramids drawn with
``render.paste``; targets are drawn far to near (by the bottom edge of their box, lower is nearer),
and a per-pixel owner map gives each target's visible fraction of its silhouette (pixels outside
the frame count as hidden).
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from data_pipelines.synthetic import render

DETAILS = ('none', 'hstripes', 'vstripes', 'patch', 'belt', 'sleeves')
SPRITE_SIZE = (128, 52)  # (height, width) of the full-resolution sprite


@dataclasses.dataclass(frozen=True)
class Look:
  """The appearance of one identity: RGB colours (0..255) of its parts and its torso detail."""

  skin: tuple[float, float, float]
  torso: tuple[float, float, float]
  legs: tuple[float, float, float]
  detail: str
  detail_colour: tuple[float, float, float]


def _part_masks(height: int, width: int) -> dict[str, np.ndarray]:
  """Float masks in [0, 1] of the silhouette's parts on a (height, width) grid."""
  v = (np.arange(height, dtype=np.float32)[:, None] + 0.5) / height
  u = (np.arange(width, dtype=np.float32)[None, :] + 0.5) / width
  box = lambda u0, u1, v0, v1: ((u >= u0) & (u <= u1) & (v >= v0) & (v <= v1)).astype(np.float32)
  head = (((u - 0.5) / 0.2)**2 + ((v - 0.085) / 0.08)**2 <= 1.0).astype(np.float32)
  return {
      'head': head,
      'torso': box(0.14, 0.86, 0.17, 0.57),
      'arms': np.maximum(box(0.0, 0.12, 0.19, 0.53), box(0.88, 1.0, 0.19, 0.53)),
      'legs': np.maximum(box(0.17, 0.47, 0.57, 1.0), box(0.53, 0.83, 0.57, 1.0)),
      'u': np.broadcast_to(u, (height, width)), 'v': np.broadcast_to(v, (height, width)),
  }


def make_person_sprite(look: Look, rng: np.random.Generator) -> render.SpritePyramid:
  """The sprite of ``look``: part colours, its detail, soft shading and a little grain."""
  height, width = SPRITE_SIZE
  parts = _part_masks(height, width)
  u, v = parts['u'], parts['v']
  rgb = np.zeros((height, width, 3), np.float32)
  colour = lambda c: np.asarray(c, np.float32)[None, None, :]
  rgb += parts['head'][..., None] * colour(look.skin)
  rgb += parts['torso'][..., None] * colour(look.torso)
  arms = look.detail_colour if look.detail == 'sleeves' else look.torso
  rgb += parts['arms'][..., None] * colour(arms)
  rgb += parts['legs'][..., None] * colour(look.legs)
  torso = parts['torso'] > 0
  if look.detail == 'hstripes':
    detail = torso & (np.floor((v - 0.17) / 0.05) % 2 == 1)
  elif look.detail == 'vstripes':
    detail = torso & (np.floor((u - 0.14) / 0.12) % 2 == 1)
  elif look.detail == 'patch':
    detail = torso & (np.abs(u - 0.5) < 0.2) & (np.abs(v - 0.33) < 0.08)
  elif look.detail == 'belt':
    detail = torso & (v > 0.5)
  else:
    detail = np.zeros_like(torso)
  rgb[detail] = np.asarray(look.detail_colour, np.float32)
  alpha = np.clip(sum(parts[k] for k in ('head', 'torso', 'arms', 'legs')), 0.0, 1.0)
  alpha = cv2.GaussianBlur(alpha, (3, 3), 0.7)
  shade = 0.8 + 0.3 * (1.0 - np.abs(2.0 * u - 1.0))  # rounder in the middle
  rgb *= shade[..., None]
  rgb += rng.normal(0.0, 6.0, rgb.shape).astype(np.float32)
  rgb = np.clip(rgb, 0.0, 255.0)
  rgba = np.concatenate([rgb * alpha[..., None], alpha[..., None]], axis=-1)
  levels = [np.ascontiguousarray(rgba, np.float32)]
  while min(levels[-1].shape[:2]) >= 32:
    levels.append(cv2.pyrDown(levels[-1]))
  return render.SpritePyramid(tuple(levels))


def composite(background: np.ndarray, sprites: list[render.SpritePyramid], boxes: np.ndarray,
              present: np.ndarray, brightness: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
  """Draws the present targets far to near onto a copy of ``background``.

  Args:
    background: (H, W, 3) uint8.
    sprites: one sprite per target.
    boxes: (K, 4) x, y, w, h of every target in this frame.
    present: (K,) bool, targets in the scene this frame.
    brightness: global gain applied after compositing.

  Returns:
    The frame (H, W, 3) uint8 and (K,) float32 visible fractions (0 for absent targets).
  """
  image = background.copy()
  height, width = image.shape[:2]
  owner = np.full((height, width), -1, np.int32)
  area = np.zeros(len(sprites), np.float64)
  order = sorted(np.nonzero(present)[0], key=lambda k: boxes[k, 1] + boxes[k, 3])
  for k in order:
    drawn = render.paste(image, sprites[k], boxes[k])
    area[k] = _silhouette_area(sprites[k], boxes[k])
    if drawn is not None:
      region, alpha = drawn
      owner[region][alpha > 0.5] = k
  counts = np.bincount(owner[owner >= 0], minlength=len(sprites)).astype(np.float64)
  visibility = np.where(area > 0, np.minimum(counts / np.maximum(area, 1e-9), 1.0), 0.0)
  if brightness != 1.0:
    image = np.clip(image.astype(np.float32) * brightness + 0.5, 0, 255).astype(np.uint8)
  return image, visibility.astype(np.float32)


def _silhouette_area(sprite: render.SpritePyramid, box: np.ndarray) -> float:
  """Pixels the silhouette covers at ``box``'s size, inside the frame or not."""
  level = sprite.levels[0]
  fill = float((level[..., 3] > 0.5).mean())
  return fill * float(box[2]) * float(box[3])
