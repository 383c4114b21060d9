"""The node plan for each bring-up target: the single source of truth (ROS-free).

``launch/*.launch.py`` (launch_ros), ``sensor-fusion up`` (separate processes, no launch
needed) and the integration tests all start what :func:`plan` returns: node names,
executables, parameter files plus overrides, and remappings.

>>> [node.name for node in plan('robot', architecture='nvsf_a')]
['fusion_node']
>>> plan('robot', backend='loihi_sim')[0].parameters['backend']
'loihi_sim'
>>> plan('robot', control_rate_hz='20.0')[0].parameters['control_rate_hz']
20.0
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Optional

import yaml

from .paths import config_path, models_dir, share_dir
from .registry import Registry

PACKAGE = 'sensor_fusion'

# Launch arguments common to every target: name -> (default, description). An empty default
# means "whatever the params file says".
LAUNCH_ARGUMENTS: dict[str, tuple[str, str]] = {
    'architecture': ('', 'fusion architecture: nvsf_c | nvsf_a | nvsf_h'),
    'backend': ('', 'compute backend: cpu | cuda | loihi_sim'),
    'command_interface': ('', 'command output: twist | joint_velocity | joint_trajectory'),
    'params_file': ('', 'YAML parameters for fusion_node (default: config/fusion_node.yaml)'),
    'use_sim_time': ('', 'true to follow /clock (simulators); default per target'),
}


@dataclass(frozen=True)
class NodePlan:
    name: str                                     # node name (also the params-file key)
    executable: str                               # console script, installed to lib/<package> (and bin/)
    module: str                                   # the same entry point as ``python -m module`` ('' if not ours)
    params_files: tuple[Path, ...] = ()
    parameters: dict = field(default_factory=dict)   # overrides, applied after the files
    remappings: tuple[tuple[str, str], ...] = ()
    package: str = PACKAGE


TARGETS: Registry = Registry('bring-up target')


def _fusion_node(params_file: str, use_sim_time: Optional[bool], overrides: dict) -> NodePlan:
    parameters = {k: v for k, v in overrides.items() if v not in ('', None)}
    if use_sim_time is not None:
        parameters['use_sim_time'] = use_sim_time
    return NodePlan(name='fusion_node', executable='fusion_node', module='sensor_fusion.ros.fusion_node',
                    params_files=(Path(params_file) if params_file else config_path('fusion_node.yaml'),),
                    parameters=parameters)


@TARGETS.register('robot')
def _robot(params_file: str, use_sim_time: Optional[bool], overrides: dict) -> list[NodePlan]:
    """A physical robot: only the fusion node; the robot's drivers publish the sensor topics."""
    return [_fusion_node(params_file, False if use_sim_time is None else use_sim_time, overrides)]


@TARGETS.register('synthetic')
def _synthetic(params_file: str, use_sim_time: Optional[bool], overrides: dict) -> list[NodePlan]:
    """Bring-up check without a robot: synthetic sensor streams at real rates + the fusion node."""
    fusion = _fusion_node(params_file, use_sim_time, {'allow_untrained': True, **overrides})
    sensors = NodePlan(name='synthetic_sensors', executable='synthetic_sensors_node',
                       module='sensor_fusion.ros.synthetic_sensors_node')
    return [sensors, fusion]


@TARGETS.register('sim')
def _sim(params_file: str, use_sim_time: Optional[bool], overrides: dict) -> list[NodePlan]:
    """The embedded MuJoCo world (sim_node) and the fusion node, over ROS 2 topics.

    Random weights are allowed until trained ones ship in models/ (the training issue); then the
    fusion node loads those. ``use_sim_time:=true`` runs both on the simulator's /clock.
    """
    sim_file = config_path('sim.yaml')
    weights_missing = not any(models_dir().glob('*.safetensors'))
    fusion_overrides = {'allow_untrained': True, **overrides} if weights_missing else overrides
    fusion = _fusion_node(params_file, use_sim_time, fusion_overrides)
    fusion = replace(fusion, params_files=fusion.params_files + (sim_file,))
    sim_parameters = {} if use_sim_time is None else {'use_sim_time': use_sim_time}
    sim = NodePlan(name='sim_node', executable='sim_node', module='sensor_fusion.ros.sim_node',
                   params_files=(sim_file,), parameters=sim_parameters)
    return [sim, fusion]


@TARGETS.register('gazebo')
def _gazebo(params_file: str, use_sim_time: Optional[bool], overrides: dict) -> list[NodePlan]:
    """Gazebo (gz sim) with worlds/tabletop.sdf, its bridge, the emulator nodes and the fusion node.

    Needs ROS 2 with ros_gz (not installable on the development machines: tested statically).
    Every node runs on Gazebo's /clock.
    """
    gazebo_file = config_path('gazebo.yaml')
    sim_time = {'use_sim_time': True if use_sim_time is None else use_sim_time}
    world = share_dir() / 'worlds' / 'tabletop.sdf'
    fusion = _fusion_node(params_file, sim_time['use_sim_time'], overrides)
    fusion = replace(fusion, params_files=fusion.params_files + (gazebo_file,))
    ours = [NodePlan(name=name, executable=f'{module}', module=f'sensor_fusion.ros.{module}',
                     params_files=(gazebo_file,), parameters=dict(sim_time))
            for name, module in (('event_emulator', 'event_emulator_node'), ('contact_audio', 'contact_audio_node'),
                                 ('joint_command_splitter', 'joint_command_splitter_node'))]
    return [NodePlan(name='gz_server', executable='gzserver', module='', package='ros_gz_sim',
                     parameters={'world_sdf_file': str(world), **sim_time}),
            NodePlan(name='gz_bridge', executable='parameter_bridge', module='', package='ros_gz_bridge',
                     parameters={'config_file': str(config_path('gz_bridge.yaml')), **sim_time}),
            *ours, fusion]


def plan(target: str, architecture: str = '', backend: str = '', command_interface: str = '',
         params_file: str = '', use_sim_time: str | bool | None = None, **overrides) -> list[NodePlan]:
    """The nodes to start for ``target`` with the launch arguments (strings as launch passes them)."""
    build: Callable = TARGETS.get(target)
    if isinstance(use_sim_time, str):
        use_sim_time = parse_bool('use_sim_time', use_sim_time) if use_sim_time else None
    if params_file and not Path(params_file).is_file():
        raise FileNotFoundError(f'params_file {params_file} does not exist')
    # Extra node parameters arrive as text (name:=value); read them as YAML, as `ros2 run -p` does.
    typed = {k: yaml.safe_load(v) if isinstance(v, str) else v for k, v in overrides.items()}
    overrides = {'architecture': architecture, 'backend': backend, 'command_interface': command_interface, **typed}
    return build(params_file, use_sim_time, overrides)


def parse_bool(name: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ('true', '1', 'yes', 'on'):
        return True
    if lowered in ('false', '0', 'no', 'off'):
        return False
    raise ValueError(f"{name} must be true or false, got '{text}'")


def parse_launch_arguments(items: list[str]) -> dict[str, str]:
    """``['architecture:=nvsf_h', ...]`` -> dict, as ``ros2 launch`` reads them.

    >>> parse_launch_arguments(['architecture:=nvsf_h', 'backend:=loihi_sim'])
    {'architecture': 'nvsf_h', 'backend': 'loihi_sim'}
    """
    parsed = {}
    for item in items:
        name, sep, value = item.partition(':=')
        if not sep or not name:
            raise ValueError(f"launch arguments look like name:=value, got '{item}'")
        parsed[name] = value
    return parsed
