"""Options shared by several commands: declared once with the library's defaults, and
turned into catalog specs and tagging options."""

from __future__ import annotations

from cli_runner import ok


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
    assert TagOptions().top_n is None and tag["--top-n"] == f"every facet's value, and up to {tag_defaults.TOP_N} tags in all"
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
