"""A tiny sentence-transformers model for the ONNX text backend's tests: a random
two-layer BERT with the packaged MiniLM's tokenizer, and the texts tokenisers trip on."""

from __future__ import annotations

TEXTS = ["red cotton shirt", "blue denim jeans for men", "a", "leather shoes " * 40, "Ünïcödé silk dress"]
# what tokenisers trip on: nothing, blanks, accents and CJK, special tokens typed by a user, truncation
AWKWARD = ["", "   ", "Ünïcödé  silk\tdress", "夏季 连衣裙", "a [SEP] b [MASK] [PAD] [CLS]", "word " * 200, "don't-stop/now!!"]


def tiny_sentence_model(folder, pooling="mean", dense=False):
    """A sentence-transformers model folder in ``folder``: a tiny random BERT with the
    packaged MiniLM's tokenizer, ``pooling`` and, with ``dense``, a Dense layer."""
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer, BertConfig, BertModel

    from retrieval_tagger.encoders.lite import minilm_path

    try:
        from sentence_transformers.sentence_transformer import modules as models
    except ImportError:  # sentence-transformers before 6
        from sentence_transformers import models

    tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(folder / "bert")
    tokenizer.save_pretrained(folder / "bert")
    modules = [models.Transformer(str(folder / "bert"), max_seq_length=64), models.Pooling(32, pooling)]
    if dense:
        modules.append(models.Dense(32, 16))
    modules.append(models.Normalize())
    SentenceTransformer(modules=modules, device="cpu").save(str(folder / "st"))
    return str(folder / "st")
