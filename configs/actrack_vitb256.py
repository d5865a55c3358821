"""ACTrack (arXiv 2403.07914): a frozen one-stream ViT-B/16 (template 128, search 256), an
additive siamese conv net whose zero-initialised projections add to the ViT's tokens at blocks
3, 6 and 9, and the box decoded as 4 coordinate tokens (400 bins over 2 search sides) conditioned
on the previous 7 boxes. The paper's method section and weights are not public: the network is
reconstructed on OSTrack, ControlNet and ARTrack (docs/actrack.md has every choice).

Train the additive net and the decoder (OSTrack's recipe; the ViT frozen) from MAE or OSTrack
weights (read safely from the .pth, position embeddings interpolated to the 8x8 / 16x16 grids):
  python -m trackjax.main --config configs/actrack_vitb256.py --workdir runs/actrack \\
      --config.data.roots.lasot=/data/LaSOT --config.data.roots.got10k=/data/GOT-10k \\
      --config.data.roots.coco=/data/coco --config.data.roots.trackingnet=/data/TrackingNet \\
      --config.init_backbone_from=mae_pretrain_vit_base.pth
Quickstart on the embedded synthetic dataset (stage 'backbone' trains a small one-stream ViT
tracker from scratch, stage 'additive' freezes it and trains the additive net and decoder):
  python -m trackjax.main --config configs/actrack_vitb256.py:quickstart --workdir runs/quick_actrack
Evaluate / demo / time a trained run:
  python -m trackjax.main --config configs/actrack_vitb256.py --config.mode=evaluate \\
      --config.evaluate.weights=runs/actrack   (mode=track, mode=benchmark likewise)
The training saving (frozen ViT vs full fine-tuning, ViT-B/16 at batch 8):
  python benchmarks/actrack_saving.py --batch 8

Measured (2-core CPU, docs/actrack.md): the frozen step against full fine-tuning at batch 8:
1.66x less peak memory (compiled estimate 3.10 vs 5.14 GiB), 1.62x fewer FLOPs, 1.72x faster
(137 vs 237 s per step, median of 3, shared CPU). The quickstart: 11 min 5 s end to end on a
quiet 2-core CPU, held-out synthetic AUC 33.1% / precision@20 50.9% / AO 35.5% (random weights:
AUC 1.7%); its weights are tests/data/quickstart_actrack.

Parameters: ViT-B/16 backbone 85,892,352 (frozen); additive net 1,529,664 and decoder 2,583,952
(4,113,616 trained, 4.8% of the frozen backbone). Quickstart: backbone 223,680, additive 33,392,
decoder 149,568, corner head 125,218 (stage backbone only). Published results: none available
here (the abstract names VOT2020, LaSOT, TrackingNet and GOT-10k but no scores); measured figures
of this reconstruction: docs/actrack.md.
"""

from trackjax.families.actrack import config as actrack_config


def get_config(arg=None):
  # config.family = 'actrack': the recipe of trackjax/families/actrack/config.py
  return actrack_config.get_actrack_config(arg)
