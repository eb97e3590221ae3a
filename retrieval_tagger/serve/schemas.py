"""The /v1 request and response bodies: the API's contract, published as its OpenAPI
schema. Unknown fields are refused (422 naming the field), as the CLI refuses unknown
options."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_PRODUCTS = 1000  # per request; larger jobs belong to `rtag tag` on a file


class ProductIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field("", max_length=512, description="Your id for the product; echoed in the result.")
    title: str | None = Field(None, max_length=20_000)
    description: str | None = Field(None, max_length=100_000)
    text: str | None = Field(None, max_length=100_000, description="Instead of title and description: the whole text.")
    image_base64: str | None = Field(None, description="A photo: the image file's bytes in base64 (a data: URL is accepted).")


class TagOptionsIn(BaseModel):
    """The tagging options of `rtag tag`; omitted ones take the index's defaults."""

    model_config = ConfigDict(extra="forbid")

    top_n: int | None = Field(None, ge=1, le=1000)
    min_score: float | None = Field(None, ge=0.0, le=1.0)
    precision: float | None = Field(None, gt=0.0, le=1.0)
    drop_review: bool | None = None
    exclusive: bool | None = None
    rerank: bool | None = None
    diversity: float | None = Field(None, ge=0.0, le=1.0)
    vocab: str | None = Field(None, max_length=200, description="Tag against this stored vocabulary (rtag vocab add).")
    mode: Literal["auto", "knn", "zeroshot"] | None = None
    depth: int | None = Field(None, ge=1, le=64)
    explain: bool | None = Field(None, description="Add each tag's why: signal shares, the catalog products that voted (with their titles), matched words, the reranker's change.")

    def given(self) -> dict:
        return self.model_dump(exclude_none=True)


class TagRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    products: list[ProductIn] = Field(..., min_length=1, max_length=MAX_PRODUCTS)
    options: TagOptionsIn = Field(default_factory=TagOptionsIn)


class TagOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    tag: str
    score: float


class ResultOut(BaseModel):
    """One product's answer: its tags, or ``error`` when it could not be tagged."""

    id: str
    tags: list[TagOut] = Field(default_factory=list)
    error: str | None = None
    warning: str | None = None


class TagResponse(BaseModel):
    index: str
    results: list[ResultOut]


class IndexSummary(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    products: int
    tags: int
    encoders: dict
    created: str
    reranker: bool
    vocabularies: list[str]
    loaded_at: float
    reload_error: str | None = None


class ProductOut(BaseModel):
    id: str
    title: str | None = None
    has_image: bool = False


class FieldProblem(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """An error (RFC 9457 problem details), the body of every 4xx and 5xx answer."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] | None = None
