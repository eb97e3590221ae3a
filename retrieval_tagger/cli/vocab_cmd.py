"""``rtag vocab add|list|remove``: vocabularies stored in an index for zero-shot tagging."""

from __future__ import annotations

from pathlib import Path

import typer

from retrieval_tagger.cli import common

vocab_app = typer.Typer(help="Store tag vocabularies (lists, facet:value lines, CSV, taxonomies) in an index for `rtag tag --vocab`.",
                        no_args_is_help=True)


@vocab_app.command("add")
@common.with_options({"device": common.MODELS["device"]})
def add(
    vocab_file: Path = typer.Argument(..., help="A tag list (.txt: one tag or facet:value per line), a CSV (tag[,facet,description,synonyms]), "
                                                "or a taxonomy (.txt: 'A > B > C' paths, optional '123 - ' ids; or CSV id,name,parent)."),
    index: str = common.Index,
    name: str = typer.Option(None, "--name", "-n", help="Name to store it under [default: the file's name]."),
    fmt: str = typer.Option("auto", "--format", help="auto, list, csv, taxonomy or taxonomy-csv."),
    templates: str = typer.Option(None, "--templates", help="Prompt templates separated by ';', each with {} for the tag name [default: a measured ensemble]."),
    force: bool = typer.Option(False, "--force", help="Replace a stored vocabulary of that name."),
    **options,
) -> None:
    """Embed and calibrate a vocabulary's tags, and store them in the index."""
    from retrieval_tagger.pipeline import Tagger
    from retrieval_tagger.vocab.files import read_vocab_file

    # the file is parsed here too, before the models load (tens of seconds): a bad
    # --format or a malformed line fails at once
    common.check_readable(vocab_file, "vocabulary file")
    read_vocab_file(vocab_file, fmt)
    common.index_folder(index)
    tagger = Tagger.load(index, device=options["device"])
    parsed = [t.strip() for t in templates.split(";") if t.strip()] if templates else None
    man = tagger.add_vocab(vocab_file, name, fmt, parsed, force)
    for note in man["notes"]:
        typer.echo(f"rtag: note: {note}", err=True)
    shape = f"taxonomy of depth {man['counts']['depth']}" if man["kind"] == "taxonomy" else "tags"
    typer.echo(f"vocabulary {man['name']}: {man['counts']['tags']} {shape}, embedded in the {' and '.join(man['tag_spaces'])} space(s), "
               f"calibrated for {', '.join(man['spaces'])}; tag with: rtag tag --index {index} --vocab {man['name']} INPUT")


@vocab_app.command("list")
def list_(index: str = common.Index) -> None:
    """List the vocabularies stored in an index."""
    from retrieval_tagger.vocab.stored import list_vocabs

    found = list_vocabs(common.index_folder(index))
    if not found:
        typer.echo(f"index {index} has no vocabularies; add one with `rtag vocab add --index {index} FILE`")
    for man in found:
        if man.get("broken"):
            typer.echo(f"{man['name']}\t(unreadable: remove it and add it again)")
            continue
        typer.echo(f"{man['name']}\t{man['kind']}\t{man['counts']['tags']} tags\tspaces: {','.join(man['spaces'])}\t"
                   f"from {Path(man['source']['file']).name} (sha256 {man['source']['sha256'][:12]})\t{man['created']}")


@vocab_app.command("map")
def map_(
    index: str = common.Index,
    vocab: str = typer.Option(..., "--vocab", help="A stored taxonomy (rtag vocab add)."),
    output: Path = typer.Option(None, "--output", "-o", help="Save the mapping as CSV, to review and correct."),
    corrections: Path = typer.Option(None, "--corrections", help="An edited mapping CSV: rows whose node was changed are stored "
                                                                 "with the vocabulary and used when tagging."),
    show: int = typer.Option(20, "--show", help="Rows to print (the most frequent catalog tags); 0 prints none."),
) -> None:
    """Show how the catalog's facet tags map onto a stored taxonomy, save it for review, load corrections."""
    from retrieval_tagger.index.reader import open_index
    from retrieval_tagger.vocab import map_file

    if corrections is not None:
        common.check_readable(corrections, "corrections file")
    rows, stored = map_file.review(open_index(common.index_folder(index)), vocab, corrections)
    if stored is not None:
        typer.echo(f"stored {stored} correction(s) with vocabulary {vocab}; `rtag tag --vocab {vocab}` uses them")
    for row in sorted(rows, key=lambda r: -r["products"])[:show]:
        mark = " (corrected)" if row["corrected"] else ""
        typer.echo(f"{row['catalog_tag']} ({row['products']}) -> {row['node_id'] + ' ' if row['node_id'] else ''}{row['node']} [{row['weight']}]{mark}")
    if output is not None:
        map_file.write_rows(output, rows)
        typer.echo(f"mapping of {len(rows)} catalog tags saved to {output}: edit node or node_id where wrong, then "
                   f"rtag vocab map --index {index} --vocab {vocab} --corrections {output}")


@vocab_app.command("remove")
def remove(name: str = typer.Argument(..., help="Vocabulary name."), index: str = common.Index) -> None:
    """Remove a stored vocabulary."""
    from retrieval_tagger.vocab.stored import remove_vocab

    remove_vocab(common.index_folder(index), name)
    typer.echo(f"removed vocabulary {name} from {index}")


def register(app: typer.Typer) -> None:
    app.add_typer(vocab_app, name="vocab")
