"""Training: the one loop (``loop``), what a family gives it (``task``) and the parts by topic.

``optimizer`` (parameter groups, freezing, AdamW, StepLR), ``losses`` (GIoU + L1, BCE),
``sharding`` (mesh, shardings, global batches, multi-process start), ``checkpointing`` (Orbax
checkpoints with the input-iterator state, final weights, ``load_trained_variables``),
``metrics_log`` (metrics.jsonl, TensorBoard, progress), ``train_data`` (the datasets of a run,
resolved once for every family).
"""
