"""MAPNet-R tracker (single and batched streams) on the tiny config with random weights."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from data_pipelines.synthetic import SyntheticSource
from trackjax.config_files import load_config
from trackjax.families.mapnet.tracker import MapnetTracker, build_tracker
from trackjax.sot.streams import BatchedTracker
from trackjax.sot.tracker import initial_box
from trackjax.sot.tracker_variables import random_variables


@pytest.fixture(scope="module")
def mt():
  config = load_config("configs/mapnet_r50.py:tiny")
  return build_tracker(config), random_variables(config, 0)


@pytest.fixture(scope="module")
def source():
  return SyntheticSource(4, 6, image_size=(72, 96), seed=3, split="test")


def run_single(tracker, variables, source, index, start=0, num_frames=None):
  seq = source.sequence(index)
  end = start + (num_frames or len(seq) - start)
  state = tracker.init(variables, source.read_frame(index, start), seq.boxes[start])
  boxes, scores = [state.box], [1.0]
  for f in range(start + 1, end):
    box, score, state = tracker.track(variables, state, source.read_frame(index, f))
    boxes.append(box)
    scores.append(score)
  return np.stack(boxes), np.array(scores), state


def test_tracks_a_synthetic_sequence_inside_the_frame(mt, source):
  tracker, variables = mt
  assert isinstance(tracker, MapnetTracker)
  boxes, scores, state = run_single(tracker, variables, source, 0)
  height, width = source.image_size
  assert boxes.shape == (6, 4) and np.all(np.isfinite(boxes)) and state.frame_id == 5
  assert np.all(boxes[1:, 2:] >= 10) and np.all((scores >= 0) & (scores <= 1))
  centres = boxes[1:, :2] + boxes[1:, 2:] / 2  # TransT's clip: centre inside the frame
  assert np.all(centres >= 0) and np.all(centres[:, 0] <= width) and np.all(centres[:, 1] <= height)


@pytest.mark.parametrize("frame_shape,box", [
    ((72, 96), (10, 10, 20, 15)),  # gray
    ((72, 96, 1), (-10, -5, 30, 30)),  # partly outside
    ((50, 40, 4), (30, 40, 25, 20)),  # RGBA, partly outside
    ((9, 7, 3), (1, 1, 3, 3)),  # tiny frame
    ((72, 96, 3), (200, 200, 10, 10)),  # fully outside
])
def test_any_frame_shape_and_box_never_crashes_or_gives_nan(mt, frame_shape, box):
  tracker, variables = mt
  rng = np.random.default_rng(0)
  frames = [rng.integers(0, 255, frame_shape, dtype=np.uint8) for _ in range(3)]
  state = tracker.init(variables, frames[0], box)
  for frame in frames[1:]:
    out, score, state = tracker.track(variables, state, frame)
    assert out.shape == (4,) and np.all(np.isfinite(out)) and np.isfinite(score)
    assert np.all(out[2:] > 0)


def test_non_finite_outputs_keep_the_previous_box_with_score_zero(mt, source):
  tracker, variables = mt
  nan_variables = jax.tree_util.tree_map(lambda x: jnp.full_like(x, jnp.nan), variables)
  box0 = source.sequence(0).boxes[0]
  state = tracker.init(nan_variables, source.read_frame(0, 0), box0)
  for f in range(1, 3):
    box, score, state = tracker.track(nan_variables, state, source.read_frame(0, f))
    np.testing.assert_array_equal(box, initial_box(box0))
    assert score == 0.0 and state.frame_id == f and state.score == 0.0


def test_batched_streams_equal_single_stream_runs_started_on_different_frames(mt, source):
  tracker, variables = mt
  starts = {0: 0, 1: 2, 2: 3}  # slot -> first frame; stream i tracks sequence i
  num_frames = 6
  expected = {i: run_single(tracker, variables, source, i, start=s, num_frames=num_frames - s)
              for i, s in starts.items()}
  batched = BatchedTracker(tracker, num_streams=3)
  state = batched.empty_state(variables)
  got = {i: [] for i in starts}
  for f in range(num_frames):
    frames = {}
    for i, s in starts.items():
      if f == s:
        state = batched.init_slot(variables, state, i, source.read_frame(i, f),
                                  source.sequence(i).boxes[f])
        got[i].append((state.boxes[i].copy(), 1.0))
      elif f > s:
        frames[i] = source.read_frame(i, f)
    if frames:
      boxes, scores, state = batched.track(variables, state, frames)
      for i in frames:
        got[i].append((boxes[i].copy(), scores[i]))
  for i in starts:
    boxes = np.stack([b for b, _ in got[i]])
    scores = np.array([s for _, s in got[i]])
    np.testing.assert_allclose(boxes, expected[i][0], atol=1e-3, err_msg=f"stream {i}")
    np.testing.assert_allclose(scores, expected[i][1], atol=1e-4, err_msg=f"stream {i}")


def test_inference_variables_are_cached_per_variables_object(mt):
  tracker, variables = mt
  first = tracker.inference_variables(variables)
  assert tracker.inference_variables(variables) is first
  assert tracker.inference_variables(jax.tree_util.tree_map(lambda x: x, variables)) is not first
