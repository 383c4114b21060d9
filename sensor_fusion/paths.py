"""Where the package's data (config/, models/) lives: a source checkout or an installed share/."""
from __future__ import annotations

import os
import sys
from pathlib import Path

_PACKAGE = 'sensor_fusion'


def share_dir() -> Path:
    """The folder that holds ``config/`` and ``models/``.

    Looked up, in order: ``$SENSOR_FUSION_SHARE``; the source checkout this module sits in;
    the ament index (a colcon install); ``<prefix>/share/sensor_fusion`` (a pip install).
    """
    override = os.environ.get('SENSOR_FUSION_SHARE')
    candidates = [Path(override)] if override else []
    candidates.append(Path(__file__).resolve().parent.parent)
    try:
        from ament_index_python.packages import get_package_share_directory
        candidates.append(Path(get_package_share_directory(_PACKAGE)))
    except Exception:   # not installed with colcon, or no ament_index: fall through to the prefix
        pass
    candidates.append(Path(sys.prefix) / 'share' / _PACKAGE)
    for candidate in candidates:
        if (candidate / 'config' / 'architectures').is_dir():
            return candidate
    raise FileNotFoundError(f'cannot find sensor_fusion config/ in any of {[str(c) for c in candidates]}; '
                            'set SENSOR_FUSION_SHARE to the folder that holds config/ and models/')


def config_path(*parts: str) -> Path:
    return share_dir().joinpath('config', *parts)


def models_dir() -> Path:
    return share_dir() / 'models'
