"""The tracking step exported with ``jax.export`` reloads from bytes and gives the jitted step's
outputs, without the model code (what ``colab/research_inference.ipynb`` shows on the quickstart
model), on the tiny STARK-ST with random weights."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import export

from trackjax.config_files import load_config
from trackjax.families.stark.model import Tokens, build_stark
from trackjax.models.image_normalization import normalize_images
from trackjax.sot.tracker_variables import random_variables


@pytest.fixture(scope="module")
def tiny(repo_root):
  config = load_config(f"{repo_root / 'configs' / 'stark_st50.py'}:tiny")
  m = config.model
  model = build_stark(m)
  variables = random_variables(config, seed=3)
  rng = np.random.default_rng(0)

  def crops(n, size):
    images = normalize_images(jnp.asarray(rng.integers(0, 256, (n, size, size, 3), np.uint8)))
    masks = np.zeros((n, size, size), bool)
    masks[:, :, size - size // 4:] = True  # padding on the right, as at a frame border
    return images, jnp.asarray(masks)

  encode = jax.jit(lambda v, img, mask: model.apply(v, img, mask, method=model.encode))
  step = jax.jit(lambda v, t, img, mask: model.apply(v, t, img, mask, method=model.track_step))
  z1 = encode(variables, *crops(3, m.template_size))
  templates = Tokens.concatenate([z1, encode(variables, *crops(3, m.template_size))])
  search = crops(3, m.search_size)
  return step, variables, templates, search


def _inputs(templates, search, rows=slice(None)):
  return tuple(x[rows] for x in (templates.feat, templates.mask, templates.pos, *search))


def _batch_polymorphic(args):
  (b,) = export.symbolic_shape("b")
  return [jax.ShapeDtypeStruct((b, *x.shape[1:]), x.dtype) for x in args]


def test_exported_step_with_closed_over_variables_equals_the_jitted_step(tiny):
  step, variables, templates, search = tiny
  expected = step(variables, templates, *search)

  def on_arrays(feat, mask, pos, image, image_mask):
    return step(variables, Tokens(feat, mask, pos), image, image_mask)

  inputs = _inputs(templates, search)
  blob = export.export(jax.jit(on_arrays))(*_batch_polymorphic(inputs)).serialize()
  assert isinstance(blob, (bytes, bytearray)) and len(blob) > 0
  reloaded = export.deserialize(bytearray(bytes(blob)))
  got = reloaded.call(*inputs)
  assert set(got) == {"pred_boxes", "pred_logits"}
  for key in got:
    assert np.isfinite(got[key]).all()
    np.testing.assert_allclose(got[key], expected[key], rtol=0, atol=1e-6, err_msg=key)
  one = reloaded.call(*_inputs(templates, search, slice(1, 2)))  # another batch size
  np.testing.assert_allclose(one["pred_boxes"], expected["pred_boxes"][1:2], rtol=0, atol=1e-6)


def test_exported_step_with_variables_as_inputs_equals_the_jitted_step(tiny):
  step, variables, templates, search = tiny
  expected = step(variables, templates, *search)

  def on_arrays(v, feat, mask, pos, image, image_mask):
    return step(v, Tokens(feat, mask, pos), image, image_mask)

  inputs = _inputs(templates, search)
  variable_specs = jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype),
                                          variables)
  exported = export.export(jax.jit(on_arrays))(variable_specs, *(
      jax.ShapeDtypeStruct(x.shape, x.dtype) for x in inputs))
  reloaded = export.deserialize(exported.serialize())
  got = reloaded.call(variables, *inputs)
  np.testing.assert_allclose(got["pred_boxes"], expected["pred_boxes"], rtol=0, atol=1e-6)
  np.testing.assert_allclose(got["pred_logits"], expected["pred_logits"], rtol=0, atol=1e-6)
  # Other weights through the same artefact give other boxes: the weights are inputs, not constants.
  other = scaled_parameters(variables)
  moved = reloaded.call(other, *inputs)
  np.testing.assert_allclose(moved["pred_boxes"], step(other, templates, *search)["pred_boxes"],
                             rtol=0, atol=1e-6)
  assert not np.allclose(moved["pred_boxes"], expected["pred_boxes"])


def scaled_parameters(variables):
  """The same tree with every parameter scaled by 1.5 (batch statistics kept)."""
  scaled = dict(variables)
  scaled["params"] = jax.tree_util.tree_map(lambda x: x * 1.5, variables["params"])
  return scaled
