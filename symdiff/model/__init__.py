"""The Transformer denoiser network, its configuration, and saving / loading it (safetensors only)."""

from .config import DenoiserConfig
from .denoiser import TransformerDenoiser
from .io import from_pretrained, save_pretrained

__all__ = ["DenoiserConfig", "TransformerDenoiser", "from_pretrained", "save_pretrained"]
