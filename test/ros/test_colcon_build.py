"""`colcon build` of the package, as a ROS workspace would build it, and the installed package works."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COLCON = shutil.which('colcon', path=str(Path(sys.executable).parent)) or shutil.which('colcon')


@pytest.mark.skipif(COLCON is None, reason='colcon not installed (make setup installs colcon-common-extensions)')
def test_colcon_build_installs_a_working_package(tmp_path):
    env = {**os.environ, 'PATH': f'{Path(sys.executable).parent}{os.pathsep}{os.environ["PATH"]}'}
    result = subprocess.run([COLCON, '--log-base', 'log', 'build', '--base-paths', str(REPO), '--build-base', 'build',
                             '--install-base', 'install', '--packages-select', 'sensor_fusion'],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    install = tmp_path / 'install' / 'sensor_fusion'
    for relative in ('share/sensor_fusion/package.xml', 'share/sensor_fusion/config/fusion_node.yaml',
                     'share/sensor_fusion/config/fastdds_localhost.xml', 'share/sensor_fusion/launch/fusion.launch.py',
                     'share/sensor_fusion/config/architectures/nvsf_h.yaml', 'lib/sensor_fusion/fusion_node',
                     'share/sensor_fusion/worlds/tabletop.sdf', 'share/sensor_fusion/config/gz_bridge.yaml',
                     'lib/sensor_fusion/sim_node', 'share/sensor_fusion/launch/gazebo.launch.py',
                     'lib/sensor_fusion/synthetic_sensors_node', 'share/ament_index/resource_index/packages/sensor_fusion'):
        assert (install / relative).exists(), relative
    # The installed package (not this checkout) is imported and finds its share/ through the ament index.
    probe = ('import sensor_fusion, sensor_fusion.paths as p, sensor_fusion.ros.fusion_node; '
             'print(sensor_fusion.__file__); print(p.share_dir())')
    shell = f'source install/setup.bash && cd / && "{sys.executable}" -c "{probe}"'
    result = subprocess.run(['bash', '-c', shell], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    module_file, share = result.stdout.split()[-2:]
    assert module_file.startswith(str(install)) and share == str(install / 'share' / 'sensor_fusion')
