"""The language of a catalog's text, and the word-level handling that depends on script.

``rtag index --language`` records one code in the manifest (``auto`` detects it from a
sample of titles by their share of CJK characters: :func:`resolve`). Word splitting
follows the script of each run of text, so a mixed catalog (a Chinese title with an
English brand) needs no setting: runs of Han characters are segmented into words with
rjieba (a fast jieba) when it is installed and into character bigrams when it is not;
runs with Japanese kana into bigrams; everything else into ``\\w+`` words, exactly as
before. CJK punctuation left over by NFKC (which already folds full-width letters,
digits and ASCII punctuation) is folded to its ASCII counterpart.
"""

from __future__ import annotations

import functools
import re

from retrieval_tagger.errors import CatalogError

AUTO = "auto"
DETECT_SAMPLE = 1000  # titles read by auto-detection, spread over the catalog
CJK_SHARE = 0.2  # a catalog is CJK when at least this share of its letters are CJK
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_KANA = "\u3040-\u30ff\u31f0-\u31ff"
_HANGUL = "\u1100-\u11ff\u3130-\u318f\uac00-\ud7af"
_CJK = _HAN + _KANA
_HAN_RE, _KANA_RE, _HANGUL_RE = (re.compile(f"[{chars}]") for chars in (_HAN, _KANA, _HANGUL))
_WORD_RE = re.compile(f"(?P<cjk>[{_CJK}]+)|[^\\W{_CJK}]+")
_CODE_RE = re.compile(r"[a-z]{2,3}")
# what NFKC leaves: ideographic full stop and comma, corner and lenticular brackets, ...
_PUNCTUATION = str.maketrans({
    "。": ".", "、": ",", "・": " ", "「": '"', "」": '"', "『": '"', "』": '"', "【": "[", "】": "]",
    "〖": "[", "〗": "]", "〔": "(", "〕": ")", "《": '"', "》": '"', "〈": '"', "〉": '"', "〜": "~",
})


def fold_punctuation(text: str) -> str:
    """CJK punctuation as ASCII (``【包邮】男鞋。`` -> ``[包邮]男鞋.``); other text unchanged."""
    return text if text.isascii() else text.translate(_PUNCTUATION)


def check_setting(setting: str | None) -> str:
    """``auto`` or a language code (ISO 639-1 or -3, lower case), else an error."""
    setting = (setting or AUTO).strip().lower()
    if setting != AUTO and not _CODE_RE.fullmatch(setting):
        raise CatalogError(f"--language {setting!r}: write auto or a language code such as en, zh, ja, de")
    return setting


def detect(texts: list[str]) -> tuple[str, float]:
    """The language of ``texts`` by script, and the share of CJK among their letters:
    ``zh`` (Han), ``ja`` (Han with kana), ``ko`` (Hangul); anything else is taken as
    ``en``: scripts tell Chinese from English cheaply, not French from German."""
    step = max(1, len(texts) // DETECT_SAMPLE)
    sample = "".join(texts[::step][:DETECT_SAMPLE])
    letters = sum(ch.isalpha() for ch in sample)
    if not letters:
        return "en", 0.0
    han, kana, hangul = (len(rx.findall(sample)) / letters for rx in (_HAN_RE, _KANA_RE, _HANGUL_RE))
    if kana >= 0.05 and han + kana >= CJK_SHARE:
        return "ja", han + kana
    if han >= CJK_SHARE:
        return "zh", han
    if hangul >= CJK_SHARE:
        return "ko", hangul
    return "en", han + kana + hangul


def resolve(setting: str | None, texts: list[str]) -> dict:
    """The manifest's ``language`` section: the code, and how it was chosen."""
    setting = check_setting(setting)
    code, share = detect(texts)
    if setting == AUTO:
        return {"code": code, "how": "detected", "cjk_share": round(share, 4)}
    return {"code": setting, "how": "given", "cjk_share": round(share, 4)}


def is_cjk(code: str) -> bool:
    return code in ("zh", "ja", "ko")


def words(text: str) -> list[str]:
    """The words of ``text`` (lower-cased; no normalisation): ``\\w+`` runs, with runs of
    CJK characters segmented (see the module docstring)."""
    out = []
    for match in _WORD_RE.finditer(text.lower()):
        if match.lastgroup == "cjk":
            out.extend(segment(match.group()))
        else:
            out.append(match.group())
    return out


def segment(run: str) -> list[str]:
    """Words of a run of CJK characters: rjieba's precise mode (no HMM, so a word is cut
    the same way wherever it stands) for Han, character bigrams for kana or without rjieba."""
    cut = _jieba()
    if cut is not None and not _KANA_RE.search(run):
        return cut(run)
    return bigrams(run)


def bigrams(run: str) -> list[str]:
    """Overlapping character pairs; a one-character run is its own word."""
    return [run] if len(run) < 2 else [run[i:i + 2] for i in range(len(run) - 1)]


@functools.lru_cache(maxsize=1)
def _jieba():
    try:
        import rjieba
    except ImportError:
        return None
    return functools.partial(rjieba.cut, hmm=False)
