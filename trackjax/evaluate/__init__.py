"""Evaluation of single-object trackers: metrics, result files, reports and plots.

``ope_metrics`` (OPE and GOT-10k protocols), ``result_files`` (official on-disk layouts and server
zips) and ``report`` (comparison tables and plots, ``python -m trackjax.evaluate.report``) need only
numpy and matplotlib; none of them imports JAX.
"""
