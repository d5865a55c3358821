"""Shared test fixtures."""

import os
import pathlib
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


@pytest.fixture(scope="session")
def repo_root() -> pathlib.Path:
  return REPO


@pytest.fixture(scope="session")
def stark_reference_dir() -> pathlib.Path:
  """Folder with the official STARK key lists (``stark_*_keys.txt``).

  The project's ``../shared/reference`` (present in CI), or ``$TRACKJAX_STARK_REFERENCE``.
  """
  path = pathlib.Path(os.environ.get("TRACKJAX_STARK_REFERENCE", REPO.parent / "shared" / "reference"))
  if not (path / "stark_st50_keys.txt").is_file():
    pytest.fail(f"official STARK key lists not found in {path}; set TRACKJAX_STARK_REFERENCE")
  return path


def read_key_list(path):
  """Official key list lines 'name<TAB>(shape)[<TAB>dtype]' -> {name: (shape, dtype)}."""
  keys = {}
  for line in open(path):
    if line.startswith("#") or not line.strip():
      continue
    name, shape, *rest = line.rstrip("\n").split("\t")
    dtype = rest[0] if rest else ("int64" if name.endswith("num_batches_tracked") else "float32")
    dims = tuple(int(d) for d in shape.strip("()").split(",") if d.strip())
    keys[name] = (dims, dtype)
  return keys
