"""Jobs that drive a loaded :class:`~retrieval_tagger.pipeline.Tagger`: evaluation and reranker training."""
