"""An independent PyTorch STARK written from the official code's documented semantics.

It is the golden model for the converter and parity tests: sequence-first tensors, NCHW convolutions,
``torch.nn.MultiheadAttention``, legacy nearest ``F.interpolate`` for masks, and state-dict keys named
as the official checkpoints (``backbone.0.body.*``, ``transformer.*``, ``box_head.*``...).
"""

import math

import torch
from torch import nn
import torch.nn.functional as F


class FrozenBN(nn.Module):
  def __init__(self, n):
    super().__init__()
    for name, init in (("weight", torch.ones), ("bias", torch.zeros),
                       ("running_mean", torch.zeros), ("running_var", torch.ones)):
      self.register_buffer(name, init(n))

  def forward(self, x):
    scale = self.weight * (self.running_var + 1e-5).rsqrt()
    bias = self.bias - self.running_mean * scale
    return x * scale[None, :, None, None] + bias[None, :, None, None]


class Block(nn.Module):
  def __init__(self, inplanes, planes, stride, downsample):
    super().__init__()
    self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
    self.bn1 = FrozenBN(planes)
    self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
    self.bn2 = FrozenBN(planes)
    self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
    self.bn3 = FrozenBN(planes * 4)
    self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride, bias=False),
                                    FrozenBN(planes * 4)) if downsample else None

  def forward(self, x):
    out = F.relu(self.bn1(self.conv1(x)))
    out = F.relu(self.bn2(self.conv2(out)))
    out = self.bn3(self.conv3(out))
    return F.relu(out + (self.downsample(x) if self.downsample is not None else x))


class Body(nn.Module):
  def __init__(self, blocks, width):
    super().__init__()
    self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
    self.bn1 = FrozenBN(width)
    inplanes = width
    for i, n in enumerate(blocks):
      planes = width * 2 ** i
      layers = []
      for b in range(n):
        stride = 2 if (i > 0 and b == 0) else 1
        layers.append(Block(inplanes, planes, stride, b == 0))
        inplanes = planes * 4
      setattr(self, f"layer{i + 1}", nn.Sequential(*layers))

  def forward(self, x):
    x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
    return self.layer3(self.layer2(self.layer1(x)))


class Backbone(nn.Module):
  def __init__(self, blocks, width):
    super().__init__()
    self.body = Body(blocks, width)


def sine_pos(mask, num_pos_feats):
  not_mask = ~mask
  y = not_mask.cumsum(1, dtype=torch.float32)
  x = not_mask.cumsum(2, dtype=torch.float32)
  y = y / (y[:, -1:, :] + 1e-6) * 2 * math.pi
  x = x / (x[:, :, -1:] + 1e-6) * 2 * math.pi
  dim_t = torch.arange(num_pos_feats, dtype=torch.float32)
  dim_t = 10000 ** (2 * (dim_t // 2) / num_pos_feats)
  px, py = x[:, :, :, None] / dim_t, y[:, :, :, None] / dim_t
  px = torch.stack((px[..., 0::2].sin(), px[..., 1::2].cos()), dim=4).flatten(3)
  py = torch.stack((py[..., 0::2].sin(), py[..., 1::2].cos()), dim=4).flatten(3)
  return torch.cat((py, px), dim=3).permute(0, 3, 1, 2)


class EncLayer(nn.Module):
  def __init__(self, d, h, ff):
    super().__init__()
    self.self_attn = nn.MultiheadAttention(d, h, dropout=0.1)
    self.linear1, self.linear2 = nn.Linear(d, ff), nn.Linear(ff, d)
    self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)

  def forward(self, src, mask, pos):
    q = k = src + pos
    src = self.norm1(src + self.self_attn(q, k, src, key_padding_mask=mask)[0])
    return self.norm2(src + self.linear2(F.relu(self.linear1(src))))


class DecLayer(nn.Module):
  def __init__(self, d, h, ff):
    super().__init__()
    self.self_attn = nn.MultiheadAttention(d, h, dropout=0.1)
    self.multihead_attn = nn.MultiheadAttention(d, h, dropout=0.1)
    self.linear1, self.linear2 = nn.Linear(d, ff), nn.Linear(ff, d)
    self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)

  def forward(self, tgt, memory, mask, pos, query_pos):
    q = k = tgt + query_pos
    tgt = self.norm1(tgt + self.self_attn(q, k, tgt)[0])
    tgt = self.norm2(tgt + self.multihead_attn(tgt + query_pos, memory + pos, memory,
                                               key_padding_mask=mask)[0])
    return self.norm3(tgt + self.linear2(F.relu(self.linear1(tgt))))


class Encoder(nn.Module):
  def __init__(self, n, d, h, ff):
    super().__init__()
    self.layers = nn.ModuleList(EncLayer(d, h, ff) for _ in range(n))


class Decoder(nn.Module):
  def __init__(self, n, d, h, ff):
    super().__init__()
    self.layers = nn.ModuleList(DecLayer(d, h, ff) for _ in range(n))
    self.norm = nn.LayerNorm(d)


class Transformer(nn.Module):
  def __init__(self, d, h, ne, nd, ff):
    super().__init__()
    self.encoder, self.decoder = Encoder(ne, d, h, ff), Decoder(nd, d, h, ff)

  def forward(self, src, mask, pos, query_embed):
    memory = src
    for layer in self.encoder.layers:
      memory = layer(memory, mask, pos)
    query_pos = query_embed.unsqueeze(1).repeat(1, src.shape[1], 1)
    tgt = torch.zeros_like(query_pos)
    for layer in self.decoder.layers:
      tgt = layer(tgt, memory, mask, pos, query_pos)
    return self.decoder.norm(tgt).unsqueeze(0).transpose(1, 2), memory  # (1, B, Nq, C)


def conv_bn_relu(i, o):
  return nn.Sequential(nn.Conv2d(i, o, 3, 1, 1), nn.BatchNorm2d(o), nn.ReLU())


class Corner(nn.Module):
  def __init__(self, inplanes, channels, feat_sz, stride):
    super().__init__()
    self.feat_sz, self.stride, self.img_sz = feat_sz, stride, feat_sz * stride
    chans = [inplanes] + list(channels)
    for br in ("tl", "br"):
      for i in range(4):
        setattr(self, f"conv{i + 1}_{br}", conv_bn_relu(chans[i], chans[i + 1]))
      setattr(self, f"conv5_{br}", nn.Conv2d(chans[4], 1, 1))
    indice = torch.arange(0, feat_sz).view(-1, 1) * stride
    self.coord_x = indice.repeat((feat_sz, 1)).view((feat_sz * feat_sz,)).float()
    self.coord_y = indice.repeat((1, feat_sz)).view((feat_sz * feat_sz,)).float()

  def tower(self, x, br):
    for i in range(4):
      x = getattr(self, f"conv{i + 1}_{br}")(x)
    return getattr(self, f"conv5_{br}")(x)

  def soft_argmax(self, score_map):
    prob = F.softmax(score_map.view((-1, self.feat_sz * self.feat_sz)), dim=1)
    return torch.sum(self.coord_x * prob, dim=1), torch.sum(self.coord_y * prob, dim=1)

  def forward(self, x):
    x1, y1 = self.soft_argmax(self.tower(x, "tl"))
    x2, y2 = self.soft_argmax(self.tower(x, "br"))
    return torch.stack((x1, y1, x2, y2), dim=1) / self.img_sz


class MLPHead(nn.Module):
  def __init__(self, d):
    super().__init__()
    self.layers = nn.ModuleList([nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, 1)])

  def forward(self, x):
    for i, layer in enumerate(self.layers):
      x = F.relu(layer(x)) if i < 2 else layer(x)
    return x


class TorchStark(nn.Module):
  def __init__(self, blocks=(3, 4, 6), width=64, d=256, heads=8, enc=6, dec=6, ff=2048,
               head_channels=(256, 128, 64, 32), search_size=320, score_head=True):
    super().__init__()
    self.backbone = nn.ModuleList([Backbone(blocks, width)])
    self.transformer = Transformer(d, heads, enc, dec, ff)
    self.box_head = Corner(d, head_channels, search_size // 16, 16)
    self.query_embed = nn.Embedding(1, d)
    self.bottleneck = nn.Conv2d(width * 16, d, 1)
    if score_head:
      self.cls_head = MLPHead(d)
    self.feat_sz = search_size // 16
    self.d = d

  def encode(self, img, mask):
    feat = self.backbone[0].body(img)
    m = F.interpolate(mask[None].float(), size=feat.shape[-2:]).to(torch.bool)[0]
    pos = sine_pos(m, self.d // 2)
    feat = self.bottleneck(feat)
    return feat.flatten(2).permute(2, 0, 1), m.flatten(1), pos.flatten(2).permute(2, 0, 1)

  def forward(self, templates, search):
    """templates: list of (img NCHW, mask); search: (img, mask). Returns boxes, logits."""
    parts = [self.encode(*t) for t in templates] + [self.encode(*search)]
    feat = torch.cat([p[0] for p in parts], 0)
    mask = torch.cat([p[1] for p in parts], 1)
    pos = torch.cat([p[2] for p in parts], 0)
    hs, memory = self.transformer(feat, mask, pos, self.query_embed.weight)
    enc = memory[-self.feat_sz ** 2:].transpose(0, 1)
    dec = hs.squeeze(0).transpose(1, 2)
    att = torch.matmul(enc, dec)
    opt = (enc.unsqueeze(-1) * att.unsqueeze(-2)).permute((0, 3, 2, 1)).contiguous()
    b, nq, c, _ = opt.shape
    boxes = self.box_head(opt.view(-1, c, self.feat_sz, self.feat_sz))
    x1, y1, x2, y2 = boxes.unbind(-1)
    boxes = torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], -1).view(b, nq, 4)
    logits = self.cls_head(hs)[-1] if hasattr(self, "cls_head") else None
    return boxes, logits


def randomize_(model: nn.Module, seed: int = 0) -> nn.Module:
  """Random weights and statistics everywhere (BN variances positive), eval mode."""
  g = torch.Generator().manual_seed(seed)
  with torch.no_grad():
    for name, t in list(model.state_dict(keep_vars=True).items()):
      if t.dtype != torch.float32:
        continue
      if name.endswith("running_var"):
        t.copy_(torch.rand(t.shape, generator=g) + 0.5)
      elif name.endswith((".weight", "running_mean", ".bias")) and t.ndim == 1:
        t.copy_(torch.randn(t.shape, generator=g) * 0.1 + (1.0 if name.endswith(".weight") else 0.0))
      else:
        fan_in = t[0].numel() if t.ndim > 1 else t.numel()
        t.copy_(torch.randn(t.shape, generator=g) / math.sqrt(fan_in))
  return model.eval()
