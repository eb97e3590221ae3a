"""Vocabulary files: plain lists, CSV with facets and synonyms, taxonomies as paths or id
tables, and malformed files refused with the line at fault."""

from __future__ import annotations

import pytest
from toy_catalog import TAXONOMY, write_file

from retrieval_tagger.errors import VocabError
from retrieval_tagger.vocab.files import read_vocab_file


def test_plain_list_with_facets_free_tags_comments_and_blank_lines(tmp_path):
    d = read_vocab_file(write_file(tmp_path / "v.txt", "# colours\ncolour:red\n\ncolour:blue\nsummer sale\n  \n"))
    assert d.kind == "tags" and d.tags == ["colour:red", "colour:blue", "summer sale"]
    assert [e.name for e in d.entries] == ["red", "blue", "summer sale"]
    assert d.notes and "2 empty line(s): 3, 6" in d.notes[0]


def test_csv_with_facet_description_and_synonyms(tmp_path):
    d = read_vocab_file(write_file(tmp_path / "v.csv", "tag,facet,description,synonyms\nTshirts,article,a short-sleeved top,tee|t-shirt\nRed,colour,,\n"))
    assert d.tags == ["article:Tshirts", "colour:Red"]
    assert d.entries[0].description == "a short-sleeved top" and d.entries[0].synonyms == ["tee", "t-shirt"]


def test_taxonomy_paths_with_ids(tmp_path):
    d = read_vocab_file(write_file(tmp_path / "tax.txt", TAXONOMY))
    assert d.kind == "taxonomy" and len(d.entries) == 8
    shirt = d.entries[2]
    assert shirt.tag == "Clothing > Tops > shirt" and shirt.name == "shirt" and shirt.node_id == "3"
    assert d.entries[shirt.parent].tag == "Clothing > Tops"


def test_taxonomy_csv_in_any_order(tmp_path):
    d = read_vocab_file(write_file(tmp_path / "tax.csv", "id,name,parent\n3,shirt,2\n1,Clothing,\n2,Tops,1\n"))
    assert d.tags == ["Clothing", "Clothing > Tops", "Clothing > Tops > shirt"]
    assert [e.parent for e in d.entries] == [-1, 0, 1]


@pytest.mark.parametrize("name, content, message", [
    ("dup.txt", "red\nblue\nred\n", "line 3: duplicate tag 'red' \\(first on line 1\\)"),
    ("orphan.txt", "A\nA > B\nC > D\n", "line 3: the parent 'C' of 'C > D' is not listed"),
    ("dup_path.txt", "A\nA > B\nA  >  B\n", "line 3: duplicate path 'A > B'"),
    ("segment.txt", "A\nA >  > B\n", "line 2: empty segment"),
    ("cycle.csv", "id,name,parent\n1,A,\n2,B,3\n3,C,2\n", "cycle: 2 -> 3 -> 2"),
    ("orphan.csv", "id,name,parent\n1,A,\n2,B,9\n", "line 3: parent id '9'"),
    ("nocol.csv", "name,description\nred,a colour\n", "no tag column"),
    ("empty.txt", "\n\n# nothing\n", "holds no tags"),
    ("latin1.txt", "red\nblue\ngr\xfcn\n".encode("latin-1"), "line 3: not valid UTF-8"),
])
def test_malformed_files_name_the_line(tmp_path, name, content, message):
    with pytest.raises(VocabError, match=message):
        read_vocab_file(write_file(tmp_path / name, content))


def test_unknown_format_and_missing_file(tmp_path):
    with pytest.raises(VocabError, match="unknown vocabulary format"):
        read_vocab_file(write_file(tmp_path / "v.txt", "red\n"), fmt="yaml")
    with pytest.raises(VocabError, match="not found"):
        read_vocab_file(tmp_path / "nope.txt")
