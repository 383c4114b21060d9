"""`sensor-fusion up`: the plan's nodes as processes; Ctrl-C stops them cleanly; a dying node fails the run."""
import signal
import subprocess
import sys
import time

import numpy as np

from harness import ros_context  # noqa: F401  (fixture)
from harness import Harness, spin_until


def up(*arguments) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, '-m', 'sensor_fusion', 'up', *arguments], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_up_synthetic_commands_and_stops_on_ctrl_c_with_a_zero_command(ros_context):
    runner = up('synthetic', 'architecture:=nvsf_a', 'control_rate_hz:=20.0')
    harness = Harness(ros_context)
    try:
        spin_until(harness.executor, lambda: runner.poll() is not None or
                   len([c for c in harness.commands if np.any(c.values)]) >= 20, 60.0)
        assert runner.poll() is None, runner.stdout.read()[-3000:]
        assert len([c for c in harness.commands if np.any(c.values)]) >= 20, 'no commands from the synthetic bring-up'
        stopped_at = time.perf_counter()
        runner.send_signal(signal.SIGINT)
        assert spin_until(harness.executor, lambda: runner.poll() is not None, 30.0)
        assert runner.returncode == 0, runner.stdout.read()[-3000:]
        final = harness.commands_since(stopped_at)
        assert final and np.all(final[-1].values == 0), 'no zero command on shutdown'
    finally:
        harness.close()
        if runner.poll() is None:
            runner.kill()


def test_up_exits_non_zero_when_a_node_dies():
    runner = up('robot', 'architecture:=nvsf_x')
    output, _ = runner.communicate(timeout=120)
    assert runner.returncode != 0
    assert "unknown architecture 'nvsf_x'" in output and 'exited with code' in output


def test_up_sim_closes_the_loop_between_the_simulator_and_the_fusion_node(ros_context):  # noqa: F811
    runner = up('sim', 'architecture:=nvsf_a', 'control_rate_hz:=20.0')
    harness = Harness(ros_context)
    try:
        spin_until(harness.executor, lambda: runner.poll() is not None or
                   len([c for c in harness.commands if np.any(c.values)]) >= 20, 90.0)
        assert runner.poll() is None, runner.stdout.read()[-3000:]
        assert len([c for c in harness.commands if np.any(c.values)]) >= 20, 'the fusion node never commanded the sim'
        assert all(np.all(np.abs(c.values) <= [0.2] * 3 + [1.0] * 3) for c in harness.commands)   # config/sim.yaml
        runner.send_signal(signal.SIGINT)
        assert spin_until(harness.executor, lambda: runner.poll() is not None, 30.0)
        assert runner.returncode == 0
    finally:
        harness.close()
        if runner.poll() is None:
            runner.kill()
