"""Turns a frame draw into one template/search training sample, as the reference processing.

The processing of pytracking's transformer trackers (the processing class of their
``lib/train/data/processing.py``), for every family that trains on template/search crops;
``build_processor`` is the sample builder a family's train task hands to
``data_pipelines.train_samples.SampleFn``.

For each crop (templates, then the search frame):
  1. jitter the ground-truth box: ``wh * exp(N(0,1) * scale_jitter)`` per side, and the centre
     moved by ``sqrt(jittered area) * centre_jitter * (U(0,1) - 0.5)`` per axis (template 0/0,
     search 0.5/4.5); a window smaller than one pixel rejects the draw;
  2. decode the frame at full size (``reduced_decode``: at 1/2, 1/4 or 1/8 size when every window
     taken from it spans at least that many frame pixels per output pixel; faster, but the crops
     are then no longer the reference's bytes);
  3. crop with ``trackjax.geometry.crops.sample_target`` (e.g. factor 2 -> 128 template,
     5 -> 320 search), byte-identical to the reference's crop of the frame after its frame-level
     grayscale (p=0.05) and horizontal flip (p=0.5), both shared by the whole sample;
  4. the target is the ground-truth box in normalised crop coordinates (xywh / out_size);
  5. per crop a brightness factor U(0.8, 1.2) with saturation and a second horizontal flip
     (p=0.5) of image, mask and box.
A draw is rejected when a crop's padding mask is all True at full size or at the backbone
stride (``mask[::16, ::16]``, what PyTorch's legacy nearest downsampling samples), or when the
jittered window is absurdly larger than the frame (``crops.WindowTooLarge``). A ground-truth
box whose own window is that large is bad data: the draw is skipped and counted, naming the
sequence and annotation line.

Images stay uint8 RGB: ImageNet normalisation (mean 0.485, 0.456, 0.406; std 0.229, 0.224,
0.225) happens on the device inside the model step, which keeps host work and host-to-device
transfers 4x smaller. The brightness factor goes there too, as the reference applies it after the
crop, in float32: the sample carries ``template_pixel_scale`` (T,) and ``search_pixel_scale`` ()
equal to ``float32(b / 255)``, and the device computes ``clip(x * scale, 0, 1)``
(``trackjax.models.image_normalization.normalize_images``). With ``brightness_jitter = 0``
(validation, as the reference's ``ToTensor``) the scale is ``float32(1 / 255)``: within one ulp
of the reference's ``x / 255``.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from data_pipelines.sources.annotation_files import annotation_file
from data_pipelines.sources.base import DatasetError
from data_pipelines import config as data_config_lib
from data_pipelines.sot_sampling import Draw, FrameRef, SamplerConfig, TrackingSampler
from trackjax.geometry import crops

_REDUCE_STEPS = (8, 4, 2)


@dataclasses.dataclass(frozen=True)
class ProcessingConfig:
  template_size: int = 128
  search_size: int = 320
  template_factor: float = 2.0
  search_factor: float = 5.0
  template_scale_jitter: float = 0.0
  template_center_jitter: float = 0.0
  search_scale_jitter: float = 0.5
  search_center_jitter: float = 4.5
  grayscale_prob: float = 0.05
  joint_flip_prob: float = 0.5
  crop_flip_prob: float = 0.5
  brightness_jitter: float = 0.2
  backbone_stride: int = 16
  reduced_decode: bool = False


class InvalidDraw(Exception):
  """A draw the reference rejects (tiny window, all-padding mask): draw again."""


class BadData(Exception):
  """A frame or box of dataset ``dataset`` is unusable (wraps the ``DatasetError``)."""

  def __init__(self, dataset: int, error: DatasetError):
    super().__init__(str(error))
    self.dataset = dataset
    self.error = error


def jitter_box(rng: np.random.Generator, box: np.ndarray, scale_jitter: float,
               center_jitter: float) -> np.ndarray:
  size = box[2:] * np.exp(rng.standard_normal(2) * scale_jitter)
  max_offset = np.sqrt(np.prod(size)) * center_jitter
  center = box[:2] + 0.5 * box[2:] + max_offset * (rng.random(2) - 0.5)
  return np.concatenate([center - 0.5 * size, size])


def _stride_samples(out_size: int, stride: int) -> np.ndarray:
  """Pixels that nearest downsampling to ``out_size // stride`` reads (floor(i * scale))."""
  feat = max(1, out_size // stride)
  return np.floor(np.arange(feat) * (out_size / feat)).astype(np.int64)


def mask_rejected(mask: np.ndarray, stride: int) -> bool:
  idx = _stride_samples(mask.shape[0], stride)
  return bool(mask.all() or mask[np.ix_(idx, idx)].all())


def _reduce_for(ratio: float, enabled: bool) -> int:
  if enabled:
    for r in _REDUCE_STEPS:
      if ratio >= r:
        return r
  return 1


@dataclasses.dataclass
class _Crop:
  ref: FrameRef
  box: np.ndarray | None  # ground truth (full-res pixels); None for the centre pseudo-box
  jittered: np.ndarray | None
  factor: float
  out_size: int


def _annotation_line(source, ref: FrameRef) -> str:
  """Where a frame's box was read: ``file:line`` (``file, object`` for image datasets), or the
  sequence and its 1-based line when the reader did not record the file."""
  seq = source.sequence(ref.sequence)
  path = annotation_file(seq)
  if path and source.is_video:
    return f'{path}:{ref.frame + 1}'
  if path:
    return f'{path}, object {seq.name!r}'
  where = f'{source.name} sequence {seq.name!r}, annotation line {ref.frame + 1}'
  if len(seq.frame_paths) > ref.frame:
    where += f' (frame {seq.frame_paths[ref.frame]})'
  return where


class TrackingProcessor:
  """Reads, crops and augments the frames of a draw; ``sample(rng)`` retries like the reference
  and counts, per dataset, the draws skipped for bad data (``DatasetError``: unreadable frames,
  absurd boxes) in ``'skipped'``."""

  def __init__(self, sampler: TrackingSampler, config: ProcessingConfig, *,
               max_attempts: int = 100):
    self.sampler = sampler
    self.config = config
    self.max_attempts = max_attempts

  @property
  def sources(self):
    return self.sampler.sources

  @property
  def usability(self):
    """Per source, the sequences drawn and those dropped (``sot_sampling.Usability``)."""
    return self.sampler.usability

  def output_spec(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Shape and dtype of each field of one sample."""
    t = self.sampler.config.num_template
    ts, ss = self.config.template_size, self.config.search_size
    return {
        'template_images': ((t, ts, ts, 3), np.dtype(np.uint8)),
        'template_masks': ((t, ts, ts), np.dtype(bool)),
        'template_anno': ((t, 4), np.dtype(np.float32)),
        'template_pixel_scale': ((t,), np.dtype(np.float32)),
        'search_images': ((ss, ss, 3), np.dtype(np.uint8)),
        'search_masks': ((ss, ss), np.dtype(bool)),
        'search_anno': ((4,), np.dtype(np.float32)),
        'search_pixel_scale': ((), np.dtype(np.float32)),
        'label': ((), np.dtype(np.float32)),
        'skipped': ((len(self.sources),), np.dtype(np.int32)),
    }

  def sample(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One sample; bad-data draws are skipped and counted in ``sample['skipped']``."""
    skipped = np.zeros(len(self.sampler.sources), np.int32)
    last_error = None
    for _ in range(self.max_attempts):
      draw = self.sampler.draw(rng)
      try:
        out = self.process(rng, draw)
      except InvalidDraw:
        continue
      except BadData as e:
        skipped[e.dataset] += 1
        last_error = e.error
        continue
      out['skipped'] = skipped
      return out
    raise DatasetError(f'no valid sample after {self.max_attempts} draws '
                       f'(skipped per dataset: {skipped.tolist()}); last error: {last_error}')

  # -- one draw -----------------------------------------------------------------------------

  def process(self, rng: np.random.Generator, draw: Draw) -> dict[str, np.ndarray]:
    c = self.config
    sources = self.sampler.sources
    joint_gray = rng.random() < c.grayscale_prob
    joint_flip = rng.random() < c.joint_flip_prob

    def make_crops(refs, scale_j, center_j, factor, size):
      out = []
      for ref in refs:
        if ref.center_box:
          out.append(_Crop(ref, None, None, factor, size))
          continue
        box = np.asarray(sources[ref.dataset].sequence(ref.sequence).boxes[ref.frame], float)
        jittered = jitter_box(rng, box, scale_j, center_j)
        out.append(_Crop(ref, box, jittered, factor, size))
      return out

    groups = {
        'template': make_crops(draw.templates, c.template_scale_jitter,
                               c.template_center_jitter, c.template_factor, c.template_size),
        'search': make_crops(draw.searches, c.search_scale_jitter, c.search_center_jitter,
                             c.search_factor, c.search_size),
    }
    # A window under one pixel (or a NaN box) rejects the draw before any decoding.
    sizes = {}
    for crop in groups['template'] + groups['search']:
      if crop.jittered is None:
        continue
      try:
        sizes[id(crop)] = crops.crop_window(crop.jittered, crop.factor)[2]
      except ValueError as e:
        raise InvalidDraw(str(e)) from e

    # Decode each frame once, at the coarsest scale all its windows allow.
    key = lambda ref: (ref.dataset, ref.sequence, ref.frame)
    ratios: dict[tuple, float] = {}
    for crop in groups['template'] + groups['search']:
      r = sizes[id(crop)] / crop.out_size if crop.jittered is not None else 0.0
      ratios[key(crop.ref)] = min(ratios.get(key(crop.ref), np.inf), r)
    frames = {}
    for k, ratio in ratios.items():
      reduce = _reduce_for(ratio, c.reduced_decode)
      try:
        frames[k] = (sources[k[0]].read_frame(k[1], k[2], reduce), reduce)
      except DatasetError as e:
        raise BadData(k[0], e) from e

    result = {}
    for name, group in groups.items():
      images, masks, annos, scales = [], [], [], []
      for crop in group:
        frame, reduce = frames[key(crop.ref)]
        height, width = frame.shape[:2]
        if crop.jittered is None:  # negative: pseudo-box W/8 x H/8 at the image centre
          box = np.array([width / 2 - width / 16, height / 2 - height / 16, width / 8,
                          height / 8])
          jittered = jitter_box(rng, box, c.search_scale_jitter, c.search_center_jitter)
        else:  # boxes are in full-resolution pixels; the frame may be decoded reduced
          box, jittered = crop.box / reduce, crop.jittered / reduce
        if joint_flip:  # the reference flips whole frames: x -> (W - 1) - (x + w)
          box = np.array([width - 1 - box[0] - box[2], box[1], box[2], box[3]])
          jittered = np.array([width - 1 - jittered[0] - jittered[2], *jittered[1:]])
        try:
          image, mask, rf = crops.sample_target(frame, jittered, crop.factor, crop.out_size,
                                                flip=joint_flip, grayscale=joint_gray)
        except crops.WindowTooLarge as e:
          full_height, full_width = height * reduce, width * reduce
          gt_size = None if crop.box is None else crops.crop_window(crop.box, crop.factor)[2]
          if gt_size is None or gt_size <= crops.max_window(full_height, full_width):
            raise InvalidDraw(str(e)) from e  # a sane box, jittered far too large
          raise BadData(crop.ref.dataset, DatasetError(
              f'{_annotation_line(sources[crop.ref.dataset], crop.ref)}: absurd box '
              f'{crop.box.tolist()}: its crop window (factor {crop.factor}) is {gt_size} pixels '
              f'for a {full_width}x{full_height} frame')) from e
        except ValueError as e:
          raise InvalidDraw(str(e)) from e
        anno = crops.image_to_crop_box(box, jittered, rf, crop.out_size, normalize=True)
        lo = max(0.0, 1.0 - c.brightness_jitter)
        brightness = rng.uniform(lo, 1.0 + c.brightness_jitter)
        if rng.random() < c.crop_flip_prob:
          image, mask = image[:, ::-1], mask[:, ::-1]
          anno = np.array([1.0 - anno[0] - anno[2], anno[1], anno[2], anno[3]])
        images.append(image)
        masks.append(mask)
        annos.append(anno)
        scales.append(np.float32(brightness / 255.0))  # the reference's float32 multiplier
      for mask in masks:
        if mask_rejected(mask, c.backbone_stride):
          raise InvalidDraw(f'{name} crop is all padding')
      result[name] = (np.stack(images), np.stack(masks), np.stack(annos).astype(np.float32),
                      np.array(scales, np.float32))

    t_images, t_masks, t_annos, t_scales = result['template']
    s_images, s_masks, s_annos, s_scales = result['search']
    out = {
        'template_images': np.ascontiguousarray(t_images),
        'template_masks': np.ascontiguousarray(t_masks),
        'template_anno': t_annos,
        'search_images': np.ascontiguousarray(s_images[0]),
        'search_masks': np.ascontiguousarray(s_masks[0]),
        'search_anno': s_annos[0],
        'label': np.float32(draw.label),
        'template_pixel_scale': t_scales,
        'search_pixel_scale': s_scales[0],
    }
    return out



def sampler_config(data_config) -> SamplerConfig:
  return SamplerConfig(**data_config_lib.plain(data_config.sampler))


def processing_config(data_config) -> ProcessingConfig:
  return ProcessingConfig(**data_config_lib.plain(data_config.processing))


def build_processor(sources, ratios, data_config) -> TrackingProcessor:
  """The sampler and processing of ``data_config.sampler`` / ``.processing`` over ``sources``.

  A ``data_pipelines.train_samples.ProcessorFactory``: what a family's train task passes to
  ``build_train_iterator`` for template/search samples.
  """
  sampler = TrackingSampler(sources, ratios, sampler_config(data_config))
  return TrackingProcessor(sampler, processing_config(data_config),
                           max_attempts=int(data_config.max_attempts))
