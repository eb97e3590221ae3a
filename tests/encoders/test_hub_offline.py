"""Offline by default (hub.py): a model an index names loads from local files only, and
weights missing from the cache are a clear error naming RTAG_ALLOW_DOWNLOAD, without a
single connection; a model the user names (no index record) may still be downloaded."""

from __future__ import annotations

import os
import socket
import sys

import pytest

from retrieval_tagger.encoders import hub
from retrieval_tagger.encoders.registry import load_image_encoder, load_text_encoder
from retrieval_tagger.errors import EncoderError

RECORDED = {"checksum": "0" * 64, "image_size": 32}
HUB_NAME = "rtag-tests/no-such-model"  # a hub name, never in any cache


@pytest.fixture()
def connections(monkeypatch) -> list:
    """Every attempt to resolve a host or open a connection, refused and recorded."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args[:2])
        raise OSError("network access in a test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.delenv(hub.ALLOW_DOWNLOAD, raising=False)
    return attempts


@pytest.fixture()
def fake_tag(monkeypatch):
    """rtag-tiny given a published tag whose weights live on the hub (and are not cached)."""
    from open_clip import pretrained

    from retrieval_tagger.encoders.clip_models import register_configs

    register_configs()
    monkeypatch.setitem(pretrained._PRETRAINED, "rtag-tiny", {"hubtag": {"hf_hub": f"{HUB_NAME}/"}})
    return "rtag-tiny:hubtag"


def test_a_hub_text_model_named_by_an_index_is_not_downloaded(connections):
    with pytest.raises(EncoderError, match=f"{HUB_NAME}.*not in the local cache.*RTAG_ALLOW_DOWNLOAD=1"):
        load_text_encoder(HUB_NAME, "cpu", "torch", recorded=RECORDED)
    assert connections == []


def test_a_hub_image_model_named_by_an_index_is_not_downloaded(connections, fake_tag):
    with pytest.raises(EncoderError, match="rtag-tiny:hubtag.*not in the local cache.*RTAG_ALLOW_DOWNLOAD=1"):
        load_image_encoder(fake_tag, "cpu", "torch", recorded=RECORDED)
    assert connections == []


def test_models_the_user_names_or_allows_may_download(fake_tag, monkeypatch):
    """Without an index record, or with RTAG_ALLOW_DOWNLOAD=1, the libraries may go to the
    hub: seen by stand-ins for the loaders that note whether the hub was offline."""
    import huggingface_hub.constants as constants
    import open_clip
    import sentence_transformers

    seen = []

    def loader(*args, **kwargs):
        seen.append((constants.HF_HUB_OFFLINE, kwargs.get("local_files_only", False)))
        raise RuntimeError("stand-in loader")

    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", loader)
    monkeypatch.setattr(open_clip, "create_model", loader)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv(hub.ALLOW_DOWNLOAD, raising=False)
    for allow in ("", "1"):
        monkeypatch.setenv(hub.ALLOW_DOWNLOAD, allow)
        for recorded in (None, RECORDED):
            with pytest.raises(RuntimeError, match="stand-in"):
                load_text_encoder(HUB_NAME, "cpu", "torch", recorded=recorded)
            with pytest.raises(EncoderError):
                load_image_encoder(fake_tag, "cpu", "torch", recorded=recorded)
    # (hub offline, local_files_only) per load: text then image, user-named then index-named; then all allowed
    assert seen == [(False, False)] * 2 + [(True, True), (True, False)] + [(False, False)] * 4
    assert constants.HF_HUB_OFFLINE is False


def test_local_models_named_by_an_index_load_offline(tiny_text_model, connections):
    encoder = load_text_encoder(tiny_text_model, "cpu", "torch", recorded=RECORDED)
    assert encoder.encode(["red shirt"]).shape == (1, 32)
    assert connections == []


def test_offline_puts_the_hub_settings_back(monkeypatch):
    import huggingface_hub.constants as constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "0")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    with hub.offline():
        assert constants.HF_HUB_OFFLINE is True and os.environ["HF_HUB_OFFLINE"] == os.environ["TRANSFORMERS_OFFLINE"] == "1"
    assert constants.HF_HUB_OFFLINE is False and "HF_HUB_OFFLINE" not in os.environ and os.environ["TRANSFORMERS_OFFLINE"] == "0"
    with hub.offline(enabled=False):
        assert constants.HF_HUB_OFFLINE is False
    # imported for the first time inside the block: left as the environment says outside it
    monkeypatch.delitem(sys.modules, "huggingface_hub.constants")
    with hub.offline():
        sys.modules["huggingface_hub.constants"] = constants
    assert constants.HF_HUB_OFFLINE is False


@pytest.mark.parametrize(("value", "allowed"), [("1", True), ("true", True), ("0", False), ("", False)])
def test_downloads_allowed(monkeypatch, value, allowed):
    monkeypatch.setenv(hub.ALLOW_DOWNLOAD, value)
    assert hub.downloads_allowed() is allowed
