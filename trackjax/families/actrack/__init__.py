"""ACTrack (arXiv 2403.07914): a frozen one-stream ViT, an additive siamese conv net with
zero-initialised projections, and temporal sequence decoding of the box.

``model`` (the Flax module), ``sequence`` (coordinate tokens, the decoder, greedy decoding),
``losses`` (cross-entropy over bins plus GIoU of the expected box), ``training`` (the train task:
stage kinds ``additive`` / ``full`` / ``backbone``), ``tracker`` (``ActrackTracker``: explicit
state with the template memory and the trajectory, the batched hooks), ``vit_checkpoint``
(MAE / timm / OSTrack ViT-B/16 weights for the frozen backbone), ``config`` (every reconstructed
choice, for ``configs/actrack_vitb256.py``). The names below are the family contract of
``trackjax.families``.

No ``checkpoint_rules``: the paper's tracker weights are not public. Its backbone is imported from
public ViT-B/16 checkpoints with ``config.init_backbone_from`` (``TrainTask.with_backbone``).
"""

from trackjax.families.actrack.model import build_actrack as build_model
from trackjax.families.actrack.model import dummy_inputs, init_variables
from trackjax.families.actrack.tracker import build_tracker
from trackjax.families.actrack.training import train_task

TASK = "sot"

__all__ = ["TASK", "build_model", "build_tracker", "dummy_inputs", "init_variables", "train_task"]
