"""Single-object tracking (SOT): the tracker protocol and the jobs every SOT family runs.

``tracker`` (the ``SotTracker`` protocol with explicit state, ``as_rgb_frame``, ``initial_box``),
``streams`` (``BatchedTracker``: K streams of any tracker in one jitted step),
``tracker_variables`` (weights, a training workdir or random variables), ``benchmark_datasets``
(benchmark readers and result conventions), ``benchmark_runner`` (``--config.mode=evaluate``),
``result_files`` (official layouts, server zips), ``ope_metrics`` (OPE and GOT-10k protocols),
``report`` (tables and plots, ``python -m trackjax.sot.report``), ``video_demo``
(``--config.mode=track``) and ``speed_benchmark`` (``--config.mode=benchmark``). The jobs take the
family from ``config.family`` (``trackjax.families.get_family``); ``result_files``,
``ope_metrics`` and ``report`` need only numpy and matplotlib.
"""
