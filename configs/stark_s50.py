"""STARK-S50: ResNet-50, one template, corner head, no score head and no template update.

Train (500 epochs, lr drop at 400) on the reference's data, from ImageNet weights
(python -m trackjax.convert resnet --checkpoint resnet50-19c8e357.pth
--out weights/resnet50_imagenet):
  python -m trackjax.main --config configs/stark_s50.py --workdir runs/s50 \
      --config.data.roots.lasot=/data/LaSOT --config.data.roots.got10k=/data/GOT-10k \
      --config.data.roots.coco=/data/coco --config.data.roots.trackingnet=/data/TrackingNet \
      --config.init_backbone_from=weights/resnet50_imagenet
GOT-10k only (the reference's baseline_got10k_only): configs/stark_s50.py:got10k_only and
--config.data.roots.got10k alone. Own data: --config.data.mix=custom:1
--config.data.roots.custom=DIR (docs/training.md).
Weights (also the released file whose net_type is 'LittleBoy_clean_corner'):
  python -m trackjax.convert stark --config configs/stark_s50.py \
      --checkpoint STARKS_ep0500.pth.tar --out weights/stark_s50

Published results (official code): LaSOT AUC 65.8, GOT-10k AO 67.2, TrackingNet AUC 80.3.
28,095,554 parameters.
"""

from trackjax.families.stark import config as stark_config


def get_config(arg=None):
  # config.family = 'stark': the recipe of trackjax/families/stark/config.py
  return stark_config.get_stark_config(depth=50, score_head=False, arg=arg)
