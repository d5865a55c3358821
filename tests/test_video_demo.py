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


class FakeCamera:
  """Stands in for ``cv2.VideoCapture(index)``: serves BGR frames, then reports the end."""

  def __init__(self, index, images):
    self.index = index
    self.images = [cv2.cvtColor(image, cv2.COLOR_RGB2BGR) for image in images]
    self.released = False

  def isOpened(self):  # noqa: N802 (OpenCV's name)
    return True

  def get(self, prop):
    return 30.0 if prop == cv2.CAP_PROP_FPS else 0.0

  def read(self):
    if not self.images:
      return False, None
    return True, self.images.pop(0)

  def release(self):
    self.released = True


def test_demo_on_a_camera_index_with_a_box_drawn_by_mouse(tmp_path, frames, monkeypatch):
  images, box = frames
  cameras = []

  def fake_capture(index):
    cameras.append(FakeCamera(index, images))
    return cameras[-1]

  drawn = []

  def fake_select_roi(window, image_bgr, showCrosshair):  # noqa: N803 (OpenCV's name)
    drawn.append(image_bgr)
    return tuple(int(round(v)) for v in box)

  monkeypatch.setattr(cv2, "VideoCapture", fake_capture)
  monkeypatch.setattr(cv2, "selectROI", fake_select_roi)
  monkeypatch.setattr(cv2, "destroyAllWindows", lambda: None)
  monkeypatch.setenv("DISPLAY", ":0")
  config = demo_config(0, box, output_gif="", output_video="")
  config.demo.init_box = ""
  with pytest.warns(UserWarning):
    out = run_demo(config, str(tmp_path / "cam"))
  assert len(cameras) == 1 and cameras[0].index == 0  # '0' opened camera 0
  assert cameras[0].released
  # The first frame was shown for drawing (as BGR), and the drawn box starts the track.
  np.testing.assert_array_equal(drawn[0], cv2.cvtColor(images[0], cv2.COLOR_RGB2BGR))
  boxes = rf.read_boxes(out["boxes"])
  assert boxes.shape == (6, 4) and np.all(np.isfinite(boxes))
  np.testing.assert_array_equal(boxes[0], [round(v) for v in box])


def test_drawing_without_a_display_asks_for_the_flag(tmp_path, frames, monkeypatch):
  images, box = frames
  folder = tmp_path / "frames"
  folder.mkdir()
  cv2.imwrite(str(folder / "0000.png"), cv2.cvtColor(images[0], cv2.COLOR_RGB2BGR))
  monkeypatch.delenv("DISPLAY", raising=False)
  monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
  config = demo_config(folder, box)
  config.demo.init_box = ""
  with pytest.raises(ValueError, match="init_box"):
    run_demo(config, str(tmp_path / "w"))
