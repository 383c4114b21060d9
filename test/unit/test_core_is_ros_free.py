import subprocess
import sys

CORE_MODULES = ('sensor_fusion', 'sensor_fusion.policy', 'sensor_fusion.architectures', 'sensor_fusion.backends.loihi',
                'sensor_fusion.preprocess', 'sensor_fusion.cli', 'sensor_fusion.ingest', 'sensor_fusion.safety',
                'sensor_fusion.event_codecs', 'sensor_fusion.bringup', 'sensor_fusion.runner', 'sensor_fusion.dds',
                'sensor_fusion.bag_types', 'sensor_fusion.decode', 'sensor_fusion.sim.simulator', 'sensor_fusion.interfaces')


def test_importing_the_core_loads_no_rclpy():
    code = (f'import sys, {", ".join(CORE_MODULES)}; '
            'bad = sorted(m for m in sys.modules '
            'if m.split(".")[0] in ("rclpy", "rosidl_runtime_py") or m.endswith("_msgs")); '
            'print(bad); sys.exit(1 if bad else 0)')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
