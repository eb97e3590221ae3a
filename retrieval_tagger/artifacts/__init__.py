"""Saved folders and files: the one way rtag writes, records, checks and reads what it keeps.

Every saved folder carries ``manifest.json``: a header (format name and version, the rtag
that wrote it, when, and the library versions the writer names), the folder's own
sections, ``files`` (size and sha256 of each file) and its seal (records.py). Folders
and files are written atomically by one writer at a time, and replace only an artifact
of the same kind (writes.py); readers open a folder as one generation, held open
(snapshot.py). Also here: the id-hash sampler (sampling.py).
"""

import os  # noqa: F401  (writers rename with os.replace; tests reach it as artifacts.os)

from retrieval_tagger.artifacts.records import (
    MANIFEST,
    SEAL,
    VERIFY_LEVELS,
    FileProblem,
    Format,
    file_record,
    header,
    parse_manifest,
    read_manifest,
    record_files,
    sealed,
    sha256_file,
    verify_files,
    write_manifest,
)
from retrieval_tagger.artifacts.sampling import hash_bucket, hash_sample
from retrieval_tagger.artifacts.snapshot import Snapshot, open_snapshot
from retrieval_tagger.artifacts.writes import (
    atomic_path,
    check_replaceable,
    leftovers,
    lock_path,
    remove_folder,
    write_folder,
    write_json,
    writer_lock,
)

__all__ = [
    "MANIFEST", "SEAL", "VERIFY_LEVELS", "FileProblem", "Format", "Snapshot", "atomic_path", "check_replaceable",
    "file_record", "hash_bucket", "hash_sample", "header", "leftovers", "lock_path", "open_snapshot", "parse_manifest",
    "read_manifest", "record_files", "remove_folder", "sealed", "sha256_file", "verify_files", "write_folder",
    "write_json", "write_manifest", "writer_lock",
]
