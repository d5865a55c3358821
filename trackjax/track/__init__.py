"""Online trackers with explicit state: ``stark_tracker`` (one stream), ``batched_tracker`` (K
streams in one jitted step), ``video_demo`` and ``speed_benchmark``."""
