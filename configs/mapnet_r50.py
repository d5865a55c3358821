"""MAPNet-R (arXiv 2403.16395): ResNet-50 to a dilated layer3 (stride 8), category-aware and
spatial-aware matchers, dual alignment, precision-guided classification and confidence-guided
regression. The paper's method section and weights are not public: the network is reconstructed
on TransT (docs/mapnet.md has every choice) and trained with TransT's recipe.

Train (TransT's recipe: 1000 epochs of 1000 x 38 pairs, lr drop at 500) from ImageNet weights
(python -m trackjax.convert resnet --checkpoint resnet50-19c8e357.pth --out weights/resnet50_imagenet):
  python -m trackjax.main --config configs/mapnet_r50.py --workdir runs/mapnet \\
      --config.data.roots.lasot=/data/LaSOT --config.data.roots.got10k=/data/GOT-10k \\
      --config.data.roots.coco=/data/coco --config.data.roots.trackingnet=/data/TrackingNet \\
      --config.init_backbone_from=weights/resnet50_imagenet
Quickstart on the embedded synthetic dataset (2-core CPU):
  python -m trackjax.main --config configs/mapnet_r50.py:quickstart --workdir runs/quick_mapnet
Evaluate / demo / time a trained run:
  python -m trackjax.main --config configs/mapnet_r50.py --config.mode=evaluate \\
      --config.evaluate.weights=runs/mapnet   (mode=track, mode=benchmark likewise)

Published results: none available here (the abstract names LaSOT,
TrackingNet, GOT-10k, TNL2k and UAV123 but no scores or speeds were available). This
reconstruction: 39.7M parameters, 79.5 GFLOPs per frame. Quickstart (1200 steps; 13 min 13 s end to
end on a quiet 2-core CPU, 19-24 min on two slower ones, docs/mapnet.md): held-out synthetic AUC 38.2 /
precision@20 63.5 / AO 41.4 against 2.9 / 2.6 / 0.7 for random weights (docs/mapnet.md).
"""

from trackjax.families.mapnet import config as mapnet_config


def get_config(arg=None):
  # config.family = 'mapnet': the recipe of trackjax/families/mapnet/config.py
  return mapnet_config.get_mapnet_config(arg)
