"""The embedded simulator's ROS-free parts: sensor models that also serve robots and Gazebo.

Rendering is headless: ``MUJOCO_GL`` must be chosen before MuJoCo is first imported, so it is chosen
here: the user's value if set, else EGL when ``libEGL.so.1`` loads, else OSMesa (software).

Mesa's software rasteriser (llvmpipe, what EGL and OSMesa run on a machine without a GPU) is told to
rasterise on the calling thread (``LP_NUM_THREADS=0``, unless the user set it): the simulator's images
are 96 x 96 and smaller, where its worker threads cost more in hand-offs than they save. Measured on
the 2-core machine, one simulated second of an expert episode took 1.21 s of wall time instead of
1.42 s, with byte-identical images and events; a GPU driver ignores the variable.
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
os.environ.setdefault('LP_NUM_THREADS', '0')
