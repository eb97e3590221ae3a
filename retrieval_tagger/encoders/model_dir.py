"""The aligned model folder: self-describing, versioned, loadable by ``--image-model``.

Layout (the first two are what open_clip's ``local-dir:`` loader reads as well):
  open_clip_config.json        {"model_cfg": ..., "preprocess_cfg": ...}
  open_clip_model.safetensors  the whole model's weights
  colour_head.safetensors      rtag's colour head (when trained)
  text/                        config and tokenizer of a Hugging Face text tower
  manifest.json                format, versions, base model, tokenizer, training
                               metadata and metrics, size and sha256 of every file
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

from retrieval_tagger import __version__
from retrieval_tagger.errors import AlignError, ModelFolderError
from retrieval_tagger.index.manifest import file_problem, sha256_file

FORMAT = "rtag-aligned-model"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
CONFIG = "open_clip_config.json"
WEIGHTS = "open_clip_model.safetensors"
COLOUR = "colour_head.safetensors"
TEXT_DIR = "text"
# what a Hugging Face text tower needs besides its weights (which live in WEIGHTS)
TEXT_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
              "merges.txt", "vocab.json", "sentencepiece.bpe.model", "spiece.model")


def is_model_dir(path: str | Path) -> bool:
    return (Path(path) / MANIFEST).is_file() and (Path(path) / CONFIG).is_file()


def check_writable(out: Path, force: bool) -> None:
    """Refuse to overwrite a finished model (without ``force``) or a folder that is not one."""
    if not out.exists():
        return
    if not out.is_dir():
        raise AlignError(f"{out} exists and is not a folder: choose another --output")
    if (out / MANIFEST).is_file():
        if not force:
            raise AlignError(f"an aligned model already exists at {out}: pass --force to replace it")
        return
    others = [p.name for p in out.iterdir() if p.name != ".rtag-align"]
    if others:
        raise AlignError(f"{out} is not empty and holds no aligned model ({', '.join(sorted(others)[:5])}): choose another --output")


def _portable_config(config: dict) -> dict:
    cfg = copy.deepcopy(config)
    text = cfg.get("text_cfg", {})
    if "hf_model_name" in text:
        text["hf_model_name"] = TEXT_DIR
        text["hf_tokenizer_name"] = TEXT_DIR
        text["hf_model_pretrained"] = False
    return cfg


def _record(folder: Path) -> dict:
    return {
        str(p.relative_to(folder)): {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST and ".rtag-align" not in p.relative_to(folder).parts
    }


def save_model_dir(out: Path, built, model, colour_weight, base: str, training: dict) -> dict:
    """Write the model folder; files are written to temporary names and renamed, the
    manifest last, so a folder with a manifest is always complete."""
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    if (out / MANIFEST).is_file():
        (out / MANIFEST).unlink()  # --force: the folder is incomplete until the new manifest lands
    text_cfg = built.config.get("text_cfg", {})
    if "hf_model_name" in text_cfg:
        source = Path(text_cfg["hf_model_name"])
        if not source.is_dir():
            raise AlignError(f"the text tower {source} is not a local folder; cannot copy its tokenizer into the model folder")
        tmp_text = out / f".{TEXT_DIR}.tmp"
        shutil.rmtree(tmp_text, ignore_errors=True)
        tmp_text.mkdir()
        for name in TEXT_FILES:
            if (source / name).is_file():
                shutil.copy2(source / name, tmp_text / name)
        shutil.rmtree(out / TEXT_DIR, ignore_errors=True)
        os.replace(tmp_text, out / TEXT_DIR)
        tokenizer = {"kind": "hf", "path": TEXT_DIR, "context_length": text_cfg.get("context_length", 77)}
    else:
        tokenizer = {"kind": "open_clip", "name": built.tokenizer_name}
    config = {"model_cfg": _portable_config(built.config),
              "preprocess_cfg": {"size": built.size, "mean": list(built.mean), "std": list(built.std), "resize_mode": "pad_white"}}
    _write_atomic(out / CONFIG, lambda p: p.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8"))
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    _write_atomic(out / WEIGHTS, lambda p: save_file(state, str(p), metadata={"format": "pt"}))
    if colour_weight is not None:
        _write_atomic(out / COLOUR, lambda p: save_file({"weight": colour_weight.contiguous()}, str(p)))
    elif (out / COLOUR).exists():
        (out / COLOUR).unlink()
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "rtag_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "base": {"spec": base, "checksum": built.checksum},
        "tokenizer": tokenizer,
        "colour_head": colour_weight is not None,
        "training": training,
        "versions": _library_versions(),
    }
    manifest["files"] = _record(out)
    _write_atomic(out / MANIFEST, lambda p: p.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"))
    return manifest


def _write_atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def _library_versions() -> dict:
    import open_clip
    import torch

    return {"rtag": __version__, "open_clip": open_clip.__version__, "torch": torch.__version__}


def read_model_manifest(folder: Path) -> dict:
    """Read and check an aligned model folder's manifest and every file it lists (size and sha256)."""
    path = folder / MANIFEST
    if not path.is_file():
        raise ModelFolderError(f"{folder} is not an aligned model folder (no {MANIFEST}); train one with `rtag align CATALOG --output {folder}`")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFolderError(f"{path} is corrupt ({exc}); train the model again with `rtag align ... --force`") from exc
    if manifest.get("format") != FORMAT:
        raise ModelFolderError(f"{folder} holds a {manifest.get('format')!r} manifest, not an aligned model")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelFolderError(
            f"aligned model {folder} has format version {manifest.get('format_version')}, this rtag {__version__} reads "
            f"version {FORMAT_VERSION}: train it again with `rtag align ... --force`"
        )
    for name, info in manifest.get("files", {}).items():
        problem = file_problem(folder / name, info, "sha256")
        if problem == "missing":
            raise ModelFolderError(f"aligned model {folder} is missing {name}; train it again with `rtag align ... --force`")
        if problem:
            raise ModelFolderError(f"aligned model {folder}: {name} does not match its manifest (corrupt or changed); train it again with `rtag align ... --force`")
    return manifest


def load_model_dir(folder: str | Path):
    """Load an aligned model folder as a ``registry.ClipModel``."""
    import open_clip
    from safetensors.torch import load_file

    from retrieval_tagger.encoders.registry import ClipModel, _register_configs

    folder = Path(folder).resolve()
    manifest = read_model_manifest(folder)
    config = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
    model_cfg = copy.deepcopy(config["model_cfg"])
    text_cfg = model_cfg.get("text_cfg", {})
    hf = "hf_model_name" in text_cfg
    if hf:
        text_cfg["hf_model_name"] = text_cfg["hf_tokenizer_name"] = str(folder / TEXT_DIR)
        text_cfg["hf_model_pretrained"] = False
    custom = model_cfg.pop("custom_text", False) or hf
    try:
        import transformers

        transformers.logging.set_verbosity_error()
        model = (open_clip.CustomTextCLIP if custom else open_clip.CLIP)(**model_cfg)
        missing, unexpected = model.load_state_dict(load_file(str(folder / WEIGHTS)), strict=False)
    except (RuntimeError, OSError, TypeError, ValueError, KeyError) as exc:
        raise ModelFolderError(f"cannot build the model in {folder}: {exc}") from exc
    if missing or unexpected:
        raise ModelFolderError(
            f"the weights in {folder / WEIGHTS} do not fit its config ({len(missing)} missing, {len(unexpected)} unexpected, "
            f"e.g. {(missing or unexpected)[0]}); train the model again with `rtag align ... --force`"
        )
    model.eval()
    colour_head = load_file(str(folder / COLOUR))["weight"] if manifest.get("colour_head") else None
    tok = manifest["tokenizer"]
    if tok["kind"] == "hf":
        from open_clip.tokenizer import HFTokenizer

        tokenizer, tokenizer_name = HFTokenizer(str(folder / TEXT_DIR), context_length=tok.get("context_length", 77)), None
    else:
        _register_configs()
        tokenizer, tokenizer_name = open_clip.get_tokenizer(tok["name"]), tok["name"]
    pre = config["preprocess_cfg"]
    checksum = manifest["files"][WEIGHTS]["sha256"]
    if colour_head is not None:
        checksum = f"{checksum}+{manifest['files'][COLOUR]['sha256'][:16]}"
    cfg_for_saving = copy.deepcopy(config["model_cfg"])
    return ClipModel(str(folder), model, tokenizer, int(pre["size"]), tuple(pre["mean"]), tuple(pre["std"]), checksum,
                     _resolved(cfg_for_saving, folder), colour_head=colour_head, tokenizer_name=tokenizer_name)


def _resolved(cfg: dict, folder: Path) -> dict:
    text = cfg.get("text_cfg", {})
    if "hf_model_name" in text:
        text["hf_model_name"] = text["hf_tokenizer_name"] = str(folder / TEXT_DIR)
    return cfg
