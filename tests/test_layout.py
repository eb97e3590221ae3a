"""tests/ mirrors the package: every module ``retrieval_tagger/a/b.py`` has its tests in
``tests/a/test_b.py`` or in files ``tests/a/test_b_<topic>.py`` (a top-level module
``c.py`` in ``tests/test_c.py``), except the modules listed in EXEMPT with the reason
they have nothing of their own to test. A test file guards the module with the longest
name it starts with: ``test_catalog_files.py`` guards catalog_files.py, not catalog.py."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

EXEMPT = {
    "errors.py": "exception classes only; each error is tested where it is raised",
}


def guarded(module_stems: set[str], test_stem: str) -> str | None:
    """The module a test file ``test_<test_stem>.py`` guards among ``module_stems`` (the
    modules of its mirrored package folder), or None."""
    matches = [stem for stem in module_stems if test_stem == stem or test_stem.startswith(stem + "_")]
    return max(matches, key=len, default=None)


def untested(package: Path, tests: Path) -> list[str]:
    """The modules of ``package`` that no test file under ``tests`` guards (``__init__.py``
    files and EXEMPT modules aside), each with the file to add."""
    missing = []
    for folder in sorted({p.parent for p in package.rglob("*.py")}):
        stems = {p.stem for p in folder.glob("*.py") if p.name != "__init__.py"}
        mirror = tests / folder.relative_to(package)
        covered = {guarded(stems, t.stem[len("test_"):]) for t in mirror.glob("test_*.py")}
        for stem in sorted(stems - covered):
            relative = (folder / f"{stem}.py").relative_to(package).as_posix()
            if relative not in EXEMPT:
                missing.append(f"{relative}: add {(mirror / f'test_{stem}.py').relative_to(tests.parent).as_posix()}")
    return missing


def test_every_module_has_its_mirrored_test_file():
    missing = untested(ROOT / "retrieval_tagger", ROOT / "tests")
    assert not missing, "modules without tests:\n" + "\n".join(missing)


def test_exemptions_name_modules_that_exist():
    assert all((ROOT / "retrieval_tagger" / name).is_file() for name in EXEMPT), EXEMPT


def test_the_check_finds_a_module_without_tests(tmp_path):
    package, tests = tmp_path / "retrieval_tagger", tmp_path / "tests"
    for name in ("__init__.py", "mmr.py", "errors.py", "catalog.py", "catalog_files.py", "signals/__init__.py",
                 "signals/knn.py", "signals/new.py", "tests/test_mmr.py", "tests/test_catalog_files.py",
                 "tests/signals/test_knn_fit.py", "tests/signals/test_other.py"):
        path = (tmp_path if name.startswith("tests/") else package) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    # catalog.py: test_catalog_files.py guards catalog_files.py; knn.py: guarded by test_knn_fit.py
    assert untested(package, tests) == ["catalog.py: add tests/test_catalog.py", "signals/new.py: add tests/signals/test_new.py"]
