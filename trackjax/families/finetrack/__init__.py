"""FineTrack (arXiv 2302.14589, CVPR 2023), trackjax's first multi-object tracking family.

Tracking-by-detection: detections come from files (MOTChallenge format; a JAX detector is out
of scope), FineTrack adds a fine-grained appearance embedding to ByteTrack's association.
``model`` (ResNet stages -> Flow Alignment FPN -> ROIAlign -> global and part embeddings),
``losses`` (label-smoothed identity CE, batch-hard triplet, mask diversity), ``sampling``
(Shuffle-Group Sampling over whole frames), ``training`` (the train task), ``embedder`` (all
detections of a frame in one jitted call), ``tracker`` (``trackjax.mot.tracker.AppearanceTracker``
with that embedder), ``config`` (every reconstructed choice, for ``configs/finetrack_r50.py``).
The names below are the family contract of ``trackjax.families``; ``TASK = 'mot'`` sends
evaluate / track / benchmark to ``trackjax.mot``.

No ``checkpoint_rules``: the paper's weights are not public; models are trained here (from an
ImageNet ResNet-50 through ``config.init_backbone_from``).
"""

from trackjax.families.finetrack.embedder import FinetrackEmbedder
from trackjax.families.finetrack.model import build_finetrack as build_model
from trackjax.families.finetrack.model import dummy_inputs, init_variables
from trackjax.families.finetrack.tracker import build_tracker
from trackjax.families.finetrack.training import train_task

TASK = "mot"

__all__ = ["TASK", "FinetrackEmbedder", "build_model", "build_tracker", "dummy_inputs",
           "init_variables", "train_task"]
