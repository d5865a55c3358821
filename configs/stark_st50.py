"""STARK-ST50: ResNet-50, two templates (initial + dynamic), corner head and score head.

Train both stages (500 + 50 epochs, 8 GPUs x 16 in the reference) on the reference's data, from
ImageNet weights (python -m trackjax.convert resnet --checkpoint resnet50-19c8e357.pth
--out weights/resnet50_imagenet):
  python -m trackjax.main --config configs/stark_st50.py --workdir runs/st50 \
      --config.data.roots.lasot=/data/LaSOT --config.data.roots.got10k=/data/GOT-10k \
      --config.data.roots.coco=/data/coco --config.data.roots.trackingnet=/data/TrackingNet \
      --config.init_backbone_from=weights/resnet50_imagenet
GOT-10k only (baseline_got10k_only): configs/stark_st50.py:got10k_only and
--config.data.roots.got10k alone.
Own data: --config.data.mix=custom:1 --config.data.roots.custom=DIR (docs/training.md).
Quickstart on the embedded synthetic dataset (2-core CPU, ~15 min):
  python -m trackjax.main --config configs/stark_st50.py:quickstart --workdir runs/quick
Official weights:
  python -m trackjax.convert stark --config configs/stark_st50.py \
      --checkpoint STARKST_ep0050.pth.tar --out weights/stark_st50

Published results (official code): LaSOT AUC 66.4, GOT-10k AO 68.0, TrackingNet AUC 81.3,
40 fps on a Tesla V100. 28,227,395 parameters.
"""

from trackjax.families.stark import config as stark_config


def get_config(arg=None):
  # config.family = 'stark': the recipe of trackjax/families/stark/config.py
  return stark_config.get_stark_config(depth=50, score_head=True, arg=arg)
