"""STARK tracker (single and batched streams) on the tiny config with random weights."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from data_pipelines.synthetic import SyntheticSource
from trackjax.config_files import load_config
from trackjax.families.stark.tracker import StarkTracker
from trackjax.sot.streams import BatchedTracker
from trackjax.sot.tracker import as_rgb_frame, initial_box
from trackjax.sot.tracker_variables import load_tracker_variables, random_variables


def make_config(path="configs/stark_st50.py:tiny", interval=2, threshold=-1.0):
  config = load_config(path)
  config.tracker.update_intervals["default"] = interval
  config.tracker.update_threshold = threshold  # < 0: every scheduled update happens
  return config


@pytest.fixture(scope="module")
def st():
  config = make_config()
  tracker = StarkTracker(config.model, config.tracker)
  variables = random_variables(config, 0)
  return tracker, variables


@pytest.fixture(scope="module")
def source():
  return SyntheticSource(4, 9, image_size=(72, 96), seed=3, split="test")


def run_single(tracker, variables, source, index, num_frames=None):
  seq = source.sequence(index)
  n = num_frames or len(seq)
  state = tracker.init(variables, source.read_frame(index, 0), seq.boxes[0])
  boxes, scores, states = [state.box], [1.0], [state]
  for f in range(1, n):
    box, score, state = tracker.track(variables, state, source.read_frame(index, f))
    boxes.append(box)
    scores.append(score)
    states.append(state)
  return np.stack(boxes), np.array(scores), states


def tokens_np(tokens):
  return np.asarray(tokens.feat)


def test_tracks_a_synthetic_sequence_with_template_updates_on_schedule(st, source):
  tracker, variables = st
  boxes, scores, states = run_single(tracker, variables, source, 0)
  height, width = source.image_size
  assert boxes.shape == (9, 4) and np.all(np.isfinite(boxes))
  assert np.all(boxes[1:, 2:] >= 10) and np.all(boxes[1:, 0] >= 0)
  assert np.all(boxes[1:, 0] + boxes[1:, 2] <= width + 1e-9)
  assert np.all(boxes[1:, 1] + boxes[1:, 3] <= height + 1e-9)
  assert np.all((scores[1:] > 0) & (scores[1:] < 1))
  assert [s.frame_id for s in states] == list(range(9))
  half = tokens_np(states[0].templates).shape[1] // 2
  z1 = tokens_np(states[0].templates)[:, :half]
  np.testing.assert_array_equal(tokens_np(states[0].templates)[:, half:], z1)  # [z1, copy(z1)]
  for f in range(1, 9):
    now, before = tokens_np(states[f].templates), tokens_np(states[f - 1].templates)
    np.testing.assert_array_equal(now[:, :half], z1)  # the initial template never changes
    changed = not np.array_equal(now[:, half:], before[:, half:])
    assert changed == (f % 2 == 0), f"frame {f}: dynamic template changed={changed}"


def test_no_update_below_the_score_threshold(source):
  config = make_config(interval=1, threshold=1.0)  # sigmoid never exceeds 1
  tracker = StarkTracker(config.model, config.tracker)
  variables = random_variables(config, 0)
  _, _, states = run_single(tracker, variables, source, 1, num_frames=4)
  for s in states[1:]:
    np.testing.assert_array_equal(tokens_np(s.templates), tokens_np(states[0].templates))


def test_stark_s_has_one_template_and_score_one(source):
  config = make_config("configs/stark_s50.py:tiny", interval=1)
  tracker = StarkTracker(config.model, config.tracker)
  variables = random_variables(config, 1)
  boxes, scores, states = run_single(tracker, variables, source, 2, num_frames=4)
  assert np.all(scores == 1.0) and np.all(np.isfinite(boxes))
  for s in states[1:]:
    np.testing.assert_array_equal(tokens_np(s.templates), tokens_np(states[0].templates))


def test_update_interval_comes_from_the_dataset_entry():
  config = make_config()
  config.tracker.update_intervals["trackingnet"] = 25
  assert StarkTracker(config.model, config.tracker, dataset="trackingnet").interval == 25
  assert StarkTracker(config.model, config.tracker, dataset="otb").interval == 2  # default


def test_grayscale_frames_track_like_rgb(st, source):
  tracker, variables = st
  gray = [source.read_frame(0, f)[:, :, 1] for f in range(4)]
  box0 = source.sequence(0).boxes[0]
  results = []
  for convert in (lambda g: g, lambda g: g[:, :, None], lambda g: np.repeat(g[:, :, None], 3, 2)):
    state = tracker.init(variables, convert(gray[0]), box0)
    out = []
    for g in gray[1:]:
      box, _, state = tracker.track(variables, state, convert(g))
      out.append(box)
    results.append(np.stack(out))
  np.testing.assert_array_equal(results[0], results[2])
  np.testing.assert_array_equal(results[1], results[2])


@pytest.mark.parametrize("frame_shape", [(1, 1), (5, 7), (13, 400, 3), (300, 9, 4)])
@pytest.mark.parametrize("box", [[2, 3, 4, 5], [-50, -40, 20, 10], [1e4, 1e4, 30, 30],
                                 [0, 0, 0, 0], [3, 3, 1e-7, 1e-9], [-5, 2, 1e5, 3]])
def test_any_frame_size_and_box_never_crashes_or_gives_nan(st, frame_shape, box):
  tracker, variables = st
  rng = np.random.default_rng(0)
  frame = rng.integers(0, 256, frame_shape, dtype=np.uint8)
  state = tracker.init(variables, frame, box)
  for _ in range(3):
    out, score, state = tracker.track(variables, state, frame)
    assert out.shape == (4,) and np.all(np.isfinite(out)) and np.isfinite(score)
  # Frames may change size mid-sequence (and dtype: float frames are taken as 0..255).
  out, score, _ = tracker.track(variables, state, rng.random((40, 60)) * 255)
  assert np.all(np.isfinite(out))


def test_initial_box_checks_and_minimum_size():
  np.testing.assert_allclose(initial_box([10, 10, 0, 4]), [9.5, 10, 1, 4])
  with pytest.raises(ValueError, match="init_box"):
    initial_box([0, 0, np.nan, 3], name="init_box")
  with pytest.raises(ValueError, match="4 finite numbers"):
    initial_box([0, 0, 3])
  with pytest.raises(ValueError, match="got shape"):
    as_rgb_frame(np.zeros((4, 4, 2)))


def test_non_finite_outputs_keep_the_previous_box_with_score_zero(st, source):
  tracker, variables = st
  nan_variables = jax.tree_util.tree_map(lambda x: jnp.full_like(x, jnp.nan), variables)
  frame = source.read_frame(0, 0)
  box0 = source.sequence(0).boxes[0]
  state = tracker.init(nan_variables, frame, box0)
  for f in range(1, 4):  # frame 2 would be a template update; must be skipped
    box, score, state = tracker.track(nan_variables, state, source.read_frame(0, f))
    np.testing.assert_array_equal(box, initial_box(box0))
    assert score == 0.0 and state.frame_id == f


def test_batched_streams_equal_single_stream_runs_with_slot_refill(st):
  tracker, variables = st
  source = SyntheticSource(5, 7, image_size=(72, 96), seed=5, split="val")
  lengths = [7, 3, 5, 4, 6]  # different lengths, so slots are refilled at different times
  expected = {i: run_single(tracker, variables, source, i, n)[0] for i, n in enumerate(lengths)}

  batched = BatchedTracker(tracker, num_streams=2)
  state = batched.empty_state(variables)
  pending = list(range(len(lengths)))
  slots = {}  # slot -> [sequence index, next frame, boxes]
  got = {}
  while pending or slots:
    for slot in range(2):
      if slot not in slots and pending:
        i = pending.pop(0)
        state = batched.init_slot(variables, state, slot, source.read_frame(i, 0),
                                  source.sequence(i).boxes[0])
        slots[slot] = [i, 1, [state.boxes[slot].copy()]]
    frames = {slot: source.read_frame(i, f) for slot, (i, f, _) in slots.items()}
    boxes, _, state = batched.track(variables, state, frames)
    for slot in list(slots):
      i, f, out = slots[slot]
      out.append(boxes[slot])
      slots[slot][1] += 1
      if slots[slot][1] == lengths[i]:
        got[i] = np.stack(out)
        state = batched.release_slot(state, slot)
        del slots[slot]
  for i in range(len(lengths)):
    np.testing.assert_allclose(got[i], expected[i], atol=1e-3, err_msg=f"sequence {i}")
  with pytest.raises(ValueError, match="not active"):
    batched.track(variables, state, {0: source.read_frame(0, 0)})


def test_tracker_variables_sources(tmp_path):
  config = make_config()
  with pytest.warns(UserWarning, match="RANDOM weights"):
    loaded = load_tracker_variables(config, "", seed=4)
  expected = random_variables(config, 4)
  for a, b in zip(jax.tree_util.tree_leaves(loaded), jax.tree_util.tree_leaves(expected)):
    np.testing.assert_array_equal(a, b)
  with pytest.raises(FileNotFoundError, match="weights folder not found"):
    load_tracker_variables(config, str(tmp_path / "missing"))
