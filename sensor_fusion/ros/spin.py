"""``main()`` for the plain (non-lifecycle) nodes: init, spin until SIGINT/SIGTERM, clean shutdown."""
from __future__ import annotations

import signal
from typing import Callable, Optional

import rclpy
from rclpy.signals import SignalHandlerOptions


def spin_node(make_node: Callable, args: Optional[list[str]] = None, step: Optional[Callable] = None) -> int:
    """Spins ``make_node()`` until a signal; ``step(node)`` (if given) runs between spins and returns
    the longest it may wait, in seconds."""
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    signal.signal(signal.SIGINT, lambda *_: stop.append(True))
    node = make_node()
    try:
        while not stop and rclpy.ok():
            wait = step(node) if step is not None else 0.05
            rclpy.spin_once(node, timeout_sec=max(0.0, min(0.05, wait)))
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
