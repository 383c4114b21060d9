"""``sensor-fusion up``: start a bring-up plan's nodes as separate processes (ROS-free; no launch).

Each node runs through its console script (or ``python -m``) with ``--ros-args --params-file``
for the plan's files and one generated file holding the overrides, plus remappings. The runner
forwards SIGINT/SIGTERM to every node, waits for them, and exits non-zero as soon as a node dies
(the others are stopped), so a supervisor or CI sees the failure.
"""
from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional, Sequence

import yaml

from .bringup import NodePlan
from .dds import apply_localhost_defaults

log = logging.getLogger(__name__)
STOP_TIMEOUT_S = 10.0


def node_command(node: NodePlan, overrides_file: Path) -> list[str]:
    """The command line that starts ``node`` (console script when installed beside this Python)."""
    script = Path(sys.executable).parent / node.executable
    if script.is_file():
        head = [str(script)]
    elif shutil.which(node.executable):
        head = [shutil.which(node.executable)]
    elif node.module:
        head = [sys.executable, '-m', node.module]
    else:
        raise FileNotFoundError(f"{node.package}'s {node.executable} is not installed (needed by node {node.name}); "
                                f'install ROS 2 with {node.package} and source it')
    args = ['--ros-args', '-r', f'__node:={node.name}']
    for params_file in node.params_files:
        args += ['--params-file', str(params_file)]
    args += ['--params-file', str(overrides_file)]
    for source, target in node.remappings:
        args += ['-r', f'{source}:={target}']
    return head + args


def write_overrides(node: NodePlan, folder: Path) -> Path:
    path = folder / f'{node.name}.overrides.yaml'
    path.write_text(yaml.safe_dump({node.name: {'ros__parameters': dict(node.parameters)}}))
    return path


class Runner:
    """Starts, watches and stops one plan's processes."""

    def __init__(self, nodes: Sequence[NodePlan], env: Optional[dict] = None):
        self.nodes = list(nodes)
        self.env = apply_localhost_defaults(dict(os.environ if env is None else env))
        self.processes: dict[str, subprocess.Popen] = {}
        self._folder = tempfile.TemporaryDirectory(prefix='sensor_fusion_up_')

    def start(self) -> None:
        commands = [node_command(node, write_overrides(node, Path(self._folder.name))) for node in self.nodes]
        for node, command in zip(self.nodes, commands):   # every executable found before anything starts
            log.info('starting %s: %s', node.name, ' '.join(command))
            self.processes[node.name] = subprocess.Popen(command, env=self.env)

    def poll(self) -> Optional[tuple[str, int]]:
        """(name, exit code) of the first node that has exited, else None."""
        for name, process in self.processes.items():
            code = process.poll()
            if code is not None:
                return name, code
        return None

    def stop(self) -> dict[str, int]:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        codes = {}
        for name, process in self.processes.items():
            try:
                codes[name] = process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning('%s did not stop within %.0f s; killing it', name, STOP_TIMEOUT_S)
                process.kill()
                codes[name] = process.wait()
        self._folder.cleanup()
        return codes

    def run(self, duration_s: Optional[float] = None) -> int:
        """Runs until Ctrl-C/SIGTERM, ``duration_s``, or a node's death. Returns the exit status."""
        interrupted = []
        died = None
        end = None if duration_s is None else time.monotonic() + duration_s
        previous = {sig: signal.signal(sig, lambda *_: interrupted.append(True)) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.start()
            while not interrupted and (end is None or time.monotonic() < end):
                died = self.poll()
                if died:
                    break
                time.sleep(0.05)
        finally:
            codes = self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if died:
            log.error('node %s exited with code %d; stopped the others', died[0], died[1])
            return died[1] or 1
        failed = {name: code for name, code in codes.items() if code not in (0, -signal.SIGINT)}
        if failed:
            log.error('nodes exited with errors: %s', failed)
            return 1
        return 0
