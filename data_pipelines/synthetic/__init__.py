"""Embedded synthetic tracking dataset: rendered sequences that need no download.

``SyntheticSource`` implements ``data_pipelines.sources.base.SequenceSource``;
``write_got10k_layout`` stores a source on disk in the GOT-10k layout; ``python -m
data_pipelines.synthetic --help`` does the same from the command line.
"""

from data_pipelines.synthetic.got10k_writer import write_got10k_layout
from data_pipelines.synthetic.source import SyntheticSource

__all__ = ['SyntheticSource', 'write_got10k_layout']
