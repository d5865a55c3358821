"""A source backed by an in-memory list of annotated sequences, with an on-disk index cache.

Every file-based reader parses its annotation files once into ``Sequence`` objects; large
datasets (GOT-10k, LaSOT, TrackingNet, COCO) keep that parse in a pickle under ``cache_dir``,
keyed by the reader, its arguments, and the path, mtime and size of the dataset's key files, so a
second start-up on 10k+ sequences reads one file.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from typing import Callable, Iterable

import numpy as np

from data_pipelines.sources.base import DatasetError, Sequence
from data_pipelines.sources.frame_files import read_image

_CACHE_VERSION = 3  # 2: sequences keep their annotation file; COCO keeps per-object sizes;
# 3: custom folders keep their image size


def default_cache_dir() -> str:
  """``$TRACKJAX_CACHE_DIR`` or ``~/.cache/trackjax/annotations``."""
  return os.environ.get('TRACKJAX_CACHE_DIR',
                        os.path.join(os.path.expanduser('~'), '.cache', 'trackjax', 'annotations'))


def _file_key(path: str) -> tuple:
  try:
    st = os.stat(path)
  except OSError:
    return (os.path.abspath(path), None, None)
  return (os.path.abspath(path), st.st_mtime_ns, st.st_size)


def cached_sequences(kind: str, params: tuple, key_files: Iterable[str],
                     build: Callable[[], list[Sequence]],
                     cache_dir: str | None) -> list[Sequence]:
  """Returns ``build()``, read from / written to ``cache_dir`` when one is given."""
  if cache_dir is None:
    return build()
  key = repr((_CACHE_VERSION, kind, params, [_file_key(f) for f in key_files]))
  digest = hashlib.sha1(key.encode()).hexdigest()[:20]
  path = os.path.join(os.path.expanduser(cache_dir), f'{kind}-{digest}.pkl')
  if os.path.exists(path):
    try:
      with open(path, 'rb') as f:
        stored_key, sequences = pickle.load(f)
      if stored_key == key:
        return sequences
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, AttributeError):
      pass  # a stale or truncated cache is rebuilt below
  sequences = build()
  os.makedirs(os.path.dirname(path), exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix='.tmp')
  with os.fdopen(fd, 'wb') as f:
    pickle.dump((key, sequences), f, protocol=pickle.HIGHEST_PROTOCOL)
  os.replace(tmp, path)  # atomic: concurrent readers see the old file or the new one
  return sequences


class NoSequencesFound(DatasetError):
  """A reader found no sequence: names the folder searched and what a sequence must hold."""

  def __init__(self, name: str, root: str | None = None, layout: str | None = None):
    where = f'{root}: no {name} sequences found' if root else f'{name}: no sequences found'
    super().__init__(where + (f' ({layout})' if layout else ''))
    self.source_name, self.root, self.layout = name, root, layout

  def __reduce__(self):
    return NoSequencesFound, (self.source_name, self.root, self.layout)


class IndexedSource:
  """``SequenceSource`` over a list of ``Sequence`` whose frames are image files.

  ``root`` (the folder searched) and ``layout`` (what a sequence folder holds) go into the error
  raised when ``sequences`` is empty.
  """

  def __init__(self, name: str, sequences: list[Sequence], is_video: bool = True, *,
               root: str | None = None, layout: str | None = None):
    if not sequences:
      raise NoSequencesFound(name, root, layout)
    self.name = name
    self.is_video = is_video
    self._sequences = sequences

  def __len__(self) -> int:
    return len(self._sequences)

  def sequence(self, index: int) -> Sequence:
    return self._sequences[index]

  def read_frame(self, index: int, frame: int, reduce: int = 1) -> np.ndarray:
    seq = self._sequences[index]
    if not 0 <= frame < len(seq.frame_paths):
      raise IndexError(f'{self.name}/{seq.name}: frame {frame} out of range '
                       f'[0, {len(seq.frame_paths)})')
    return read_image(seq.frame_paths[frame], reduce)

  def names(self) -> list[str]:
    return [s.name for s in self._sequences]
