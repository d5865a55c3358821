"""Video demo on tiny synthetic videos, image folders and a fake camera; one target or several."""

import cv2
import numpy as np
import pytest
from PIL import Image

from data_pipelines.synthetic import SyntheticSource
from trackjax.config_files import load_config
from trackjax.families.stark.tracker import StarkTracker
from trackjax.sot import result_files as rf
from trackjax.sot.video_demo import TARGET_COLOURS, draw_targets, parse_box, parse_boxes, run_demo

# Three targets in the 72x96 frames (with the synthetic target's box, the first).
OTHER_BOXES = ([4.0, 6.0, 22.0, 18.0], [60.5, 40.0, 26.0, 24.0])


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


def write_folder(folder, images):
  folder.mkdir()
  for i, image in enumerate(images):
    cv2.imwrite(str(folder / f"{i:04d}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
  return folder


def boxes_text(boxes):
  return ";".join(",".join(f"{v:.2f}" for v in box) for box in boxes)



def _assert_video_and_gif_frames(out, video: int, gif: int):
  capture = cv2.VideoCapture(out["video"])
  count = 0
  while capture.read()[0]:
    count += 1
  capture.release()
  assert count == video
  with Image.open(out["gif"]) as image:
    assert image.n_frames == gif

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
  _assert_video_and_gif_frames(out, video=5, gif=3)  # gif: frames 0, 2, 4 (gif_every=2)


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


def test_several_targets_are_batched_streams_equal_to_single_runs(tmp_path, frames, monkeypatch):
  images, box = frames
  targets = [np.round(box, 2)] + [np.asarray(b) for b in OTHER_BOXES]
  folder = write_folder(tmp_path / "frames", images[:5])  # PNG: the demo sees these exact frames
  config = demo_config(folder, box, init_boxes=boxes_text(targets))
  config.tracker.update_intervals["default"] = 2  # dynamic-template updates at frames 2 and 4
  config.tracker.update_threshold = -1.0
  calls = []  # (tracker, variables, batch size) of each network step
  network_step = StarkTracker.network_step

  def counted_step(self, variables, templates, crops, masks):
    calls.append((self, variables, len(crops)))
    return network_step(self, variables, templates, crops, masks)

  monkeypatch.setattr(StarkTracker, "network_step", counted_step)
  with pytest.warns(UserWarning, match="RANDOM"):
    out = run_demo(config, str(tmp_path / "work"))
  monkeypatch.undo()
  assert [size for _, _, size in calls] == [3] * 4  # one step per frame after the first, for all
  assert out["frames"] == 5 and out["targets"] == 3 and "boxes" not in out
  work = tmp_path / "work"
  assert out["target_boxes"] == [str(work / f"demo_boxes_{k}.txt") for k in range(3)]
  assert not (work / "demo_boxes.txt").exists()

  # Single-target runs with the demo's own tracker and weights.
  tracker, variables, _ = calls[0]
  assert all(t is tracker and v is variables for t, v, _ in calls)
  tracked = [rf.read_boxes(path) for path in out["target_boxes"]]
  for k, start in enumerate(targets):
    state = tracker.init(variables, images[0], start)
    expected = [start]
    for image in images[1:5]:
      got, _, state = tracker.track(variables, state, image)
      expected.append(got)
    # 1e-3 between batched and single streams, as tests/test_stark_tracker.py, plus the file's
    # 3 decimals.
    np.testing.assert_allclose(tracked[k], np.stack(expected), atol=1.5e-3, err_msg=f"target {k}")

  _assert_video_and_gif_frames(out, video=5, gif=3)


def test_several_targets_drawn_with_the_mouse(tmp_path, frames, monkeypatch):
  images, box = frames
  drawn_boxes = np.asarray([[int(round(v)) for v in box], [5, 6, 20, 18]], np.int32)
  shown = []

  def fake_select_rois(window, image_bgr, showCrosshair, fromCenter):  # noqa: N803 (OpenCV's names)
    shown.append(image_bgr)
    return drawn_boxes if len(shown) == 1 else ()  # the second time, ESC before any box

  monkeypatch.setattr(cv2, "selectROIs", fake_select_rois)
  monkeypatch.setattr(cv2, "destroyAllWindows", lambda: None)
  monkeypatch.setenv("DISPLAY", ":0")
  folder = write_folder(tmp_path / "frames", images[:3])
  config = demo_config(folder, box, init_boxes="draw", output_video="", output_gif="")
  with pytest.warns(UserWarning):
    out = run_demo(config, str(tmp_path / "w"))
  np.testing.assert_array_equal(shown[0], cv2.cvtColor(images[0], cv2.COLOR_RGB2BGR))
  assert out["targets"] == 2 and len(out["target_boxes"]) == 2
  for k, path in enumerate(out["target_boxes"]):
    boxes = rf.read_boxes(path)
    assert boxes.shape == (3, 4) and np.all(np.isfinite(boxes))
    np.testing.assert_array_equal(boxes[0], drawn_boxes[k])
  with pytest.raises(ValueError, match="config.demo.init_boxes=draw: no box drawn"):
    run_demo(config, str(tmp_path / "w2"))
  monkeypatch.delenv("DISPLAY")
  monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
  with pytest.raises(ValueError, match="config.demo.init_boxes=draw needs a display"):
    run_demo(config, str(tmp_path / "w3"))


@pytest.mark.parametrize("text, problem", [
    ("1,2,3,4;5,6,7", "box 1 .* has 3 fields"),
    ("1,2,3,4,5", "box 0 .* has 5 fields"),
    ("1,2,3,4;", "box 1 .* is empty"),
    ("1,2,3,4;5,six,7,8", "'six', which is not a number"),
    ("1,2,nan,4", "non-finite"),
    ("1,2,0,4", "w > 0 and h > 0, got w=0, h=4"),
    ("1,2,3,4;1,2,3,-4", "box 1 .* w > 0 and h > 0"),
])
def test_malformed_init_boxes_are_named(text, problem):
  with pytest.raises(ValueError, match=f"config.demo.init_boxes=.*{problem}"):
    parse_boxes(text)


def test_boxes_outside_the_first_frame_are_named(tmp_path, frames):
  images, box = frames
  folder = write_folder(tmp_path / "frames", images[:1])
  outside = (([box, [96, 10, 5, 5]], 1), ([[-30, 10, 30, 5], box], 0), ([box, [10, 72, 4, 4]], 1))
  for boxes, k in outside:
    config = demo_config(folder, box, init_boxes=boxes_text(boxes))
    message = rf"config.demo.init_boxes: box {k} .* outside the first frame \(96x72 pixels\)"
    with pytest.raises(ValueError, match=message):
      run_demo(config, str(tmp_path / "w"))
  config = demo_config(folder, [-10, -10, 9.5, 40])
  with pytest.raises(ValueError, match="config.demo.init_box: box .* outside"):
    run_demo(config, str(tmp_path / "w"))
  np.testing.assert_array_equal(parse_boxes("-5,-5,10,10; 90,70,20,20")[1], [90, 70, 20, 20])


def test_each_target_is_drawn_in_its_own_colour():
  assert len(set(TARGET_COLOURS)) == len(TARGET_COLOURS)
  boxes = np.asarray([[10, 30, 30, 20], [50, 30, 30, 20], [20, 2, 40, 60]], np.float64)
  out = draw_targets(np.zeros((72, 96, 3), np.uint8), boxes, [0.9, 0.1, 0.5], 7)
  for k, (x, y, w, h) in enumerate(boxes.astype(int)):
    assert tuple(out[y + h, x + w // 2]) == TARGET_COLOURS[k]  # bottom edge
    assert tuple(out[y + h // 2 + 1, x]) == TARGET_COLOURS[k]  # left edge
    # The index tag is a patch of the box's colour above it, or just inside it at the top edge.
    tag = out[y - 8:y, x:x + 12] if y >= 12 else out[y + 2:y + 10, x:x + 12]
    assert np.mean(np.all(tag == TARGET_COLOURS[k], axis=-1)) > 0.3
