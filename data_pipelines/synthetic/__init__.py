"""Embedded synthetic tracking dataset: rendered sequences that need no download.

Each sequence shows one textured target (procedural noise, stripes, spots, checks or rings on a
superellipse silhouette, 2% to 30% of the short image side) moving smoothly over a cluttered,
slowly panning background, with scale and aspect change, look-alike distractors, occluders that
cover it partly or fully, excursions out of the frame, motion blur proportional to speed and
illumination change. Boxes are the target's full extent, also when it is hidden.

Modules: ``textures`` (procedural textures), ``scene`` (per-sequence plan: paths, visibility, cover),
``render`` (sprites and the frame compositor), ``source`` (``SyntheticSource``), ``got10k_writer``
(``write_got10k_layout``), ``preview`` (PNG contact sheet), ``benchmark`` (render timings).

Command line (sizes are WIDTHxHEIGHT; in Python ``image_size`` is (height, width)):

  python -m data_pipelines.synthetic --out DIR --sequences N --frames M --size 640x480 \
      [--seed S] [--split train|val|test] [--quality 90] [--preview PNG]
"""

from data_pipelines.synthetic.got10k_writer import write_got10k_layout
from data_pipelines.synthetic.source import SyntheticSource

__all__ = ['SyntheticSource', 'write_got10k_layout']
