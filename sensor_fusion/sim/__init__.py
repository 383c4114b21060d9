"""The embedded simulator's ROS-free parts: sensor models that also serve robots and Gazebo.

Rendering is headless: ``MUJOCO_GL`` must be chosen before MuJoCo is first imported, so it is chosen
here: the user's value if set, else EGL when ``libEGL.so.1`` loads, else OSMesa (software).
"""
import ctypes
import os


def _headless_backend() -> str:
    for library, backend in (('libEGL.so.1', 'egl'), ('libOSMesa.so.8', 'osmesa'), ('libOSMesa.so', 'osmesa')):
        try:
            ctypes.CDLL(library)
            return backend
        except OSError:
            continue
    return 'egl'   # neither loads: MuJoCo's error will name what is missing (see `make setup`)


os.environ.setdefault('MUJOCO_GL', _headless_backend())
