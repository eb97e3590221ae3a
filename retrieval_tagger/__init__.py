"""retrieval_tagger: tag e-commerce products by nearest-neighbour voting.

Public API::

    from retrieval_tagger import build_index, Tagger
    build_index("catalog.csv", "indexes/shop", CatalogSpec(facet_cols=["gender", "articleType"]))
    tagger = Tagger.load("indexes/shop")
    results = tagger.tag([{"id": "1", "text": "Nike Men Black Running Shoes"}])

Names are imported lazily so that ``import retrieval_tagger`` (and ``rtag --help``)
does not pay for torch.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "CatalogSpec": "retrieval_tagger.catalog",
    "Product": "retrieval_tagger.catalog",
    "read_catalog": "retrieval_tagger.catalog",
    "RtagError": "retrieval_tagger.errors",
    "build_index": "retrieval_tagger.build",
    "BuildOptions": "retrieval_tagger.build",
    "Tagger": "retrieval_tagger.pipeline",
    "TagResult": "retrieval_tagger.pipeline",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'retrieval_tagger' has no attribute {name!r}")
