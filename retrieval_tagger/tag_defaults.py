"""Defaults of the tagging options (pipeline.TagOptions, MMR), in a module that imports
nothing, so that front-ends show the library's own values without loading numpy or a model."""

TOP_N = 10  # tags per product at most
# Fused scores are vote shares; below 5% a tag is noise (every tag gets some zero-shot mass).
MIN_SCORE = 0.05
# MMR's lambda. Measured by leave-one-out on the fashion catalog's held-out queries
# (benchmarks/README.md): 0.9 makes the first five tags 19% less alike (intra-list
# similarity 0.287 -> 0.231) for 0.3 points of P@5 and no change in facet accuracy; 0.8
# costs 0.7 points. The first tag is always the likeliest, so P@1 never changes.
DIVERSITY = 0.9
