"""`retention bench`: the benchmark program. It may import both the pipelines and the dashboard; nothing imports it."""
