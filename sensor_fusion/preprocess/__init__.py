"""Pure transforms from raw sensor arrays to model tensors; none of them writes into its input."""
from .pipeline import FusionInputs, PreprocessConfig, Preprocessor, collate

__all__ = ['FusionInputs', 'PreprocessConfig', 'Preprocessor', 'collate']
