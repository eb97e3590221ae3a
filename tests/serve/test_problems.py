"""Errors as problem+json, with the status an error class maps to."""

from __future__ import annotations

import json

from retrieval_tagger.errors import CatalogError, IndexNotFoundError, VocabError
from retrieval_tagger.serve import problems


def test_status_of_rtag_errors():
    assert problems.rtag_status(IndexNotFoundError("no index 'x'")) == 404
    assert problems.rtag_status(problems.NotFoundError("no product")) == 404
    assert problems.rtag_status(VocabError("index shop has no vocabulary 'x'; add one")) == 404
    assert problems.rtag_status(VocabError("every prompt template needs a {}")) == 400
    assert problems.rtag_status(CatalogError("bad column")) == 400


def test_problem_body():
    response = problems.problem(401, "send a key")
    assert response.media_type == problems.MEDIA_TYPE and response.headers["www-authenticate"] == "Bearer"
    assert json.loads(response.body) == {"type": "about:blank", "title": "Unauthorized", "status": 401, "detail": "send a key"}
