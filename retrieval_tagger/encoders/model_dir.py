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
import shutil
from pathlib import Path

from retrieval_tagger import artifacts
from retrieval_tagger.errors import AlignError, ModelFolderError

FORMAT = "rtag-aligned-model"
FORMAT_VERSION = 1
MODEL = artifacts.Format(FORMAT, FORMAT_VERSION, "an aligned model", ModelFolderError, "train it again with `rtag align ... --force`")
CONFIG = "open_clip_config.json"
WEIGHTS = "open_clip_model.safetensors"
COLOUR = "colour_head.safetensors"
TEXT_DIR = "text"
# what a Hugging Face text tower needs besides its weights (which live in WEIGHTS)
TEXT_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
              "merges.txt", "vocab.json", "sentencepiece.bpe.model", "spiece.model")


def check_writable(out: Path, force: bool) -> None:
    """Refuse to overwrite a finished model (without ``force``) or a folder that is not one."""
    if not out.exists():
        return
    if not out.is_dir():
        raise AlignError(f"{out} exists and is not a folder: choose another --output")
    if (out / artifacts.MANIFEST).is_file():
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


def save_model_dir(out: Path, built, model, colour_weight, base: str, training: dict) -> dict:
    """Write the model folder atomically (artifacts.write_folder): it replaces ``out``,
    work area included, only once complete."""
    from safetensors.torch import save_file

    text_cfg = built.config.get("text_cfg", {})
    source = Path(text_cfg["hf_model_name"]) if "hf_model_name" in text_cfg else None
    if source is not None and not source.is_dir():
        raise AlignError(f"the text tower {source} is not a local folder; cannot copy its tokenizer into the model folder")
    with artifacts.write_folder(out) as tmp:
        if source is not None:
            (tmp / TEXT_DIR).mkdir()
            for name in TEXT_FILES:
                if (source / name).is_file():
                    shutil.copy2(source / name, tmp / TEXT_DIR / name)
            tokenizer = {"kind": "hf", "path": TEXT_DIR, "context_length": text_cfg.get("context_length", 77)}
        else:
            tokenizer = {"kind": "open_clip", "name": built.tokenizer_name}
        config = {"model_cfg": _portable_config(built.config),
                  "preprocess_cfg": {"size": built.size, "mean": list(built.mean), "std": list(built.std), "resize_mode": "pad_white"}}
        (tmp / CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS), metadata={"format": "pt"})
        if colour_weight is not None:
            save_file({"weight": colour_weight.contiguous()}, str(tmp / COLOUR))
        manifest = {
            **artifacts.header(MODEL, versions=_library_versions()),
            "base": {"spec": base, "checksum": built.checksum},
            "tokenizer": tokenizer,
            "colour_head": colour_weight is not None,
            "training": training,
        }
        artifacts.write_manifest(tmp, manifest, recursive=True)
    return manifest


def _library_versions() -> dict:
    import open_clip
    import torch

    return {"open_clip": open_clip.__version__, "torch": torch.__version__}


def read_model_manifest(folder: Path) -> dict:
    """Read and check an aligned model folder's manifest and every file it lists (size and sha256)."""
    if not (folder / artifacts.MANIFEST).is_file():
        raise ModelFolderError(f"{folder} is not an aligned model folder (no {artifacts.MANIFEST}); train one with `rtag align CATALOG --output {folder}`")
    return artifacts.read_manifest(folder, MODEL, verify="sha256")


def load_model_dir(folder: str | Path):
    """Load an aligned model folder as a ``clip_models.ClipModel``."""
    import open_clip
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from retrieval_tagger.encoders.clip_models import ClipModel, clip_tokenizer

    folder = Path(folder).resolve()
    manifest = read_model_manifest(folder)
    try:
        config = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFolderError(f"{folder / CONFIG} is corrupt ({exc}); train the model again with `rtag align ... --force`") from exc
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
    except (RuntimeError, OSError, TypeError, ValueError, KeyError, SafetensorError) as exc:
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
        tokenizer, tokenizer_name = clip_tokenizer(tok["name"]), tok["name"]
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
