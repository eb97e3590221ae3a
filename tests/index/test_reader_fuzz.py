"""Damaged files never crash rtag nor change its answer: every file of a small index (text
+ image stores, a trained reranker, a stored vocabulary) has bytes flipped at seeded
positions and is cut at several lengths. Loading and tagging then ends in a one-line
RtagError, or in the undamaged answer.

With content checks on (the default) every case is refused. With them off (``verify=
"size"``, which skips the sha256 of each file) the structural checks alone must keep
every case from crashing: those run in a subprocess, so that a segmentation fault would
fail the test instead of killing it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from toy_catalog import FACET_VOCAB, VOCAB_QUERIES, write_file

from retrieval_tagger.errors import RtagError

ROOT = Path(__file__).resolve().parents[2]
SEED = 12


def damages(size: int, seed: int) -> list[tuple[str, object]]:
    """(name, bytes -> bytes) for a file of ``size`` bytes: single bytes flipped at a
    position in its header and three others, a run of 64 flipped bytes, and cuts to
    nothing, to a header, to half and to all but its last byte."""
    rng = np.random.default_rng(seed)
    out = []
    for pos in [int(rng.integers(0, min(size, 64))), *(int(p) for p in rng.integers(0, size, 3))]:
        mask = int(rng.integers(1, 256))
        out.append((f"flip@{pos}", lambda b, p=pos, m=mask: b[:p] + bytes([b[p] ^ m]) + b[p + 1:]))
    start = int(rng.integers(0, max(size - 64, 1)))
    noise = rng.integers(1, 256, 64, dtype=np.uint8)
    out.append((f"flip64@{start}", lambda b, s=start, n=noise: b[:s] + bytes(np.frombuffer(b[s:s + 64], np.uint8) ^ n[:len(b[s:s + 64])]) + b[s + 64:]))
    for cut in sorted({0, min(12, size - 1), size // 2, size - 1}):
        out.append((f"cut@{cut}", lambda b, c=cut: b[:c]))
    return out


def index_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


# what is tagged: text and photos, with the reranker, and against the stored vocabulary
def answer(folder: Path, encoders, verify: str = "sha256"):
    """("answer", tags) or ("error", the RtagError's class) for one index folder."""
    from retrieval_tagger.index.reader import open_index
    from retrieval_tagger.pipeline import Tagger

    products = [*VOCAB_QUERIES, {"id": "photo", "image": str(folder.parent / "p07.png")}]
    try:
        tagger = Tagger(open_index(folder, verify=verify), *encoders)
        plain = [r.to_dict() for r in tagger.tag(products, top_n=5)]
        vocab = [r.to_dict() for r in tagger.tag(products, vocab="facets")]
    except RtagError as exc:
        assert "\n" not in str(exc), f"a message of several lines: {exc}"
        return "error", type(exc).__name__
    return "answer", json.dumps([plain, vocab], sort_keys=True)


@pytest.fixture(scope="module")
def fuzz_index(reranked, encoders, catalog_dir, tmp_path_factory) -> Path:
    """The tiny text + image index with its reranker and a stored vocabulary."""
    from retrieval_tagger.index.reader import open_index
    from retrieval_tagger.pipeline import Tagger

    folder = tmp_path_factory.mktemp("fuzz") / "index"
    shutil.copytree(reranked[0], folder)
    shutil.copy(catalog_dir / "images" / "p07.png", folder.parent / "p07.png")
    Tagger(open_index(folder), *encoders).add_vocab(write_file(folder.parent / "facets.txt", FACET_VOCAB), "facets")
    return folder


@pytest.mark.slow  # about 190 damaged copies loaded and tagged
def test_every_damaged_file_is_refused_in_one_line(fuzz_index, encoders):
    kind, undamaged = answer(fuzz_index, encoders)
    assert kind == "answer" and '"tag": "colour:blue"' in undamaged  # the reranker and vocabulary answer too
    files = index_files(fuzz_index)
    assert {"manifest.json", "text.faiss", "image.faiss", "tags_indices.npy", "ids.json", "reranker/model.txt",
            "vocabs/facets/text.npy", "vocabs/facets/manifest.json"} <= set(files)
    outcomes, cases, unchanged = Counter(), 0, []
    for n, name in enumerate(files):
        path = fuzz_index / name
        original = path.read_bytes()
        for label, damage in damages(len(original), SEED + n):
            path.write_bytes(damage(original))
            try:
                kind, result = answer(fuzz_index, encoders)
            except Exception as exc:  # anything but an RtagError is a failure of this test
                pytest.fail(f"{name} {label}: {type(exc).__name__}: {exc}")
            finally:
                path.write_bytes(original)
            assert kind == "error" or result == undamaged, f"{name} {label}: a different answer without an error"
            outcomes[result if kind == "error" else "same answer"] += 1
            if kind != "error":
                unchanged.append(f"{name} {label}")
            cases += 1
    print(f"\nfuzz: {len(files)} files damaged, {cases} cases: {dict(outcomes)}; the same answer: {unchanged}")
    assert cases == sum(len(damages(len((fuzz_index / f).read_bytes()), 0)) for f in files) and cases >= 150
    # sha256 leaves no damage to a data file unnoticed; in a manifest, the seal ignores
    # what JSON ignores (whitespace), and an unknown key stands for an unsealed manifest
    assert all(case.split()[0].endswith("manifest.json") for case in unchanged), unchanged


STRUCTURE_ONLY = """
import json, sys
sys.path.insert(0, sys.argv[3])
from pathlib import Path
from test_reader_fuzz import answer, damages, index_files
from retrieval_tagger.encoders.registry import load_image_encoder, load_text_encoder
from toy_catalog import IMAGE_SPEC, TEXT_SPEC
folder, names = Path(sys.argv[1]), json.loads(sys.argv[2])
# the image encoder from the export the session cached (RTAG_CACHE_DIR): no torch to import
recorded = json.loads((folder / "manifest.json").read_text())["encoders"]["image"]
encoders = load_text_encoder(TEXT_SPEC), load_image_encoder(IMAGE_SPEC, "cpu", "onnx", recorded)
assert "torch" not in sys.modules
for n, name in enumerate(names):
    path = folder / name
    original = path.read_bytes()
    for label, damage in damages(len(original), 100 + n):
        print("case", name, label, flush=True)
        path.write_bytes(damage(original))
        try:
            kind, _ = answer(folder, encoders, verify="size")
        except Exception as exc:
            kind = "raised " + type(exc).__name__ + ": " + str(exc).splitlines()[0][:200]
        finally:
            path.write_bytes(original)
        print("outcome", kind, flush=True)
"""


@pytest.mark.slow  # a subprocess that loads the test encoders, then ~110 damaged copies
def test_without_content_checks_the_structure_checks_keep_damage_from_crashing(fuzz_index, tmp_path):
    """Same-size damage to the arrays, ids and stores, with sha256 checks off: a one-line
    error or an answer (possibly wrong: that is what the sha256 check is for), never
    another exception nor a crash of the process."""
    folder = tmp_path / "index"
    shutil.copytree(fuzz_index, folder)
    shutil.copy(fuzz_index.parent / "p07.png", tmp_path / "p07.png")
    names = [n for n in index_files(folder) if not n.endswith("manifest.json")]  # manifests are sealed: checked anyway
    proc = subprocess.run([sys.executable, "-c", STRUCTURE_ONLY, str(folder), json.dumps(names), str(Path(__file__).parent)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": f"{ROOT / 'tests'}:{ROOT}"})
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0, f"the process ended with {proc.returncode} after {lines[-3:]}: {proc.stderr[-2000:]}"
    outcomes = Counter(line.split(" ", 1)[1] for line in lines if line.startswith("outcome "))
    raised = [line for line in lines if line.startswith("outcome raised")]
    assert not raised, raised
    assert sum(outcomes.values()) == sum(1 for line in lines if line.startswith("case ")) >= 100
    assert outcomes["error"] > 0
    print(f"\nstructure only: {len(names)} files, {sum(outcomes.values())} cases: {dict(outcomes)}")
