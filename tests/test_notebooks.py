"""The Colab notebooks in ``colab/`` run top to bottom on a CPU, and are committed clean.

Each notebook is executed with nbclient in a fresh kernel of this interpreter, from ``colab/``,
with ``TRACKJAX_NOTEBOOK_SMALL=1`` (its small setting) and ``TRACKJAX_NOTEBOOK_OUT`` in the
test's temporary folder. A cell that raises fails the test with its source and traceback. The
cheap test checks what a committed notebook must look like: no outputs, the Colab badge of its
own file first, a markdown cell before every code cell, and the shared setup and runtime cells.
"""

import json
import os
import pathlib
import re
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
COLAB = REPO / "colab"
NOTEBOOKS = sorted(COLAB.glob("*.ipynb"))
EXPECTED = ("actrack_frozen_backbone.ipynb", "finetrack_mot.ipynb", "mapnet_tracking.ipynb",
            "research_inference.ipynb", "stark_tracking_demo.ipynb", "train_on_tpu.ipynb")
BADGE = ("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
         "(https://colab.research.google.com/github/trackjax/trackjax/blob/main/colab/{name})")
CELL_TIMEOUT_S = 300
# The small runs are compile-bound on a CPU: compile quickly, as the training tests do.
FAST_CPU_COMPILE = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"


def _ids(paths):
  return [p.stem for p in paths]


def _source(cell) -> str:
  source = cell["source"]
  return source if isinstance(source, str) else "".join(source)


def test_every_expected_notebook_exists():
  missing = [name for name in EXPECTED if not (COLAB / name).is_file()]
  assert not missing, f"missing from colab/: {missing}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_is_committed_clean_and_readable(path):
  nb = json.loads(path.read_text())
  cells = nb["cells"]
  assert nb["metadata"]["kernelspec"]["name"] == "python3"
  assert cells and cells[0]["cell_type"] == "markdown", "the first cell must be markdown"
  assert _source(cells[0]).lstrip().startswith("# "), "the first cell opens with a title"
  assert BADGE.format(name=path.name) in _source(cells[0]), "no Colab badge of this notebook"
  code = [i for i, c in enumerate(cells) if c["cell_type"] == "code"]
  assert len(code) >= 2, "the setup and runtime cells at least"
  for i in code:
    cell = cells[i]
    assert cell.get("outputs") == [] and cell.get("execution_count") is None, (
        f"cell {i} was committed with outputs or an execution count")
    assert i > 0 and cells[i - 1]["cell_type"] == "markdown", (
        f"code cell {i} does not follow a markdown cell saying what it does")
  setup, runtime = (_source(cells[i]) for i in code[:2])
  assert "_find_root()" in setup and "TRACKJAX_REPO_URL" in setup and "os.chdir(ROOT)" in setup
  assert "TRACKJAX_NOTEBOOK_SMALL" in runtime and "jax.default_backend()" in runtime


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs_top_to_bottom(path, tmp_path, monkeypatch):
  import nbclient  # pylint: disable=g-import-not-at-top
  import nbformat  # pylint: disable=g-import-not-at-top
  from nbclient.exceptions import CellExecutionError  # pylint: disable=g-import-not-at-top

  nb = nbformat.read(path, as_version=4)
  # First, in the kernel: the interpreter (and virtual environment) of this test.
  check = nbformat.v4.new_code_cell(
      "import sys\n"
      f"assert sys.prefix == {sys.prefix!r} and sys.executable == {sys.executable!r}, "
      "(sys.prefix, sys.executable)")
  nb.cells.insert(0, check)
  monkeypatch.setenv("TRACKJAX_NOTEBOOK_SMALL", "1")
  monkeypatch.setenv("TRACKJAX_NOTEBOOK_OUT", str(tmp_path))
  monkeypatch.setenv("XLA_FLAGS", f"{os.environ.get('XLA_FLAGS', '')} {FAST_CPU_COMPILE}".strip())
  client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                   resources={"metadata": {"path": str(COLAB)}})
  before = sorted(p.name for p in COLAB.iterdir())
  try:
    client.execute()
  except CellExecutionError as err:
    failed = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"
                   and any(o.get("output_type") == "error" for o in c.get("outputs", []))), None)
    where = "the interpreter check" if failed == 0 else f"cell {failed - 1} (0-based, all cells)"
    message = re.sub(r"\x1b\[[0-9;]*m", "", str(err))  # the source, then the traceback
    pytest.fail(f"{path.name}: {where} failed.\n{message}", pytrace=False)
  assert sorted(p.name for p in COLAB.iterdir()) == before, "the notebook wrote into colab/"
