"""Errors rtag raises on purpose. The CLI prints their message as one line and exits 2."""


class RtagError(Exception):
    """Base class: something the user can fix; the message says what and how."""


class CatalogError(RtagError):
    """The catalog file cannot be read or does not match the column options."""


class EncoderError(RtagError):
    """An encoder spec is unknown, or its model cannot be loaded."""


class IndexNotFoundError(RtagError):
    """No index exists at the given name or folder."""


class IndexFormatError(RtagError):
    """An index folder is incomplete, corrupt, or written by an incompatible rtag."""


class EncoderMismatchError(RtagError):
    """The encoders available at query time differ from the ones that built the index."""


class IndexExistsError(RtagError):
    """An index already exists where a new one would be written."""


class ModelFolderError(EncoderError):
    """An aligned model folder is incomplete, corrupt, or written by an incompatible rtag."""


class AlignError(RtagError):
    """Alignment training cannot run on the given catalog or options."""


class RerankerError(RtagError):
    """A saved reranker is missing, corrupt, or does not fit the index it sits in."""


class VocabError(RtagError):
    """A vocabulary file is malformed, or a named vocabulary does not exist."""


class ArtifactLockedError(RtagError):
    """Another process is writing the same index, vocabulary, model or file."""


class NotReplaceableError(RtagError):
    """--force would replace something that is not an rtag artifact of the same kind."""
