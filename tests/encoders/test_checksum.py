"""Checksums of model weights: equal for equal weights whatever the order they were
registered in, different for any change of a value, a buffer, a dtype or a name."""

from __future__ import annotations

import copy

import torch

from retrieval_tagger.encoders.checksum import state_dict_sha256


class Forward(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Linear(4, 3)
        self.b = torch.nn.BatchNorm1d(3)


class Backward(torch.nn.Module):
    """Forward's layers, registered the other way round."""

    def __init__(self):
        super().__init__()
        self.b = torch.nn.BatchNorm1d(3)
        self.a = torch.nn.Linear(4, 3)


def test_equal_weights_have_equal_checksums_whatever_their_order():
    torch.manual_seed(0)
    model = Forward()
    backward = Backward()
    backward.load_state_dict(model.state_dict())
    assert list(backward.state_dict()) != list(model.state_dict())
    assert state_dict_sha256(backward) == state_dict_sha256(model) == state_dict_sha256(copy.deepcopy(model))


def test_any_change_of_a_value_a_buffer_a_dtype_or_a_name_changes_the_checksum():
    torch.manual_seed(0)
    model = Forward()
    nudged, counted = copy.deepcopy(model), copy.deepcopy(model)
    with torch.no_grad():
        nudged.a.weight[0, 0] += 1e-6
    counted.b.num_batches_tracked += 1  # a buffer, not a parameter
    variants = [model, nudged, counted, copy.deepcopy(model).double(), torch.nn.Sequential(copy.deepcopy(model))]  # the last: "0." before each name
    assert len({state_dict_sha256(m) for m in variants}) == len(variants)
