"""Video demo on a tiny synthetic video file and an image folder."""

import cv2
import numpy as np
import pytest
from PIL import Image

from data_pipelines.synthetic import SyntheticSource
from trackjax.config_files import load_config
from trackjax.evaluate import result_files as rf
from trackjax.track.video_demo import parse_box, run_demo


@pytest.fixture(scope="module")
def frames():
  source = SyntheticSource(1, 6, image_size=(72, 96), seed=7, split="test")
  box = source.sequence(0).boxes[0]
  return [source.read_frame(0, f) for f in range(6)], box


def demo_config(source, box, **fields):
  config = load_config("configs/stark_st50.py:tiny")
  config.demo.source = str(source)
  config.demo.init_box = ",".join(f"{v:.2f}" for v in box)
  for key, value in fields.items():
    config.demo[key] = value
  return config


def test_demo_on_a_video_file_writes_video_gif_and_boxes(tmp_path, frames):
  images, box = frames
  video = tmp_path / "input.mp4"
  writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (96, 72))
  for image in images:
    writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
  writer.release()
  with pytest.warns(UserWarning, match="RANDOM"):
    out = run_demo(demo_config(video, box, max_frames=5), str(tmp_path / "work"))
  assert out["frames"] == 5
  boxes = rf.read_boxes(out["boxes"])
  assert boxes.shape == (5, 4) and np.all(np.isfinite(boxes))
  np.testing.assert_allclose(boxes[0], box, atol=0.01)
  capture = cv2.VideoCapture(out["video"])
  count = 0
  while capture.read()[0]:
    count += 1
  assert count == 5
  with Image.open(out["gif"]) as gif:
    assert gif.n_frames == 3  # frames 0, 2, 4 (gif_every=2)


def test_demo_on_an_image_folder_and_bad_box(tmp_path, frames):
  images, box = frames
  folder = tmp_path / "frames"
  folder.mkdir()
  for i, image in enumerate(images):
    cv2.imwrite(str(folder / f"{i:04d}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
  with pytest.warns(UserWarning):
    out = run_demo(demo_config(folder, box, output_video="", output_gif=""), str(tmp_path / "w"))
  assert rf.read_boxes(out["boxes"]).shape == (6, 4) and "video" not in out and "gif" not in out
  with pytest.raises(ValueError, match="config.demo.init_box"):
    parse_box("1,2,3")
  with pytest.raises(FileNotFoundError, match="config.demo.source"):
    run_demo(demo_config(tmp_path / "missing.mp4", box), str(tmp_path / "w"))
