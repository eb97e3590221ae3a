"""``rtag serve``: tagging as an HTTP service (FastAPI on uvicorn, optional extra ``serve``).

Modules, in the order a request meets them: ``app`` (routes, /docs offline, the page),
``limits`` (request size, API key, photos checked before decoding), ``schemas`` (the /v1
contract), ``batching`` (concurrent requests gathered into one encoder
batch), ``indexes`` (one Tagger per index, swapped whole when its folder changes),
``catalog_view`` (titles and photos of an index's products, by id), ``problems``
(errors as problem+json) and ``metrics`` (Prometheus).
"""
