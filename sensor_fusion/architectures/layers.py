"""Building blocks shared by the architectures, each able to say how many MACs it spends."""
from __future__ import annotations

import weakref

import torch
import torch.nn.functional as F
from torch import nn

# Per module, the MACs of one row: walking the module tree on every tick was ~10 % of NVSF-A's
# decision time (profiled, batch 1). A module's layers do not change after it is built.
_LINEAR_MACS_PER_ROW: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def linear_macs(module: nn.Module, rows: int) -> int:
    """MACs of applying every ``nn.Linear`` inside ``module`` once to ``rows`` rows."""
    per_row = _LINEAR_MACS_PER_ROW.get(module)
    if per_row is None:
        per_row = sum(m.in_features * m.out_features for m in module.modules() if isinstance(m, nn.Linear))
        _LINEAR_MACS_PER_ROW[module] = per_row
    return rows * per_row


def patchify(images: torch.Tensor, patch: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, (H / patch) * (W / patch), C * patch * patch), row-major patches."""
    b, c, h, w = images.shape
    grid = images.reshape(b, c, h // patch, patch, w // patch, patch)     # (B, C, Gh, p, Gw, p)
    grid = grid.permute(0, 2, 4, 1, 3, 5)                                  # (B, Gh, Gw, C, p, p)
    return grid.reshape(b, (h // patch) * (w // patch), c * patch * patch)


def patchify_volume(volume: torch.Tensor, patch: int) -> torch.Tensor:
    """(B, T, C, H, W) -> (B, N_patches, T, C * patch * patch): spatial patches keeping time separate."""
    b, t, c, h, w = volume.shape
    grid = volume.reshape(b, t, c, h // patch, patch, w // patch, patch)  # (B, T, C, Gh, p, Gw, p)
    grid = grid.permute(0, 3, 5, 1, 2, 4, 6)                               # (B, Gh, Gw, T, C, p, p)
    return grid.reshape(b, (h // patch) * (w // patch), t, c * patch * patch)


class TransformerBlock(nn.Module):
    """Pre-LayerNorm self-attention block (nanoGPT style) with a key-validity mask."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f'd_model={d_model} must be divisible by n_heads={n_heads}')
        self.n_heads = n_heads
        self.norm_attn = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.norm_ff = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))

    def forward(self, x: torch.Tensor, key_valid: torch.Tensor) -> torch.Tensor:
        """x: (B, L, D); key_valid: (B, L) bool, at least one True per row."""
        b, length, d = x.shape
        q, k, v = self.qkv(self.norm_attn(x)).split(d, dim=2)             # 3 x (B, L, D)
        q, k, v = (t.reshape(b, length, self.n_heads, d // self.n_heads).transpose(1, 2)
                   for t in (q, k, v))                                     # (B, H, L, D/H)
        attn_mask = key_valid[:, None, None, :]                            # (B, 1, 1, L)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)   # (B, H, L, D/H)
        x = x + self.proj(y.transpose(1, 2).reshape(b, length, d))
        return x + self.ff(self.norm_ff(x))


def transformer_macs(block: TransformerBlock, batch: int, length: int) -> int:
    """Dense MACs of one block on (batch, length) tokens: projections plus the two attention products."""
    d = block.proj.in_features
    return linear_macs(block, batch * length) + 2 * batch * length * length * d
