"""Test helper shared by the model and weight tests."""

import torch
from torch import nn


def random_state_dict(model: nn.Module, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random, well-scaled values for every entry of ``model``'s state dict (``model`` may be on meta).

    Faster than initialising the real models, and BatchNorm statistics are not left at 0/1.
    """
    g = torch.Generator().manual_seed(seed)
    sd: dict[str, torch.Tensor] = {}
    for k, v in model.state_dict().items():
        if not v.is_floating_point():  # num_batches_tracked
            sd[k] = torch.tensor(7)
        elif k.endswith("running_var"):
            sd[k] = torch.rand(v.shape, generator=g) + 0.5
        elif v.dim() > 1:
            sd[k] = torch.randn(v.shape, generator=g) * (2 / v[0].numel()) ** 0.5
        else:
            sd[k] = torch.randn(v.shape, generator=g) * 0.1 + (1.0 if k.endswith("bn.weight") else 0.0)
    return sd
