"""The fusion architectures, registered by their launch-parameter keys (``architecture:=nvsf_h``)."""
from .base import (ARCHITECTURES, ArchitectureConfig, FusionArchitecture, PolicyOutput, State,
                   build_architecture, load_config)
from . import nvsf_a, nvsf_c, nvsf_h  # noqa: F401  (registration)

__all__ = ['ARCHITECTURES', 'ArchitectureConfig', 'FusionArchitecture', 'PolicyOutput', 'State',
           'build_architecture', 'load_config']
