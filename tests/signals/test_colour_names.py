"""The colour-names signal: available where a catalog has a colour facet and photos,
each colour tag's share of the photo's pixels, batch-independent, and used by tagging."""

from __future__ import annotations

import numpy as np
from PIL import Image
from toy_catalog import COLOURS, write_square

from retrieval_tagger.encoders.colour import colour_histogram
from retrieval_tagger.queries import Queries
from retrieval_tagger.signals import registry
from retrieval_tagger.signals.base import IndexView
from retrieval_tagger.tags import TagSet

SIGNAL = "colour_names"


def view(*tags: str, colour_store: bool = True) -> IndexView:
    return IndexView(TagSet(list(tags), [1] * len(tags)), None, {"colour": None} if colour_store else {}, {})


def histogram(rgb) -> np.ndarray:
    img = Image.new("RGB", (40, 40), (255, 255, 255))
    img.paste(rgb, (8, 8, 32, 32))
    return colour_histogram(img)


def queries(*rgbs) -> Queries:
    n = len(rgbs)
    return Queries(n, np.zeros(0, np.int64), [], None, np.arange(n), np.zeros((n, 4), np.float32), np.stack([histogram(c) for c in rgbs]))


def test_available_with_a_colour_facet_and_a_colour_store(both_index, text_index):
    from retrieval_tagger.index.reader import open_index

    signal = registry.get(SIGNAL)
    assert signal.available(view("colour:Red", "colour:Black", "article:Shirts"))
    assert not signal.available(view("colour:Red", "colour:Black", colour_store=False))
    assert not signal.available(view("article:Shirts", "article:Jeans"))
    assert SIGNAL in registry.signals_of(open_index(both_index)) and SIGNAL not in registry.signals_of(open_index(text_index))


def test_each_colour_tag_scores_its_share_of_the_photo():
    index = view("colour:Navy Blue", "colour:Black", "colour:Red", "article:Shirts")
    signal = registry.get(SIGNAL)
    batch = queries((10, 20, 120), (12, 12, 12), (220, 20, 30))
    scored = signal.score(index, batch, {}, signal.prepare(index), keep=False)
    assert scored.at.tolist() == [0, 1, 2] and scored.scores.shape == (3, 4)
    assert scored.scores[:, :3].argmax(axis=1).tolist() == [0, 1, 2]
    assert not scored.scores[:, 3].any() and np.all(scored.scores[:, :3].sum(axis=1) <= 1 + 1e-6)
    alone = signal.score(index, queries((12, 12, 12)), {}, signal.prepare(index), keep=False)
    np.testing.assert_array_equal(alone.scores[0], scored.scores[1])  # independent of batch-mates


def test_products_without_a_photo_are_not_scored():
    index = view("colour:Red", "colour:Black")
    signal = registry.get(SIGNAL)
    batch = Queries(2, np.arange(2), ["a", "b"], None, np.zeros(0, np.int64))
    assert len(signal.score(index, batch, {}, signal.prepare(index), keep=False).at) == 0


def test_tagging_by_colour_names_alone_reads_the_photo(both_tagger, tmp_path):
    # (the toy white square is all background but its grey marker, which no colour of the catalog names)
    shown = [c for c in COLOURS if c != "white"]
    photos = [{"id": name, "image": str(write_square(tmp_path / f"{name}.png", COLOURS[name]))} for name in shown]
    results = both_tagger.tag(photos, weights={SIGNAL: 1.0}, rerank=False)
    assert [next(t["tag"] for t in r.tags if t["tag"].startswith("colour:")) for r in results] == [f"colour:{c}" for c in shown]
