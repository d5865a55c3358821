"""STARK (Yan et al., ICCV 2021): STARK-S and STARK-ST, a single-object tracking family.

``model`` (the Flax module and its inference form), ``tracker`` (``StarkTracker``: explicit state,
template updates, the batched hooks), ``training`` (the train task: losses per stage, frozen
heads, crops), ``torch_checkpoint`` (official PyTorch weights), ``config`` (every hyper-parameter
of the reference recipes, for ``configs/stark_{s50,st50,st101}.py``). The names below are the
family contract of ``trackjax.families`` (the modules are not named after them, so that a
function never hides its module).
"""

from trackjax.families.stark.model import build_stark as build_model
from trackjax.families.stark.model import dummy_inputs, init_variables
from trackjax.families.stark.torch_checkpoint import (CHECKPOINT_HELP, check_checkpoint,
                                                      checkpoint_rules)
from trackjax.families.stark.tracker import build_tracker
from trackjax.families.stark.training import train_task

TASK = "sot"

__all__ = ["CHECKPOINT_HELP", "TASK", "build_model", "build_tracker", "check_checkpoint",
           "checkpoint_rules", "dummy_inputs", "init_variables", "train_task"]
