"""Input side of trackjax: dataset readers, the synthetic dataset, samplers and pipelines."""
