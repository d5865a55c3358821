"""Tracking datasets stored as TFDS datasets (ArrayRecord or TFRecord shards), read as a source.

``data_pipelines.tfds_build`` writes them; ``TfdsSource`` reads them wherever a folder is read
(``config.data.mix=tfds@DIR:1``, or ``config.data.roots.<kind>=tfds:DIR`` for every mix name of
that kind; see ``docs/tfds.md``).

What a built dataset directory holds:
* the TFDS files: ``dataset_info.json``, ``features.json`` and the shards
  ``<name>-<split>.<array_record|tfrecord>-NNNNN-of-MMMMM``; ``tfds.builder_from_directory(DIR)``
  opens it (``as_data_source`` for ArrayRecord, ``as_dataset`` for TFRecord);
* ``trackjax_index.npz``, the annotation index (``INDEX_FILE``): every sequence's name, boxes
  (float64, exactly as the reader parsed them), visibility, cover, attributes, class and image
  size, and for every frame the example holding its image. It is written last, so a directory
  without it is an unfinished build.

One example per frame image (``FEATURES``): the encoded file bytes exactly as on disk (rendered
sources: lossless PNG), the image size, why the frame could not be read at build time
(``frame_problem``, '' when fine) and the objects annotated in it (sequence, frame index, box,
visible, cover). Per frame, not per sequence chunk, because a training sample reads three or four
frames spread over a sequence of up to thousands: a random read then costs one frame, not a
chunk of them, and an image shared by several objects (COCO) is stored once.

Frames are read by random access, the same way for both training backends: ArrayRecord through
TFDS's data source (``builder.as_data_source``, the ``grain.RandomAccessDataSource`` protocol),
TFRecord through the record offsets the index keeps (TFDS reads TFRecord only sequentially). The
bytes are then decoded as a folder's files are (``frame_files``: truncation check, OpenCV
decode, reduced sizes), so a TFDS copy gives exactly the samples of the folders it was built from.
"""

from __future__ import annotations

import json
import struct
import threading
from typing import Any, Mapping

import cv2
import numpy as np

from data_pipelines.sources.base import DatasetError, Sequence
from data_pipelines.sources.frame_files import FrameError, truncation

INDEX_FILE = 'trackjax_index.npz'
_DECODE_FLAGS = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                 8: cv2.IMREAD_REDUCED_COLOR_8}  # as frame_files.read_image decodes files
INDEX_FORMAT = 1
LAYOUT = ('a directory written by python -m data_pipelines.tfds_build (dataset_info.json, '
          f'{INDEX_FILE} and the shards), or a folder holding one such directory per split')


def features():
  """The TFDS features of one example (one frame image)."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  f = tfds.features
  return f.FeaturesDict({
      'image': f.Image(shape=(None, None, 3)),
      'image_size': f.Tensor(shape=(2,), dtype=np.int32),  # (height, width); 0 when unknown
      'frame_problem': f.Text(),  # '' or '<reason>: <detail>' (frame_files.FRAME_ERROR_REASONS)
      'objects': f.Sequence({
          'sequence': f.Text(),
          'frame_index': f.Scalar(np.int32),
          'box': f.Tensor(shape=(4,), dtype=np.float64, encoding='bytes'),  # exact float64
          'visible': f.Scalar(np.bool_),
          'cover': f.Scalar(np.int32),  # -1 when the dataset has no cover labels
      }),
  })


# ------------------------------------------------------------------------------------------------
# Paths (local or gs://, through etils.epath).
# ------------------------------------------------------------------------------------------------


def epath(path: str):
  from etils import epath as epath_lib  # pylint: disable=g-import-not-at-top
  return epath_lib.Path(path)


def locate(root: str, split: str | None) -> str:
  """The built dataset directory for ``split`` under ``root``: ``root`` itself or ``root/split``.

  Raises:
    DatasetError: no finished build there, naming the directories looked at.
  """
  candidates = [root] + ([f'{root.rstrip("/")}/{split}'] if split else [])
  for candidate in candidates:
    if (epath(candidate) / INDEX_FILE).exists():
      return candidate
  unfinished = [c for c in candidates if (epath(c) / 'trackjax_build.json').exists()]
  if unfinished:
    raise DatasetError(f'{unfinished[0]}: unfinished TFDS build (no {INDEX_FILE}); rerun the '
                       'same python -m data_pipelines.tfds_build command to complete it')
  raise DatasetError(f'{" or ".join(candidates)}: no TFDS tracking dataset ({LAYOUT})')


# ------------------------------------------------------------------------------------------------
# The annotation index.
# ------------------------------------------------------------------------------------------------


def _json_value(value):
  """A per-sequence attribute as JSON (arrays that are not one value a frame become lists)."""
  if isinstance(value, (np.generic, np.ndarray)):
    return value.tolist()
  if isinstance(value, (tuple, list)):
    return [_json_value(v) for v in value]
  return value


def index_arrays(sequences: list[Sequence], examples: np.ndarray,
                 meta: Mapping[str, Any]) -> dict[str, np.ndarray]:
  """The ``INDEX_FILE`` arrays for ``sequences``; ``examples`` is the example of every frame
  (concatenated over the sequences), ``meta`` what the builder records about the build."""
  lengths = np.array([len(s) for s in sequences], np.int64)
  offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
  frames = int(offsets[-1])
  arrays = {
      'offsets': offsets,
      'boxes': (np.concatenate([np.asarray(s.boxes, np.float64).reshape(-1, 4) for s in sequences])
                if frames else np.zeros((0, 4))),
      'visible': np.concatenate([np.asarray(s.visible, bool) for s in sequences]),
      'cover': np.concatenate([np.full(len(s), -1, np.int16) if s.cover is None
                               else np.asarray(s.cover, np.int16) for s in sequences]),
      'examples': np.asarray(examples, np.int64),
  }
  per_frame: dict[str, list[str]] = {}  # attribute -> dtype, for attributes with one value a frame
  seq_attributes = []
  for s in sequences:
    scalars = {}
    for key, value in s.attributes.items():
      if isinstance(value, np.ndarray) and value.shape[:1] == (len(s),) and value.ndim == 1:
        per_frame.setdefault(key, []).append(value.dtype.str)
      else:
        scalars[key] = _json_value(value)
    seq_attributes.append(scalars)
  for key, dtypes in per_frame.items():
    dtype = np.result_type(*[np.dtype(d) for d in dtypes])
    values = np.zeros(frames, dtype)
    present = np.zeros(len(sequences), bool)
    for i, s in enumerate(sequences):
      if isinstance(s.attributes.get(key), np.ndarray) and key not in seq_attributes[i]:
        values[offsets[i]:offsets[i + 1]] = s.attributes[key]
        present[i] = True
    arrays[f'frame_attribute/{key}'] = values
    arrays[f'frame_attribute_present/{key}'] = present
  shared = {}
  if seq_attributes:
    for key, value in seq_attributes[0].items():
      if all(a.get(key, object()) == value for a in seq_attributes) and all(
          key in a for a in seq_attributes):
        shared[key] = value
  doc = dict(meta, format=INDEX_FORMAT, names=[s.name for s in sequences],
             class_names=[s.class_name for s in sequences],
             image_sizes=[list(s.image_size) if s.image_size else None for s in sequences],
             has_cover=[s.cover is not None for s in sequences], shared_attributes=shared,
             attributes=[{k: v for k, v in a.items() if k not in shared} for a in seq_attributes])
  arrays['meta'] = np.array(json.dumps(doc))
  return arrays


def write_index(directory: str, arrays: Mapping[str, np.ndarray]) -> None:
  """Writes ``INDEX_FILE`` (to a temporary name first, so a reader never sees half of it)."""
  import io  # pylint: disable=g-import-not-at-top
  buffer = io.BytesIO()
  np.savez_compressed(buffer, **arrays)
  tmp = epath(directory) / f'{INDEX_FILE}.tmp'
  tmp.write_bytes(buffer.getvalue())
  tmp.replace(epath(directory) / INDEX_FILE)


def read_index(directory: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
  """(meta, arrays) of ``INDEX_FILE`` in ``directory``."""
  import io  # pylint: disable=g-import-not-at-top
  path = epath(directory) / INDEX_FILE
  try:
    with np.load(io.BytesIO(path.read_bytes()), allow_pickle=False) as data:
      arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays.pop('meta')))
  except (OSError, ValueError, KeyError) as e:
    raise DatasetError(f'{path}: unreadable annotation index ({e})') from e
  if meta.get('format') != INDEX_FORMAT:
    raise DatasetError(f'{path}: index format {meta.get("format")}, this reader reads '
                       f'{INDEX_FORMAT}; rebuild with python -m data_pipelines.tfds_build')
  return meta, arrays


# ------------------------------------------------------------------------------------------------
# Random access to the examples.
# ------------------------------------------------------------------------------------------------


class CorruptShard(FrameError):
  """A shard that is missing, of the wrong size or unreadable; the message names it. Raised
  when the source is opened (missing, wrong size) or by a frame read (a record fails its
  checksum), which training skips and counts as an ``unreadable`` frame."""

  def __init__(self, path: str, detail: str):
    super().__init__(path, 'unreadable', detail)

  def __reduce__(self):
    return CorruptShard, (self.path, self.detail)


class _Shards:
  """Shard files of one split with their example ranges; checks sizes against the build."""

  def __init__(self, directory: str, meta: Mapping[str, Any]):
    self.directory = directory
    self.files = [f'{directory.rstrip("/")}/{name}' for name in meta['shard_files']]
    self.starts = np.concatenate([[0], np.cumsum(meta['shard_lengths'])]).astype(np.int64)
    for path, size in zip(self.files, meta['shard_bytes']):
      p = epath(path)
      if not p.exists():
        raise CorruptShard(path, f'missing shard of the TFDS dataset {directory}')
      actual = p.stat().length
      if actual != size:
        raise CorruptShard(path, f'corrupt shard: {actual} bytes, the build wrote {size}')

  def locate(self, example: int) -> tuple[int, int]:
    """(shard number, position in the shard) of ``example``."""
    shard = int(np.searchsorted(self.starts, example, side='right')) - 1
    return shard, example - int(self.starts[shard])


def frame_fields(record: bytes) -> tuple[bytes, str]:
  """(image bytes, frame_problem) of a serialized example, parsing nothing else (a frame read
  needs no more; ``tfds.features`` decoding of the whole example costs 5x as much)."""
  from tensorflow_datasets.proto import tf_example_pb2  # pylint: disable=g-import-not-at-top
  feature = tf_example_pb2.Example.FromString(record).features.feature
  problem = feature['frame_problem'].bytes_list.value
  return feature['image'].bytes_list.value[0], problem[0].decode() if problem else ''


class _ArrayRecordExamples:
  """Serialized examples through TFDS's ArrayRecord data source (random access, thread-safe)."""

  def __init__(self, directory: str, split: str, shards: _Shards):
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    self._shards = shards
    builder = tfds.builder_from_directory(directory)
    self._source = builder.as_data_source(
        split=split, deserialize_method=tfds.decode.DeserializeMethod.RAW_BYTES)

  def __getitem__(self, example: int) -> bytes:
    try:
      return self._source[example]
    except Exception as e:  # pylint: disable=broad-except  (riegeli / proto errors)
      shard, position = self._shards.locate(example)
      raise CorruptShard(self._shards.files[shard], f'corrupt shard, record {position} '
                         f'unreadable ({type(e).__name__}: {e})') from e


class _TfRecordExamples:
  """Serialized examples of TFRecord shards, read at the offsets the index keeps (one open file
  per shard and thread)."""

  def __init__(self, shards: _Shards, offsets: np.ndarray):
    self._shards, self._offsets = shards, offsets
    self._local = threading.local()

  def _file(self, shard: int):
    files = self._local.__dict__.setdefault('files', {})
    if shard not in files:
      files[shard] = epath(self._shards.files[shard]).open('rb')
    return files[shard]

  def __getitem__(self, example: int) -> bytes:
    shard, position = self._shards.locate(example)
    f = self._file(shard)
    try:
      f.seek(int(self._offsets[example]))
      header = f.read(12)  # uint64 length, uint32 masked CRC of the length
      (length,) = struct.unpack('<Q', header[:8])
      record = f.read(length)
      if len(record) != length:
        raise EOFError(f'record of {length} bytes ends after {len(record)}')
      frame_fields(record)  # a scrambled record fails here, inside the shard's error
      return record
    except Exception as e:  # pylint: disable=broad-except
      raise CorruptShard(self._shards.files[shard], f'corrupt shard, record {position} '
                         f'unreadable ({type(e).__name__}: {e})') from e


class TfdsSource:
  """``SequenceSource`` over a dataset written by ``data_pipelines.tfds_build``.

  ``root`` is the built directory, or a folder holding one per split (``root/<split>``);
  ``split`` None takes the only split there. ``sequence_names`` / ``split_file`` choose
  sequences as the GOT-10k reader does (names, or integers indexing the sequences in build
  order, which for a whole GOT-10k split is ``list.txt`` order).
  """

  def __init__(self, root: str, split: str | None = None, *, name: str | None = None,
               sequence_names: list[str] | None = None, split_file: str | None = None,
               cache_dir: str | None = None):
    del cache_dir  # the index is one file already
    self.root = root
    self.directory = locate(root, split)
    meta, arrays = read_index(self.directory)
    if split is not None and meta['split'] != split:
      raise DatasetError(f'{self.directory}: holds split {meta["split"]!r}, asked for {split!r}')
    self.meta, self._arrays = meta, arrays
    self.split = meta['split']
    self.is_video = bool(meta['is_video'])
    self.name = name or f'tfds_{meta["source_name"]}'
    self._selected = self._select(sequence_names, split_file)
    self._shards = _Shards(self.directory, meta)
    self._examples = None  # opened at the first frame read (in each worker process)
    self._visible_objects = None

  def _select(self, sequence_names, split_file) -> np.ndarray:
    names = self.meta['names']
    if split_file is not None:
      from data_pipelines.sources import annotation_files  # pylint: disable=g-import-not-at-top
      entries = annotation_files.read_name_list(split_file)
      if all(e.isdigit() for e in entries):
        built = self.meta.get('options') or {}
        if built.get('split_file') or built.get('sequence_names'):
          raise DatasetError(f'{split_file}: indexes a whole split, but {self.directory} was '
                             'built from a subset of one; build the whole split')
        bad = [e for e in entries if int(e) >= len(names)]
        if bad:
          raise DatasetError(f'{split_file}: index {bad[0]} outside the {len(names)} sequences '
                             f'of {self.directory}')
        return np.array([int(e) for e in entries], np.int64)
      sequence_names = entries
    if sequence_names is None:
      return np.arange(len(names), dtype=np.int64)
    position = {n: i for i, n in enumerate(names)}
    missing = [n for n in sequence_names if n not in position]
    if missing:
      raise DatasetError(f'{self.directory}: sequence {missing[0]!r} is not in this build '
                         f'({len(missing)} of {len(sequence_names)} missing)')
    return np.array([position[n] for n in sequence_names], np.int64)

  def __len__(self) -> int:
    return int(self._selected.shape[0])

  def names(self) -> list[str]:
    return [self.meta['names'][int(i)] for i in self._selected]

  def _frames(self, index: int) -> slice:
    k = int(self._selected[index])
    offsets = self._arrays['offsets']
    return slice(int(offsets[k]), int(offsets[k + 1]))

  def sequence(self, index: int) -> Sequence:
    k = int(self._selected[index])
    frames, a, meta = self._frames(index), self._arrays, self.meta
    attributes = dict(meta['shared_attributes'], **meta['attributes'][k])
    for key in [k_[len('frame_attribute/'):] for k_ in a if k_.startswith('frame_attribute/')]:
      if a[f'frame_attribute_present/{key}'][k]:
        attributes[key] = a[f'frame_attribute/{key}'][frames].copy()
    size = meta['image_sizes'][k]
    return Sequence(name=meta['names'][k], frame_paths=(), boxes=a['boxes'][frames].copy(),
                    visible=a['visible'][frames].copy(),
                    cover=a['cover'][frames].astype(np.int64) if meta['has_cover'][k] else None,
                    attributes=attributes, class_name=meta['class_names'][k],
                    image_size=tuple(size) if size else None)

  def visible_objects(self) -> np.ndarray:
    """(N,) bool: ``sequence(i).visible[0]``, without building N sequences (image datasets)."""
    if self._visible_objects is None:
      firsts = self._arrays['offsets'][self._selected]
      self._visible_objects = self._arrays['visible'][firsts]
    return self._visible_objects

  def example_of(self, index: int, frame: int) -> int:
    frames = self._frames(index)
    if not 0 <= frame < frames.stop - frames.start:
      raise IndexError(f'{self.name}/{self.sequence(index).name}: frame {frame} out of range '
                       f'[0, {frames.stop - frames.start})')
    return int(self._arrays['examples'][frames.start + frame])

  def read_record(self, example: int) -> bytes:
    """The serialized example ``example`` (``features().deserialize_example_np`` decodes it)."""
    if self._examples is None:
      if self.meta['file_format'] == 'array_record':
        self._examples = _ArrayRecordExamples(self.directory, self.meta['tfds_split'],
                                              self._shards)
      else:
        self._examples = _TfRecordExamples(self._shards, self._arrays['record_offsets'])
    return self._examples[example]

  def _frame_fields(self, example: int) -> tuple[bytes, str]:
    record = self.read_record(example)
    try:
      return frame_fields(record)
    except Exception as e:  # pylint: disable=broad-except  (a record that is no tf.Example)
      shard, position = self._shards.locate(example)
      raise CorruptShard(self._shards.files[shard],
                         f'corrupt shard, record {position} is no example ({e})') from e

  def frame_bytes(self, index: int, frame: int) -> bytes:
    """The stored bytes of a frame (the file's bytes as the builder read them)."""
    return self._frame_fields(self.example_of(index, frame))[0]

  def read_frame(self, index: int, frame: int, reduce: int = 1) -> np.ndarray:
    example = self.example_of(index, frame)
    data, problem = self._frame_fields(example)
    if problem:
      shard, position = self._shards.locate(example)
      reason, _, detail = problem.partition(': ')
      raise FrameError(f'{self._shards.files[shard]}[{position}]', reason,
                       f'{detail} (at build time)')
    try:
      return decode_frame(data, '', reduce)
    except FrameError as e:
      shard, position = self._shards.locate(example)
      raise FrameError(f'{self._shards.files[shard]}[{position}]', e.reason, e.detail) from None

  def __getstate__(self):
    state = dict(self.__dict__)
    state['_examples'] = None
    return state


def decode_frame(data: bytes, where: str, reduce: int = 1) -> np.ndarray:
  """Stored frame bytes -> uint8 RGB at 1/``reduce`` size, exactly as ``frame_files.read_image``
  decodes a file (truncation check first, one OpenCV decode).

  Raises:
    FrameError: truncated or undecodable bytes, naming ``where`` (shard[record]).
  """
  if reduce not in _DECODE_FLAGS:
    raise ValueError(f'reduce must be one of {sorted(_DECODE_FLAGS)}, got {reduce}')
  problem = truncation(data)
  if problem is not None:
    raise FrameError(where, 'truncated', problem)
  image = cv2.imdecode(np.frombuffer(data, np.uint8), _DECODE_FLAGS[reduce]) if data else None
  if image is None:
    raise FrameError(where, 'undecodable', 'cannot decode image' if data else 'empty image')
  return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def encode_png(image: np.ndarray) -> bytes:
  """Lossless bytes of a rendered RGB frame."""
  ok, data = cv2.imencode('.png', cv2.cvtColor(np.asarray(image, np.uint8), cv2.COLOR_RGB2BGR))
  if not ok:
    raise DatasetError('cannot encode a rendered frame as PNG')
  return data.tobytes()
