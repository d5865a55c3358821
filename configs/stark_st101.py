"""STARK-ST101: STARK-ST with a ResNet-101 backbone (layer3 has 23 blocks).

Train on the reference's data from ImageNet weights (python -m trackjax.convert resnet
--checkpoint resnet101-5d3b4d8f.pth --out weights/resnet101_imagenet):
  python -m trackjax.main --config configs/stark_st101.py --workdir runs/st101 \
      --config.data.roots.lasot=/data/LaSOT --config.data.roots.got10k=/data/GOT-10k \
      --config.data.roots.coco=/data/coco --config.data.roots.trackingnet=/data/TrackingNet \
      --config.init_backbone_from=weights/resnet101_imagenet
GOT-10k only: configs/stark_st101.py:got10k_only with --config.data.roots.got10k.
Weights:
  python -m trackjax.convert stark --config configs/stark_st101.py \
      --checkpoint STARKST_ep0050.pth.tar --out weights/stark_st101

Published results (official code): LaSOT AUC 67.1, GOT-10k AO 68.8, TrackingNet AUC 82.0,
30 fps on a Tesla V100. 47,167,299 parameters.
"""

from trackjax.families.stark import config as stark_config


def get_config(arg=None):
  # config.family = 'stark': the recipe of trackjax/families/stark/config.py
  return stark_config.get_stark_config(depth=101, score_head=True, arg=arg)
