"""AlignOptions: known names and sensible values only, each refusal saying what is valid."""

from __future__ import annotations

import pytest

from retrieval_tagger.align.options import AlignOptions
from retrieval_tagger.errors import AlignError


def test_given_options_are_taken_and_the_rest_keep_their_defaults():
    opts = AlignOptions.from_kwargs(epochs=3, image_head="mlp", val_fraction=0.2)
    assert (opts.epochs, opts.image_head, opts.val_fraction) == (3, "mlp", 0.2)
    assert opts.lr == AlignOptions().lr and opts.seed == AlignOptions().seed


def test_unknown_names_are_refused_with_the_valid_ones():
    with pytest.raises(AlignError, match="unknown align option\\(s\\) epoch; valid: .*epochs"):
        AlignOptions.from_kwargs(epoch=3)


@pytest.mark.parametrize("given, message", [
    ({"epochs": 0}, "epochs must be at least 1, got 0"),
    ({"batch_size": 0}, "batch_size must be at least 1"),
    ({"patience": -1}, "patience must be at least 1"),
    ({"val_fraction": 0.0}, "val_fraction must be between 0 and 0.5, got 0.0"),
    ({"val_fraction": 0.5}, "val_fraction must be between 0 and 0.5"),
    ({"image_head": "conv"}, "image_head must be linear or mlp, got 'conv'"),
    ({"lr": 0.0}, "lr and text_lr must be positive"),
    ({"text_lr": -1e-5}, "lr and text_lr must be positive"),
    ({"unlocked_text_layers": -1}, "unlocked_text_layers non-negative"),
])
def test_bad_values_are_refused(given, message):
    with pytest.raises(AlignError, match=message):
        AlignOptions.from_kwargs(**given)
