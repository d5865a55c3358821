"""MAPNet-R's losses and target assignment on cases worked out by hand."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from trackjax.families.mapnet.config import loss_config
from trackjax.families.mapnet.losses import mapnet_losses, positive_tokens

LN = math.log


def grid_indices(positive, side):
  return [divmod(int(i), side) for i in np.flatnonzero(np.asarray(positive))]


def test_transt_positives_by_hand():
  side = 4
  targets = jnp.array([
      [0.5, 0.2, 0.5, 0.2],  # x [0.25, 0.75) -> cols ceil(1)=1 .. ceil(3)=3; y [0.1, 0.3) -> row 1
      [0.35, 0.35, 0.1, 0.1],  # x [0.3, 0.4): ceil(1.2) = ceil(1.6) = 2 -> one column, one row
      [0.0, 0.5, 0.4, 0.2],  # x [-0.2, 0.2): clamped to col 0; y [0.4, 0.6): ceil(1.6)=2 .. 3
      [1.5, 0.5, 0.2, 0.2],  # right of the crop: no positive
      [np.nan, 0.5, 0.2, 0.2],  # not finite: no positive
  ])
  positive = positive_tokens(targets, side)
  assert positive.shape == (5, 16)
  assert grid_indices(positive[0], side) == [(1, 1), (1, 2)]
  assert grid_indices(positive[1], side) == [(2, 2)]
  assert grid_indices(positive[2], side) == [(2, 0)]
  assert not np.any(positive[3]) and not np.any(positive[4])


def test_centre_positives_by_hand():
  side = 4  # token centres at 0.125, 0.375, 0.625, 0.875
  targets = jnp.array([
      [0.5, 0.2, 0.5, 0.2],  # x [0.25, 0.75] holds centres 0.375, 0.625; y [0.1, 0.3]: 0.125
      [0.3, 0.3, 0.05, 0.05],  # no centre inside: the token holding (0.3, 0.3), (1, 1)
  ])
  positive = positive_tokens(targets, side, rule="centre")
  assert grid_indices(positive[0], side) == [(0, 1), (0, 2)]
  assert grid_indices(positive[1], side) == [(1, 1)]


def hand_case():
  """2x2 tokens; the target covers the top row (tokens 0 and 1 positive, 2 and 3 background).

  token 0: logits (ln 3, 0): p = 3/4, box = target: IoU 1, GIoU 1, L1 0;
  token 1: logits (0, ln 3): p = 1/4, box (0.5, 0.25, 0.5, 0.5) -> xyxy (0.25, 0, 0.75, 0.5)
           inside the target (0, 0, 1, 0.5): IoU 0.5, GIoU 0.5 (enclosing box = target), L1 0.5;
  tokens 2, 3: logits (0, 0): p = 1/2.
  """
  logits = jnp.array([[[LN(3), 0.0], [0.0, LN(3)], [0.0, 0.0], [0.0, 0.0]]])
  boxes = jnp.array([[[0.5, 0.25, 1.0, 0.5], [0.5, 0.25, 0.5, 0.5],
                      [0.3, 0.7, 0.2, 0.2], [0.7, 0.7, 0.2, 0.2]]])
  target_xywh = jnp.array([[0.0, 0.0, 1.0, 0.5]])
  return {"pred_logits": logits, "pred_boxes": boxes}, target_xywh


def test_plain_transt_losses_by_hand():
  outputs, target = hand_case()
  loss, m = mapnet_losses(outputs, target, loss_config(plain_transt=True))
  bg = 0.0625
  cls = (LN(4 / 3) + LN(4) + 2 * bg * LN(2)) / (2 + 2 * bg)  # hard labels, weighted mean
  np.testing.assert_allclose(m["cls"], cls, rtol=1e-5)
  np.testing.assert_allclose(m["l1"], 0.5 / 2, rtol=1e-5)  # sum over positives / 2 positives
  np.testing.assert_allclose(m["giou"], 0.5 / 2, rtol=1e-5)
  np.testing.assert_allclose(loss, 8.334 * cls + 5 * 0.25 + 2 * 0.25, rtol=1e-5)
  np.testing.assert_allclose(m["iou"], 0.75, rtol=1e-5)
  assert float(m["num_positives"]) == 2


def test_mapnet_losses_by_hand():
  outputs, target = hand_case()
  loss, m = mapnet_losses(outputs, target, loss_config())
  bg = 0.0625
  # Precision-guided: token 1's target is its IoU 0.5: -(0.5 ln(1/4) + 0.5 ln(3/4)).
  ce1 = 0.5 * LN(4) + 0.5 * LN(4 / 3)
  cls = (LN(4 / 3) + ce1 + 2 * bg * LN(2)) / (2 + 2 * bg)
  np.testing.assert_allclose(m["cls"], cls, rtol=1e-5)
  # Confidence-guided: weights 3/4 (token 0, loss 0) and 1/4 (token 1), over their sum 1.
  np.testing.assert_allclose(m["l1"], 0.25 * 0.5 / 1.0, rtol=1e-5)
  np.testing.assert_allclose(m["giou"], 0.25 * 0.5 / 1.0, rtol=1e-5)
  np.testing.assert_allclose(loss, 8.334 * cls + 5 * 0.125 + 2 * 0.125, rtol=1e-5)
  by_positives = loss_config()
  by_positives.confidence_normaliser = "positives"
  _, m = mapnet_losses(outputs, target, by_positives)
  np.testing.assert_allclose(m["l1"], 0.25 * 0.5 / 2, rtol=1e-5)


def test_guidance_weights_carry_no_gradient():
  outputs, target = hand_case()
  config = loss_config()

  def term(name, logits, boxes):
    return mapnet_losses({"pred_logits": logits, "pred_boxes": boxes}, target, config)[1][name]

  logits, boxes = outputs["pred_logits"], outputs["pred_boxes"]
  # The IoU soft label is a constant of the classification loss, the confidence a constant of the
  # regression loss.
  assert not np.any(jax.grad(lambda b: term("cls", logits, b))(boxes))
  assert not np.any(jax.grad(lambda x: term("l1", x, boxes))(logits))
  assert not np.any(jax.grad(lambda x: term("giou", x, boxes))(logits))
  assert np.any(jax.grad(lambda b: term("l1", logits, b))(boxes))


@pytest.mark.parametrize("plain", [False, True])
def test_degenerate_targets_and_batches_without_positives_stay_finite(plain):
  rng = np.random.default_rng(0)
  b, side = 5, 4
  outputs = {"pred_logits": jnp.asarray(rng.normal(size=(b, side * side, 2)), jnp.float32),
             "pred_boxes": jax.nn.sigmoid(jnp.asarray(rng.normal(size=(b, side * side, 4)),
                                                      jnp.float32))}
  targets = jnp.array([
      [1.5, 1.5, 0.1, 0.1],  # outside the crop: no positive
      [0.2, 0.2, 0.0, 0.0],  # zero-size box
      [0.3, 0.3, 0.0, 0.4],  # zero width
      [np.nan, 0.1, 0.2, 0.2],  # not finite
      [-2.0, -2.0, 0.5, 0.5],  # outside to the left: no positive
  ])
  config = loss_config(plain_transt=plain)
  fn = jax.jit(lambda o, t: mapnet_losses(o, t, config))
  loss, metrics = fn(outputs, targets)
  assert all(np.isfinite(float(v)) for v in metrics.values()), metrics
  grads = jax.grad(lambda o: fn(o, targets)[0])(outputs)
  assert all(np.all(np.isfinite(g)) for g in jax.tree_util.tree_leaves(grads))
  # None of them (first, fourth and fifth: no positive at all) regresses a box it should not.
  pick = jnp.array([0, 3, 4])
  _, none = fn({k: v[pick] for k, v in outputs.items()}, targets[pick])
  assert float(none["num_positives"]) == 0 and float(none["l1"]) == 0 and float(none["giou"]) == 0
  assert np.isfinite(float(none["loss"])) and float(none["cls"]) > 0


def test_invalid_samples_and_padded_tokens_are_left_out():
  outputs, target = hand_case()
  doubled = {k: jnp.concatenate([v, v[:, ::-1]]) for k, v in outputs.items()}
  targets = jnp.concatenate([target, jnp.array([[0.0, 0.5, 1.0, 0.5]])])
  config = loss_config()
  _, only_first = mapnet_losses(outputs, target, config)
  _, masked = mapnet_losses(doubled, targets, config, sample_valid=jnp.array([True, False]))
  for key in only_first:
    np.testing.assert_allclose(masked[key], only_first[key], rtol=1e-6)
  # Ignoring padded tokens: padding tokens 2 and 3 leaves the two positives alone.
  config.ignore_padded_tokens = True
  padding = jnp.array([[False, False, True, True]])
  _, m = mapnet_losses(outputs, target, config, search_padding=padding)
  ce1 = 0.5 * LN(4) + 0.5 * LN(4 / 3)
  np.testing.assert_allclose(m["cls"], (LN(4 / 3) + ce1) / 2, rtol=1e-5)
