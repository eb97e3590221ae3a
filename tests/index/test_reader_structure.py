"""index/reader.py: the structure of every array is checked at open, whatever the content
checks, so a file that passes its size check (or an index written wrongly) cannot crash
the process or mislead it: each case names the file, what is wrong, and the fix."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from retrieval_tagger.errors import IndexFormatError
from retrieval_tagger.index.reader import open_index


def save_same_size(folder, name: str, array: np.ndarray) -> None:
    """Write ``array`` over ``name`` (same dtype and shape, so the same size)."""
    out = io.BytesIO()
    np.save(out, array)
    assert len(out.getvalue()) == (folder / name).stat().st_size
    (folder / name).write_bytes(out.getvalue())


def changed(folder, name, change):
    array = np.load(folder / name)
    change(array)
    save_same_size(folder, name, array)


@pytest.mark.parametrize("name, change, message", [
    ("tags_indices.npy", lambda a: a.__setitem__(3, 10**9), "tags_indices.npy: it names tags outside the vocabulary's 19"),
    ("tags_indices.npy", lambda a: a.__setitem__(0, -1), "tags_indices.npy: it names tags outside"),
    ("tags_indptr.npy", lambda a: a.__setitem__(5, 10**6), "tags_indptr.npy: it does not run from 0 up to the 120 tag assignments"),
    ("tags_indptr.npy", lambda a: a.__setitem__(0, 1), "tags_indptr.npy: it does not run from 0"),
    ("text_rows.npy", lambda a: a.__setitem__(2, 99), "text_rows.npy: its product rows are not increasing rows of the 30 products"),
    ("image_rows.npy", lambda a: a.__setitem__(1, 0), "image_rows.npy: its product rows are not increasing"),
    ("vocab_text.npy", lambda a: a.__setitem__((0, 0), np.nan), "vocab_text.npy: it holds values that are not finite"),
])
def test_arrays_out_of_their_ranges_are_refused(both_index, tmp_path, name, change, message):
    import shutil

    folder = tmp_path / "index"
    shutil.copytree(both_index, folder)
    changed(folder, name, change)
    with pytest.raises(IndexFormatError, match=f"{folder} is corrupt: {message}.*rebuild it with `rtag index CATALOG --name {folder} --force`"):
        open_index(folder, verify="size")
    with pytest.raises(IndexFormatError, match=f"{name} does not match its sha256"):
        open_index(folder)  # the default: content checked first


def test_ids_must_be_unique_strings_one_per_product(text_index_copy):
    path = text_index_copy / "ids.json"
    ids = json.loads(path.read_text())
    for bad, message in [([ids[1], *ids[1:]], "it repeats product ids"), ([7, *ids[1:]], "it is not a list of product ids")]:
        text = json.dumps(bad)
        path.write_text(text + " " * (path.stat().st_size - len(text)))  # JSON allows the padding
        with pytest.raises(IndexFormatError, match=f"ids.json: {message}"):
            open_index(text_index_copy, verify="size")
    path.write_text("{" * path.stat().st_size)
    with pytest.raises(IndexFormatError, match="ids.json: it is not JSON"):
        open_index(text_index_copy, verify="size")


def test_a_faiss_header_that_disagrees_is_refused_before_faiss_reads_it(text_index_copy):
    path = text_index_copy / "text.faiss"
    data = bytearray(path.read_bytes())
    data[8:16] = (1 << 41).to_bytes(8, "little")  # ntotal: far more vectors than any file holds
    path.write_bytes(bytes(data))
    with pytest.raises(IndexFormatError, match="text.faiss: its FAISS header is not an index's"):
        open_index(text_index_copy, verify="size")
    data[8:16] = (29).to_bytes(8, "little")
    path.write_bytes(bytes(data))
    with pytest.raises(IndexFormatError, match="text.faiss: a flat store of 29 x 64 takes 7469 bytes, not 7725"):
        open_index(text_index_copy, verify="size")
    data[8:16] = (30).to_bytes(8, "little")
    path.write_bytes(b"IxXX" + bytes(data[4:]))  # an index type no faiss knows
    with pytest.raises(IndexFormatError, match="text.faiss: FAISS cannot read it"):
        open_index(text_index_copy, verify="size")


def test_an_array_of_another_dtype_or_shape_is_refused(text_index_copy):
    indices = np.load(text_index_copy / "tags_indices.npy")
    save_same_size(text_index_copy, "tags_indices.npy", indices.astype(np.float64))
    with pytest.raises(IndexFormatError, match=r"tags_indices.npy: it holds a float64 array of shape \(\d+,\)"):
        open_index(text_index_copy, verify="size")
    (text_index_copy / "tags_indices.npy").write_bytes(b"\x93NUMPY" + b"\0" * (indices.nbytes + 122))
    with pytest.raises(IndexFormatError, match="tags_indices.npy: it is not a readable .npy array"):
        open_index(text_index_copy, verify="size")
