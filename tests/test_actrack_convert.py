"""ACTrack's backbone import: MAE / timm / OSTrack ViT state dicts with the real key names.

State dicts are built with ViT-B/16's real names and widths (768 wide, 12 heads, MLP 3072, patch
16, a 14x14 grid at 224) at a reduced depth to stay fast; a small PyTorch ViT forward written
here (timm's block layout) checks the converted network computes what the checkpoint computes.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from trackjax import weights
from trackjax.config_files import load_config
from trackjax.convert.torch_rules import CheckpointError
from trackjax.families.actrack import vit_checkpoint
from trackjax.families.actrack.model import init_variables
from trackjax.models.vit import OneStreamViT, interpolate_grid_embedding

DEPTH = 2  # ViT-B/16 has 12; the names and every other shape are the real ones


def vitb_model_config(template_size=128, search_size=256):
  model = load_config("configs/actrack_vitb256.py").model
  model.vit_depth = DEPTH
  model.additive_blocks = (0, 1)
  model.additive_widths = (8, 16)
  model.decoder_width, model.decoder_mlp_dim, model.decoder_heads = 32, 64, 2
  model.template_size, model.search_size = template_size, search_size
  return model


def random_state_dict(layout, seed=0):
  g = torch.Generator().manual_seed(seed)
  return {k: torch.randn(shape, generator=g) * 0.05 for k, shape in layout.items()}


def torch_vit_tokens(sd, z, x, pos_z, pos_x, depth, heads=12):
  """timm's ViT blocks over [template; search] tokens (PyTorch, NCHW images)."""
  def embed(img, pos):
    t = torch.nn.functional.conv2d(img, sd["patch_embed.proj.weight"], sd["patch_embed.proj.bias"],
                                   stride=16)
    return t.flatten(2).transpose(1, 2) + pos
  tokens = torch.cat([embed(z, pos_z), embed(x, pos_x)], dim=1)
  ln = lambda t, p: torch.nn.functional.layer_norm(t, t.shape[-1:], sd[p + ".weight"],
                                                   sd[p + ".bias"], eps=1e-6)
  lin = lambda t, p: torch.nn.functional.linear(t, sd[p + ".weight"], sd[p + ".bias"])
  b, n, c = tokens.shape
  for i in range(depth):
    p = f"blocks.{i}"
    qkv = lin(ln(tokens, p + ".norm1"), p + ".attn.qkv").reshape(b, n, 3, heads, c // heads)
    q, k, v = qkv.permute(2, 0, 3, 1, 4)
    attn = (q @ k.transpose(-2, -1) / math.sqrt(c // heads)).softmax(-1)
    tokens = tokens + lin((attn @ v).transpose(1, 2).reshape(b, n, c), p + ".attn.proj")
    h = torch.nn.functional.gelu(lin(ln(tokens, p + ".norm2"), p + ".mlp.fc1"))
    tokens = tokens + lin(h, p + ".mlp.fc2")
  return ln(tokens, "norm")


def flax_vit_tokens(backbone, model_config, z, x):
  vit = OneStreamViT(width=768, depth=DEPTH, num_heads=12, mlp_dim=3072, patch_size=16,
                     template_size=model_config.template_size,
                     search_size=model_config.search_size)
  return np.asarray(vit.apply({"params": backbone}, jnp.asarray(z), jnp.asarray(x)))


def test_mae_checkpoint_imports_and_computes_the_same_tokens():
  # Grids of the checkpoint's own size (14x14) so that no interpolation is involved.
  model = vitb_model_config(template_size=224, search_size=224)
  layout = vit_checkpoint.timm_layout(depth=DEPTH, mae_decoder=True)
  sd = random_state_dict(layout)
  variables, note = vit_checkpoint.backbone_from_state_dict({**sd}, model)
  backbone = variables["params"]["backbone"]
  assert "mask_token" in note and "decoder_pred.weight" in note and "cls_token" in note
  rng = np.random.default_rng(0)
  z = rng.normal(size=(1, 224, 224, 3)).astype(np.float32)
  x = rng.normal(size=(1, 224, 224, 3)).astype(np.float32)
  pos = sd["pos_embed"][:, 1:]
  want = torch_vit_tokens(sd, torch.from_numpy(z).permute(0, 3, 1, 2),
                          torch.from_numpy(x).permute(0, 3, 1, 2), pos, pos, DEPTH).numpy()
  got = flax_vit_tokens(backbone, model, z, x)
  np.testing.assert_allclose(got, want, atol=2e-4, rtol=1e-3)


def test_round_trip_gives_back_every_tensor():
  model = vitb_model_config()
  sd = random_state_dict(vit_checkpoint.timm_layout(depth=DEPTH, num_classes=1000))
  variables, note = vit_checkpoint.backbone_from_state_dict(sd, model)
  assert "head.weight" in note
  back = vit_checkpoint.state_dict_from_backbone(variables["params"]["backbone"], DEPTH)
  for key, value in back.items():
    np.testing.assert_array_equal(value, sd[key].numpy(), err_msg=key)
  assert set(back) == set(sd) - {"cls_token", "pos_embed", "head.weight", "head.bias"}


def test_position_embeddings_are_interpolated_to_template_and_search_grids():
  model = vitb_model_config()  # 128 / 256: 8x8 and 16x16 from 14x14
  sd = random_state_dict(vit_checkpoint.timm_layout(depth=DEPTH))
  grid = np.linspace(0, 1, 14, dtype=np.float32)
  ramp = np.broadcast_to(grid[None, :, None], (14, 14, 768)).reshape(196, 768)  # varies along x
  sd["pos_embed"] = torch.from_numpy(np.concatenate([np.zeros((1, 768), np.float32), ramp])[None])
  backbone = vit_checkpoint.backbone_from_state_dict(sd, model)[0]["params"]["backbone"]
  z, x = backbone["pos_embed_z"], backbone["pos_embed_x"]
  assert z.shape == (1, 64, 768) and x.shape == (1, 256, 768)
  # A ramp stays monotone along x and constant along y; the cls entry is dropped.
  xs = x[0].reshape(16, 16, 768)[..., 0]
  assert np.allclose(xs, xs[:1]) and np.all(np.diff(xs[0]) > 0)
  np.testing.assert_allclose(interpolate_grid_embedding(ramp, 14), ramp)


def test_ostrack_checkpoint_with_and_without_its_own_grids():
  model = vitb_model_config()
  base = random_state_dict(vit_checkpoint.timm_layout(depth=DEPTH))
  net = {f"backbone.{k}": v for k, v in base.items()}
  net["box_head.conv1_ctr.0.weight"] = torch.zeros(256, 768, 3, 3)
  without = vit_checkpoint.backbone_from_state_dict(net, model)[0]["params"]["backbone"]
  assert without["pos_embed_x"].shape == (1, 256, 768)
  g = torch.Generator().manual_seed(1)
  own = dict(net, **{"backbone.pos_embed_z": torch.randn(1, 64, 768, generator=g),
                     "backbone.pos_embed_x": torch.randn(1, 256, 768, generator=g)})
  got, note = vit_checkpoint.backbone_from_state_dict(own, model)
  np.testing.assert_array_equal(got["params"]["backbone"]["pos_embed_x"],
                                own["backbone.pos_embed_x"].numpy())
  assert "box_head.conv1_ctr.0.weight" in note and "pos_embed" in note
  np.testing.assert_array_equal(got["params"]["backbone"]["block_1"]["mlp"]["fc2"]["kernel"],
                                without["block_1"]["mlp"]["fc2"]["kernel"])


def test_unknown_missing_and_misshaped_keys_are_named():
  model = vitb_model_config()
  sd = random_state_dict(vit_checkpoint.timm_layout(depth=DEPTH))
  with pytest.raises(CheckpointError, match="blocks.0.attn.rel_pos"):
    vit_checkpoint.backbone_from_state_dict(dict(sd, **{"blocks.0.attn.rel_pos": torch.zeros(3)}),
                                            model)
  with pytest.raises(CheckpointError, match="block_1/mlp/fc1/kernel"):
    vit_checkpoint.backbone_from_state_dict(
        {k: v for k, v in sd.items() if k != "blocks.1.mlp.fc1.weight"}, model)
  deeper = random_state_dict(vit_checkpoint.timm_layout(depth=DEPTH + 1))
  with pytest.raises(CheckpointError, match="blocks.2"):
    vit_checkpoint.backbone_from_state_dict(deeper, model)
  large = random_state_dict(vit_checkpoint.timm_layout(depth=DEPTH, width=1024, mlp_dim=4096))
  with pytest.raises(CheckpointError, match="shape mismatches"):
    vit_checkpoint.backbone_from_state_dict(large, model)


def test_init_backbone_from_reads_pth_files_safely_and_converted_directories(tmp_path):
  model = vitb_model_config()
  sd = random_state_dict(vit_checkpoint.timm_layout(depth=DEPTH, mae_decoder=True))
  path = tmp_path / "mae_pretrain_vit_base.pth"
  torch.save({"model": sd}, path)
  abstract = jax.eval_shape(lambda: init_variables(model, jax.random.PRNGKey(0)))
  variables = jax.tree_util.tree_map(lambda s: np.full(s.shape, 0.5, s.dtype), abstract)
  imported = vit_checkpoint.import_vit_backbone(variables, str(path), None, model)
  np.testing.assert_array_equal(
      imported["params"]["backbone"]["block_0"]["attn"]["qkv"]["kernel"],
      sd["blocks.0.attn.qkv.weight"].numpy().T)
  for part in ("additive", "decoder"):  # only the backbone is replaced
    jax.tree_util.tree_map(np.testing.assert_array_equal, imported["params"][part],
                           variables["params"][part])
  # The converter's directory (python -m trackjax.families.actrack.vit_checkpoint) gives the
  # same backbone.
  out = tmp_path / "converted"
  converted, _ = vit_checkpoint.backbone_from_state_dict(sd, model)
  weights.save_variables(str(out), converted, {"family": "actrack", "note": "test"})
  again = vit_checkpoint.import_vit_backbone(variables, str(out), None, model)
  jax.tree_util.tree_map(np.testing.assert_array_equal, again["params"]["backbone"],
                         imported["params"]["backbone"])
  # A file pickling other objects is refused (weights_only=True).
  bad = tmp_path / "training_checkpoint.pth"
  torch.save({"model": sd, "settings": _Settings()}, bad)
  with pytest.raises(CheckpointError, match="weights_only"):
    vit_checkpoint.import_vit_backbone(variables, str(bad), None, model)


class _Settings:
  lr = 1e-4
