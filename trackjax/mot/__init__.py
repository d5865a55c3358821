"""Multi-object tracking: detections in, identities out (the task of ``TASK = 'mot'`` families).

Modules: ``kalman`` (constant-velocity filter), ``association`` (ByteTrack-style association with
an optional appearance term), ``tracker`` (the ``MotTracker`` protocol, ``AppearanceTracker``,
``Embedder``), ``result_files`` (MOTChallenge result files), ``metrics`` (HOTA, CLEAR, Identity
through trackeval), ``benchmark_runner`` (evaluate), ``report``, ``video_demo``,
``speed_benchmark``, ``config`` (``add_mot_jobs``). docs/mot.md describes the task.
"""
