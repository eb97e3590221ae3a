"""A toy aligner for checkpoint tests: trainable weights and an optimizer, as
align/checkpoint.py sees an aligner, with values that say which epoch wrote them."""

from __future__ import annotations

import torch


class Toy:
    """Trainable weights and an optimizer, as checkpoint.save and load see an aligner."""

    def __init__(self):
        self.params = {"head.weight": torch.nn.Parameter(torch.zeros(4, 3)), "head.bias": torch.nn.Parameter(torch.zeros(3))}
        self.optimizer = torch.optim.AdamW(self.params.values(), lr=0.1)

    def named_trainable(self) -> dict:
        return self.params

    def epoch(self, value: float) -> None:
        """Weights and optimizer state that say which epoch they belong to."""
        with torch.no_grad():
            for p in self.params.values():
                p.fill_(value)
                p.grad = torch.full_like(p, value)
        self.optimizer.step()
        with torch.no_grad():
            for p in self.params.values():
                p.fill_(value)


FINGERPRINT = {"base_checksum": "x", "data_sha256": "y", "options": {}}
