"""Chinese versions of English fashion titles, derived with the glossary (glossary.csv).

No Chinese e-commerce data set ships on PyPI, so the Chinese test titles are derived:
every run of title words that names a value of a fashion facet (gender, masterCategory,
subCategory, articleType, baseColour, season, usage) is replaced by that value's Chinese
in glossary.csv, longest run first, matched without case, with plurals folded
("Shoe"/"Shoes", "Watch"/"Watches") and hyphens dropped ("T-shirt" is "Tshirts"). The
words before the title's first gender word are its brand and stay as they are ("Red
Chief Men Brown Sandals" -> "Red Chief 男士棕色凉鞋"); so does every other word
("Dark", "Printed", model names). Adjacent Chinese words are joined without a space.

    .venv/bin/python benchmarks/zh/derive_titles.py benchmarks/results/fashion/dev.csv \
        benchmarks/results/fashion/dev_zh.csv

writes the file with its title column replaced and prints how much was replaced.
"""

from __future__ import annotations

import argparse
import csv
import re
from pathlib import Path

GLOSSARY = Path(__file__).resolve().parent / "glossary.csv"
FACETS = ("gender", "masterCategory", "subCategory", "articleType", "baseColour", "season", "usage")
# when one English value names values of several facets, the most specific facet's Chinese
PREFERENCE = ("articleType", "baseColour", "gender", "subCategory", "usage", "season", "masterCategory")
GENDER_WORDS = {"men", "women", "boy", "girl", "unisex", "kid"}
_TOKEN = re.compile(r"\w+(?:[-'’]\w+)*")


def load_glossary(path: str | Path = GLOSSARY) -> list[dict]:
    """The glossary rows: facet, value (English, as in the catalog), zh."""
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def fold(token: str) -> str:
    """A title word as the table keys it: lower case, no possessive, no hyphens, no plural."""
    word = re.sub(r"['’]s$", "", token.lower()).replace("-", "").replace("'", "")
    if len(word) > 4 and word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def phrase_table(glossary: list[dict]) -> dict[tuple[str, ...], str]:
    """Folded word runs -> Chinese, each value both as its words and as one joined word
    ("Flip Flops" and "FlipFlops"), the preferred facet first."""
    table: dict[tuple[str, ...], str] = {}
    for row in sorted(glossary, key=lambda r: PREFERENCE.index(r["facet"])):
        words = tuple(fold(w) for w in _TOKEN.findall(row["value"]))
        for key in (words, (fold("".join(words)),)):
            table.setdefault(key, row["zh"])
    return table


def derive(title: str, table: dict[tuple[str, ...], str]) -> tuple[str, int]:
    """The Chinese version of ``title`` and how many of its words were replaced."""
    tokens = list(_TOKEN.finditer(title))
    folded = [fold(t.group()) for t in tokens]
    # the brand, before the first gender word, stays; the gender word itself is replaced
    i = next((at for at, w in enumerate(folded) if w in GENDER_WORDS), 0)
    last = tokens[i].start() if tokens else len(title)
    pieces, replaced, longest = [title[:last]], 0, max(len(k) for k in table)
    while i < len(tokens):
        for n in range(min(longest, len(tokens) - i), 0, -1):
            zh = table.get(tuple(folded[i:i + n]))
            if zh:
                pieces.append(title[last:tokens[i].start()])
                pieces.append(zh)
                last, replaced = tokens[i + n - 1].end(), replaced + n
                i += n
                break
        else:
            i += 1
    pieces.append(title[last:])
    return _join(pieces), replaced


def _join(pieces: list[str]) -> str:
    """The pieces as one title, with the spaces between two Chinese words dropped."""
    text = "".join(pieces)
    return re.sub(r"(?<=[\u3400-\u9fff])\s+(?=[\u3400-\u9fff])", "", text).strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--title-col", default="productDisplayName")
    parser.add_argument("--glossary", type=Path, default=GLOSSARY)
    args = parser.parse_args()
    table = phrase_table(load_glossary(args.glossary))
    with open(args.source, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows, columns = list(reader), reader.fieldnames
    words = replaced = touched = 0
    for row in rows:
        words += len(_TOKEN.findall(row[args.title_col]))
        row[args.title_col], n = derive(row[args.title_col], table)
        replaced += n
        touched += n > 0
    with open(args.output, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} titles -> {args.output}: {touched} ({touched / max(len(rows), 1):.1%}) with Chinese words, "
          f"{replaced} of {words} words ({replaced / max(words, 1):.1%}) replaced")


if __name__ == "__main__":
    main()
