"""The ``rtag`` command line end to end on the tiny catalog (hash:64 + rtag-tiny:random)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time

import pytest
from conftest import COLUMNS, IMAGE_SPEC, TEXT_SPEC, catalog_rows, write_catalog
from typer.testing import CliRunner

from retrieval_tagger.cli.main import app, main
from retrieval_tagger.errors import IndexExistsError, RtagError

runner = CliRunner()
FAST = ["--text-model", TEXT_SPEC, "--image-model", IMAGE_SPEC]


def rtag(*args):
    return runner.invoke(app, [str(a) for a in args])


def ok(*args):
    result = rtag(*args)
    assert result.exit_code == 0, f"rtag {' '.join(map(str, args))} failed:\n{result.output}\n{result.exception!r}"
    return result


def strict_json(text):
    """json.loads that refuses NaN and Infinity, which other JSON readers reject."""
    def refuse(name):
        raise ValueError(f"{name} is not JSON")
    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def cli_index(tmp_path_factory, catalog_csv):
    folder = tmp_path_factory.mktemp("cli") / "shop"
    result = ok("index", catalog_csv, "--name", folder, "--tags-col", "tags", "--facet-cols", "colour,article", *FAST)
    assert f"index {folder}: 30 products, 19 tags; text 30 vectors (flat), image 30 vectors (flat)" in result.stdout
    assert "catalog: 30 rows read, 30 kept, 0 skipped" in result.stderr
    return folder


@pytest.fixture(scope="module")
def queries(tmp_path_factory, catalog_dir):
    """Ten catalog rows plus an empty row and a row whose image is missing."""
    rows = [{**row, "image": str(catalog_dir / row["image"])} for row in catalog_rows()[:10]]
    rows.append({"id": "empty", "title": "", "description": "", "image": ""})
    rows.append({"id": "no-image", "title": "green wool hat", "description": "", "image": "images/gone.png"})
    path = tmp_path_factory.mktemp("queries") / "queries.csv"
    return write_catalog(path, rows, ["id", "title", "description", "image"])


def test_tag_file_to_jsonl_has_every_row(cli_index, queries):
    result = ok("tag", queries, "--index", cli_index, "--top-n", "4")

    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in lines] == [f"p{i:02d}" for i in range(10)] + ["empty", "no-image"]
    for row in lines[:10]:
        assert "error" not in row
        assert 1 <= len(row["tags"]) <= 4
        assert set(row["tags"][0]) == {"tag", "score"}
    assert {"colour:red", "article:shirt"} <= {t["tag"] for t in lines[0]["tags"]}
    assert lines[10] == {"id": "empty", "tags": [], "error": "no text and no readable image"}
    assert "article:hat" in {t["tag"] for t in lines[11]["tags"]}


def test_tag_file_to_csv(cli_index, queries, tmp_path):
    out = tmp_path / "tags.csv"
    result = ok("tag", queries, "--index", cli_index, "--output", out, "--format", "csv", "--top-n", "3")

    assert f"wrote 12 products to {out} (1 could not be tagged)" in result.stderr
    with out.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["id", "tags", "scores", "error", "warning"]
    assert len(rows) == 12
    assert len(rows[0]["tags"].split("|")) == len(rows[0]["scores"].split("|")) == 3
    assert rows[10]["error"] == "no text and no readable image" and rows[10]["tags"] == ""
    assert not list(tmp_path.glob("*.tmp"))


def test_tag_one_product_from_text(cli_index):
    result = ok("tag", "--index", cli_index, "--text", "blue denim jeans", "--top-n", "5")
    (line,) = result.stdout.splitlines()
    row = json.loads(line)
    assert row["id"] == "query"
    assert row["tags"][0]["tag"] in {"article:jeans", "denim"}
    assert {"article:jeans", "denim", "colour:blue"} <= {t["tag"] for t in row["tags"]}


def test_tag_one_product_from_an_image(cli_index, catalog_dir):
    result = ok("tag", "--index", cli_index, "--image", catalog_dir / "images" / "p07.png", "-k", "1", "--weights", "image=1")
    row = json.loads(result.stdout)
    # its own image is its nearest neighbour: the product's tags come back
    assert {t["tag"] for t in row["tags"]} == {"denim", "summer", "colour:blue", "article:jeans"}


def test_tag_one_product_from_text_and_image(cli_index, catalog_dir):
    result = ok("tag", "--index", cli_index, "--text", "white wool hat", "--image", catalog_dir / "images" / "p28.png")
    row = json.loads(result.stdout)
    assert "warning" not in row
    assert {"colour:white", "article:hat", "wool"} <= {t["tag"] for t in row["tags"]}


def test_tag_needs_exactly_one_kind_of_input(cli_index, queries):
    for args in ([], [queries, "--text", "red shirt"]):
        result = rtag("tag", "--index", cli_index, *args)
        assert isinstance(result.exception, RtagError)
        assert "give either an INPUT file or --text/--image" in str(result.exception)


def test_tag_options_reach_the_tagger(cli_index):
    loose = json.loads(ok("tag", "--index", cli_index, "--text", "red shirt", "--top-n", "20",
                          "--all-values", "--temperature", "1").stdout)
    colours = [t for t in loose["tags"] if t["tag"].startswith("colour:")]
    assert len(colours) > 1
    strict = json.loads(ok("tag", "--index", cli_index, "--text", "red shirt", "--top-n", "20",
                           "--temperature", "1", "--min-score", "0.5").stdout)
    assert strict["tags"] and all(t["score"] >= 0.5 for t in strict["tags"])


def test_eval_json(cli_index, catalog_csv):
    result = ok("eval", catalog_csv, "--index", cli_index, "--json", "--ks", "1,3", "-k", "5")
    metrics = strict_json(result.stdout)
    assert metrics["evaluated"] == 30
    assert set(metrics) >= {"P@1", "R@1", "F1@1", "nDCG@1", "P@3", "R@3", "F1@3", "nDCG@3", "facet_accuracy", "facets"}
    assert sorted(metrics["facets"]) == ["article", "colour"]
    assert metrics["facets"]["article"]["count"] == 30
    assert 0 < metrics["facet_accuracy"] <= 1


def test_eval_includes_self_only_when_asked(cli_index, catalog_csv):
    held_out = json.loads(ok("eval", catalog_csv, "--index", cli_index, "--json", "-k", "1").stdout)
    with_self = json.loads(ok("eval", catalog_csv, "--index", cli_index, "--json", "-k", "1", "--include-self").stdout)
    assert with_self["facet_accuracy"] == 1.0
    assert held_out["facet_accuracy"] < 1.0


def test_eval_report_as_text(cli_index, catalog_csv):
    result = ok("eval", catalog_csv, "--index", cli_index)
    assert "products evaluated: 30" in result.stdout
    assert "P@1=" in result.stdout and "facet accuracy:" in result.stdout


@pytest.mark.parametrize("ks", ["0,1", "a,b", ""])
def test_eval_refuses_bad_cutoffs(cli_index, catalog_csv, ks):
    result = rtag("eval", catalog_csv, "--index", cli_index, "--ks", ks)
    assert isinstance(result.exception, RtagError)
    assert "--ks" in str(result.exception)


def test_info(cli_index):
    text = ok("info", cli_index).stdout
    assert f"index {cli_index} (format 1" in text
    assert "counts: products 30, with_text 30, with_image 30, tags 19" in text
    assert "text encoder: hash:64 (64-d" in text
    assert "image encoder: rtag-tiny:random (32-d" in text
    assert 'text store: flat (faiss "Flat"), 30 vectors\n' in text
    assert "top tags:" in text

    verified = ok("info", cli_index, "--verify").stdout
    assert "verified sha256 of 11 files: ok" in verified
    assert json.loads(ok("info", cli_index, "--json").stdout)["counts"]["products"] == 30


def test_index_refuses_to_overwrite_without_force(cli_index, catalog_csv):
    result = rtag("index", catalog_csv, "--name", cli_index, *FAST)
    assert isinstance(result.exception, IndexExistsError)


def test_index_by_bare_name_and_without_tags_warns(catalog_csv, index_home):
    result = ok("index", catalog_csv, "--name", "plain", "--text-model", TEXT_SPEC, "--image-model", "none")
    assert "no --tags-col or --facet-cols given" in result.stderr
    assert (index_home / "plain" / "manifest.json").is_file()
    assert "counts: products 30" in ok("info", "plain").stdout
    row = json.loads(ok("tag", "--index", "plain", "--text", "red shirt").stdout)
    assert row == {"id": "query", "tags": []}


def test_index_reports_skipped_rows_with_examples(tmp_path):
    rows = catalog_rows()[:3] + [catalog_rows()[0], {"id": "blank", "title": ""}]
    path = write_catalog(tmp_path / "c.csv", rows, ["id", "title", "colour"])
    result = ok("index", path, "--name", tmp_path / "idx", "--facet-cols", "colour", "--text-model", TEXT_SPEC, "--image-model", "none")
    assert "catalog: 5 rows read, 3 kept, 2 skipped (1 duplicate id (first kept); 1 no text and no image)" in result.stderr
    assert "duplicate_ids: c.csv row 5: p00" in result.stderr


@pytest.mark.parametrize(
    "suffix, tags",
    [
        (".csv", lambda row: row["tags"]),  # "cotton|winter"
        (".tsv", lambda row: json.dumps(row["tags"].split("|"))),  # a JSON array in a cell
        (".jsonl", lambda row: row["tags"].split("|")),  # a native JSON list
    ],
    ids=["csv-pipes", "tsv-json-array", "jsonl-list"],
)
def test_index_and_tag_every_format(tmp_path, suffix, tags):
    rows = [{**row, "tags": tags(row)} for row in catalog_rows()]
    path = write_catalog(tmp_path / f"catalog{suffix}", rows, ["id", "title", "tags", "colour"])
    ok("index", path, "--name", tmp_path / "idx", "--tags-col", "tags", "--facet-cols", "colour",
       "--text-model", TEXT_SPEC, "--image-model", "none")
    assert "tags 13" in ok("info", tmp_path / "idx").stdout  # 6 materials, 2 seasons, 5 colours
    lines = ok("tag", path, "--index", tmp_path / "idx", "-k", "1").stdout.splitlines()
    assert len(lines) == 30
    first = json.loads(lines[0])
    assert first["id"] == "p00"
    assert {t["tag"] for t in first["tags"]} == {"cotton", "winter", "colour:red"}


def test_tag_and_eval_a_catalog_with_only_a_title_column(tmp_path):
    """Default text columns are used where present, at query time as at index time."""
    rows = catalog_rows()
    path = write_catalog(tmp_path / "catalog.csv", rows, ["id", "title", "colour", "article"])
    ok("index", path, "--name", tmp_path / "idx", "--facet-cols", "colour,article", "--text-model", TEXT_SPEC, "--image-model", "none")
    tagged = ok("tag", path, "--index", tmp_path / "idx")
    assert len(tagged.stdout.splitlines()) == 30
    assert json.loads(ok("eval", path, "--index", tmp_path / "idx", "--json").stdout)["evaluated"] == 30


def test_eval_json_without_facets_is_valid_json(tmp_path):
    rows = catalog_rows()
    path = write_catalog(tmp_path / "catalog.csv", rows, ["id", "title", "description", "tags"])
    ok("index", path, "--name", tmp_path / "idx", "--tags-col", "tags", "--text-model", TEXT_SPEC, "--image-model", "none")
    metrics = strict_json(ok("eval", path, "--index", tmp_path / "idx", "--json").stdout)
    assert metrics["evaluated"] == 30
    assert metrics["facets"] == {}


def test_version():
    from retrieval_tagger import __version__

    assert ok("--version").stdout.strip() == f"rtag {__version__}"


# -- the console entry point: one clean line, exit code 2 ---------------------------------


def run_main(monkeypatch, capsys, *args):
    monkeypatch.setattr(sys, "argv", ["rtag", *map(str, args)])
    with pytest.raises(SystemExit) as info:
        main()
    return info.value.code, capsys.readouterr()


def test_main_turns_rtag_errors_into_one_line(monkeypatch, capsys, tmp_path):
    path = write_catalog(tmp_path / "c.csv", catalog_rows()[:2], COLUMNS)
    code, out = run_main(monkeypatch, capsys, "index", path, "--name", tmp_path / "idx", "--facet-cols", "gender", *FAST)
    assert code == 2
    assert out.err.splitlines() == [
        "rtag: error: c.csv has no facet column 'gender'; its columns are: id, title, description, image, tags, colour, article"
    ]
    assert "Traceback" not in out.err


def test_main_exit_code_zero_on_success(monkeypatch, capsys, cli_index):
    code, out = run_main(monkeypatch, capsys, "info", cli_index)
    assert code == 0
    assert "counts: products 30" in out.out


def test_unknown_index_in_a_real_process(tmp_path):
    env = {**os.environ, "RTAG_INDEX_DIR": str(tmp_path), "RTAG_NO_PROGRESS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "retrieval_tagger.cli.main", "info", "nope"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"rtag: error: no index at {tmp_path / 'nope'}: build one with `rtag index CATALOG --name nope`"
    ]
    assert proc.stdout == ""


# -- start-up cost ----------------------------------------------------------------------


def test_help_is_fast_and_does_not_import_torch(tmp_path):
    env = {**os.environ, "RTAG_INDEX_DIR": str(tmp_path)}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "retrieval_tagger.cli.main", "--help"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    elapsed = time.perf_counter() - started
    assert proc.returncode == 0
    for command in ("index", "tag", "eval", "info"):
        assert command in proc.stdout
    assert elapsed < 3.0, f"rtag --help took {elapsed:.1f}s"

    probe = ("import sys, retrieval_tagger, retrieval_tagger.cli.main; "
             "print(sorted(m for m in ('torch', 'faiss', 'open_clip', 'sentence_transformers', 'numpy') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize("command", ["index", "tag", "eval", "info"])
def test_each_command_has_help(command):
    result = ok(command, "--help")
    assert "Usage:" in result.stdout


# -- help shows the library's defaults; renamed options; logging ----------------------------


def option_defaults(command: str) -> dict[str, str]:
    """``--option -> default`` as ``rtag COMMAND --help`` prints them."""
    import re

    blocks, current = {}, None
    for line in ok(command, "--help").stdout.splitlines():
        start = re.match(r"\s{2}(-[-\w]+|-\w)", line)
        if start:
            current = start.group(1)
            blocks[current] = ""
        if current:
            blocks[current] += " " + line.strip()
    return {name: found.group(1) for name, text in blocks.items() if (found := re.search(r"\[default: ([^\]]+)\]", text))}


def test_help_shows_the_library_defaults():
    from retrieval_tagger import tag_defaults
    from retrieval_tagger.align.options import BASE, IMAGE_BATCH, AlignOptions
    from retrieval_tagger.pipeline import TagOptions

    tag = option_defaults("tag")
    assert tag["--top-n"] == str(TagOptions().top_n)
    assert tag["--min-score"] == str(TagOptions().min_score)
    assert tag["--diversity"] == f"{TagOptions().diversity}, measured"
    assert option_defaults("eval")["--diversity"] == f"{tag_defaults.DIVERSITY}, measured"
    align = option_defaults("align")
    opts = AlignOptions()
    expected = {"--epochs": opts.epochs, "--batch-size": opts.batch_size, "--lr": opts.lr, "--unlock-text-layers": opts.unlocked_text_layers,
                "--image-head": opts.image_head, "--colour-lr": opts.colour_lr, "--val-fraction": opts.val_fraction,
                "--patience": opts.patience, "--seed": opts.seed, "--image-batch": IMAGE_BATCH, "--base": BASE}
    assert {name: align[name] for name in expected} == {name: str(value) for name, value in expected.items()}
    assert option_defaults("index")["--id-col"] == "id"  # help text in brackets is printed, not eaten as markup


def test_index_takes_image_batch_and_the_old_batch_size_with_a_warning(tmp_path):
    help_text = ok("index", "--help").stdout
    assert "--image-batch" in help_text and "--batch-size" not in help_text
    path = write_catalog(tmp_path / "c.csv", catalog_rows()[:6], COLUMNS)
    new = ok("index", path, "--name", tmp_path / "new", "--facet-cols", "colour", "--image-batch", "4", *FAST)
    assert "deprecated" not in new.stderr and "--image-batch" not in new.stderr
    old = ok("index", path, "--name", tmp_path / "old", "--facet-cols", "colour", "--batch-size", "4", *FAST)
    assert "`rtag index --batch-size` is now --image-batch" in old.stderr
    for name in ("new", "old"):
        assert json.loads((tmp_path / name / "manifest.json").read_text())["build"]["batch_size"] == 4


@pytest.mark.parametrize("verbose, expected", [
    (False, ["rtag: a note"]),
    (True, ["rtag: a note", "rtag: some detail", "rtag: another library's note"]),
])
def test_library_notes_show_by_default_and_detail_with_verbose(verbose, expected):
    probe = ("import logging; from retrieval_tagger.cli.main import configure_logging; "
             f"configure_logging({verbose}); logging.getLogger('rtag.align').info('a note'); "
             "logging.getLogger('rtag').debug('some detail'); logging.getLogger('other').info(\"another library's note\")")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == expected
