"""ACTrack tracker (single and batched streams) on the tiny config with random weights."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from data_pipelines.synthetic import SyntheticSource
from trackjax.config_files import load_config
from trackjax.families.actrack.tracker import ActrackTracker, build_tracker, crop_boxes
from trackjax.geometry.crops import image_to_crop_box
from trackjax.sot.streams import BatchedTracker
from trackjax.sot.tracker import initial_box
from trackjax.sot.tracker_variables import random_variables


@pytest.fixture(scope="module")
def at():
  config = load_config("configs/actrack_vitb256.py:tiny")
  variables = random_variables(config, 0)
  # Spread the bin logits (random weights give nearly uniform ones, whose argmax could flip on
  # rounding) and switch the additive net on, so every part of the step is exercised.
  params = jax.tree_util.tree_map(lambda x: x, variables["params"])
  decoder = dict(params["decoder"])
  decoder["head"] = dict(decoder["head"], kernel=decoder["head"]["kernel"] * 50.0)
  params["decoder"] = decoder
  params["additive"] = jax.tree_util.tree_map(lambda x: x + 0.02, params["additive"])
  return build_tracker(config), {"params": params}


@pytest.fixture(scope="module")
def source():
  return SyntheticSource(3, 6, image_size=(72, 96), seed=3, split="test")


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


def test_tracks_a_sequence_inside_the_frame_and_keeps_the_trajectory(at, source):
  tracker, variables = at
  assert isinstance(tracker, ActrackTracker)
  boxes, scores, state = run_single(tracker, variables, source, 0)
  assert boxes.shape == (6, 4) and np.all(np.isfinite(boxes)) and state.frame_id == 5
  assert np.all(boxes[1:, 2:] >= 10) and np.all((scores >= 0) & (scores <= 1))
  height, width = 72, 96
  centres = boxes[:, :2] + boxes[:, 2:] / 2
  assert np.all(centres >= 0) and np.all(centres[:, 0] <= width) and np.all(centres[:, 1] <= height)
  # The trajectory holds the last num_previous boxes, oldest first.
  trajectory = np.asarray(state.memory["trajectory"][0])
  np.testing.assert_allclose(trajectory, boxes[-tracker.num_previous:], rtol=1e-6, atol=1e-4)


def test_previous_boxes_are_mapped_into_the_search_crop_as_training_targets_are():
  rng = np.random.default_rng(0)
  boxes = rng.uniform(5, 60, (2, 3, 4))
  centre = rng.uniform(5, 60, (2, 4))
  factors = np.array([1.7, 0.6])
  got = np.asarray(crop_boxes(jnp.asarray(boxes, jnp.float32), jnp.asarray(centre, jnp.float32),
                              jnp.asarray(factors, jnp.float32), 64))
  want = np.stack([image_to_crop_box(boxes[k], centre[k], factors[k], 64) for k in range(2)])
  np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("frame_shape,box", [
    ((72, 96), (10, 10, 20, 15)),  # gray
    ((72, 96, 1), (-10, -5, 30, 30)),  # partly outside
    ((50, 40, 4), (30, 40, 25, 20)),  # RGBA, partly outside
    ((9, 7, 3), (1, 1, 3, 3)),  # tiny frame
    ((72, 96, 3), (200, 200, 10, 10)),  # fully outside
])
def test_any_frame_shape_and_box_never_crashes_or_gives_nan(at, frame_shape, box):
  tracker, variables = at
  rng = np.random.default_rng(0)
  frames = [rng.integers(0, 255, frame_shape, dtype=np.uint8) for _ in range(3)]
  state = tracker.init(variables, frames[0], box)
  for frame in frames[1:]:
    out, score, state = tracker.track(variables, state, frame)
    assert out.shape == (4,) and np.all(np.isfinite(out)) and np.isfinite(score)
    assert np.all(out[2:] > 0)


def test_non_finite_outputs_keep_the_previous_box_with_score_zero(at, source):
  tracker, variables = at
  nan_variables = jax.tree_util.tree_map(lambda x: jnp.full_like(x, jnp.nan), variables)
  box0 = source.sequence(0).boxes[0]
  state = tracker.init(nan_variables, source.read_frame(0, 0), box0)
  for f in range(1, 3):
    box, score, state = tracker.track(nan_variables, state, source.read_frame(0, f))
    np.testing.assert_array_equal(box, initial_box(box0))
    assert score == 0.0 and state.frame_id == f and state.score == 0.0
    np.testing.assert_allclose(state.memory["trajectory"][0], np.tile(initial_box(box0), (2, 1)),
                               rtol=1e-6)


def test_batched_streams_equal_single_stream_runs_started_on_different_frames(at, source):
  tracker, variables = at
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
