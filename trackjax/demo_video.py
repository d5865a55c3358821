"""The demos' outputs: annotated frames to an mp4 video and a downscaled looping GIF.

``DemoVideo(out_dir, demo_config, fps)`` reads ``output_video`` (mp4v through OpenCV; '' = none),
``output_gif`` ('' = none), ``gif_every`` (keep every n-th frame) and ``gif_max_side`` (longest
GIF side) of ``config.demo``; ``add(index, frame_rgb)`` per annotated frame, ``close()`` (also on
errors) writes the GIF and returns the paths written (``video``, ``gif``).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image


def gif_frame(frame_rgb: np.ndarray, max_side: int) -> Image.Image:
  """``frame_rgb`` downscaled (area interpolation) to at most ``max_side`` pixels (0 = as is)."""
  height, width = frame_rgb.shape[:2]
  scale = min(1.0, max_side / max(height, width)) if max_side > 0 else 1.0
  if scale < 1.0:
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    frame_rgb = cv2.resize(frame_rgb, size, interpolation=cv2.INTER_AREA)
  return Image.fromarray(frame_rgb)


class DemoVideo:
  """Collects a demo's annotated RGB frames into ``config.demo``'s video and GIF."""

  def __init__(self, out_dir: str | Path, demo_config, fps: float):
    self.out_dir = Path(out_dir)
    self.video_path = self.out_dir / demo_config.output_video if demo_config.output_video else None
    self.gif_path = self.out_dir / demo_config.output_gif if demo_config.output_gif else None
    self.gif_every = max(1, int(demo_config.gif_every))
    self.gif_max_side = int(demo_config.gif_max_side)
    self.fps = float(fps)
    self._writer = None
    self._gif_frames: list[Image.Image] = []

  def add(self, index: int, frame_rgb: np.ndarray) -> None:
    """Frame ``index`` (0-based) of the demo: to the video, and to the GIF every ``gif_every``."""
    if self.video_path is not None:
      if self._writer is None:
        height, width = frame_rgb.shape[:2]
        self._writer = cv2.VideoWriter(str(self.video_path), cv2.VideoWriter_fourcc(*'mp4v'),
                                       self.fps, (width, height))
        if not self._writer.isOpened():
          raise IOError(f'{self.video_path}: OpenCV cannot write mp4v video here')
      self._writer.write(cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR))
    if self.gif_path is not None and index % self.gif_every == 0:
      self._gif_frames.append(gif_frame(frame_rgb, self.gif_max_side))

  def release(self) -> None:
    """Closes the video file (safe to call twice; the GIF is written by ``close``)."""
    if self._writer is not None:
      self._writer.release()
      self._writer = None

  def close(self) -> dict[str, str]:
    """Closes the video, writes the GIF; returns ``{'video': path, 'gif': path}`` of those set."""
    self.release()
    outputs = {}
    if self.video_path is not None:
      outputs['video'] = str(self.video_path)
    if self.gif_path is not None and self._gif_frames:
      duration = int(round(1000 * self.gif_every / self.fps))
      self._gif_frames[0].save(self.gif_path, save_all=True, append_images=self._gif_frames[1:],
                               duration=duration, loop=0)
      outputs['gif'] = str(self.gif_path)
    return outputs
