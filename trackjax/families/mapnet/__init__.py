"""MAPNet-R (arXiv 2403.16395), a single-object tracking family reconstructed on TransT.

``model`` (the Flax module and its inference form), ``losses`` (precision-guided classification,
confidence-guided regression), ``postprocess`` (TransT's Hanning-window selection and box
mapping), ``tracker`` (``MapnetTracker``: explicit state, the batched hooks), ``training`` (the
train task), ``config`` (every reconstructed choice and TransT's recipe, for
``configs/mapnet_r50.py``). The names below are the family contract of ``trackjax.families``.

No ``checkpoint_rules``: the paper's weights are not public, so there is no PyTorch checkpoint to
import; models are trained here (from an ImageNet ResNet-50, ``config.init_backbone_from``).
"""

from trackjax.families.mapnet.model import build_mapnet as build_model
from trackjax.families.mapnet.model import dummy_inputs, init_variables
from trackjax.families.mapnet.tracker import build_tracker
from trackjax.families.mapnet.training import train_task

TASK = "sot"

__all__ = ["TASK", "build_model", "build_tracker", "dummy_inputs", "init_variables", "train_task"]
