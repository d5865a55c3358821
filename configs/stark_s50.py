"""STARK-S50: ResNet-50, one template, corner head, no score head and no template update.

Train (500 epochs, lr drop at 400):
  python -m trackjax.main --config configs/stark_s50.py --workdir runs/s50
Weights (also the released file whose net_type is 'LittleBoy_clean_corner'):
  python -m trackjax.convert stark --config configs/stark_s50.py \
      --checkpoint STARKS_ep0500.pth.tar --out weights/stark_s50

Published results (official code): LaSOT AUC 65.8, GOT-10k AO 67.2, TrackingNet AUC 80.3.
28,095,554 parameters.
"""

from trackjax import stark_config


def get_config(arg=None):
  return stark_config.get_stark_config(depth=50, score_head=False, arg=arg)
