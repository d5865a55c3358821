"""FineTrack (arXiv 2302.14589, CVPR 2023): multi-object tracking by detection with a fine-grained
appearance embedding: ResNet-50 stages, a Flow Alignment FPN (SFNet's semantic-flow alignment
between levels), ROIAlign per detection, a multi-head part mask generator (global + K part
embeddings), identity CE with label smoothing + batch-hard triplet + mask diversity, Shuffle-Group
Sampling; association: ByteTrack with a fused IoU + appearance cost. The paper's method section
and weights are not public: every reconstructed choice is a config field (docs/finetrack.md).
Detections come from files (MOTChallenge det format); a JAX detector is out of scope.

Train on MOT17 train from ImageNet weights (python -m trackjax.convert resnet
--checkpoint resnet50-19c8e357.pth --out weights/resnet50_imagenet):
  python -m trackjax.main --config configs/finetrack_r50.py --workdir runs/finetrack \\
      --config.data.mot_roots.mot17=/data/MOT17 \\
      --config.init_backbone_from=weights/resnet50_imagenet
Evaluate (MOTChallenge result files in runs/eval/results/, TrackEval HOTA / IDF1 / MOTA, the
IoU-only ByteTrack baseline beside it), e.g. with YOLOX detections as <seq>.txt files:
  python -m trackjax.main --config configs/finetrack_r50.py --config.mode=evaluate \\
      --workdir runs/eval --config.evaluate.dataset=mot17 \\
      --config.evaluate.dataset_root=/data/MOT17 \\
      --config.evaluate.split=train --config.evaluate.detections=/data/yolox_mot17_train \\
      --config.evaluate.weights=runs/finetrack
  (mot20: --config.evaluate.dataset=mot20, fuse_score off as ByteTrack; dancetrack likewise)
Demo (ids drawn on a sequence or video) and speed: --config.mode=track / --config.mode=benchmark.
Quickstart: trains on the synthetic MOT set, then tracks the held-out synthetic sequences and
reports HOTA, IDF1, MOTA, IDSW for FineTrack and the IoU-only baseline side by side:
  python -m trackjax.main --config configs/finetrack_r50.py:quickstart --workdir runs/quick_ft

Published results (the paper's test sets): MOT17 HOTA 64.3 / IDF1 79.5 / MOTA 80.0; MOT20 63.6 /
79.0 / 77.9; DanceTrack 52.7 / 59.8 / 89.9.
This reconstruction (ResNet-50 to layer4, FAFPN 256, 4 parts, 1024 identities): 26.47M parameters
(25.81M without the identity classifiers); benchmarks/finetrack_embedding_cpu.py: 2.9-4.4 s per
1080p frame on a shared 2-core CPU (608 x 1088 input) for 16-128 detections.
Quickstart (0.25M parameters, 1000 steps, 11 min on a 2-core CPU shared with other jobs, about 8
min quiet): held-out synthetic HOTA 78.4 / IDF1 93.1 / MOTA 91.4 / IDSW 4 against the IoU-only
baseline's 76.2 / 89.9 / 91.1 / 8 (tests/test_finetrack_quickstart.py).
"""

from trackjax.families.finetrack import config as finetrack_config


def get_config(arg=None):
  # config.family = 'finetrack': the recipe of trackjax/families/finetrack/config.py
  return finetrack_config.get_finetrack_config(arg)
