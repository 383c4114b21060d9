"""Closed-loop evaluation figures, ROS-free: per-episode records in, one summary row out.

``sensor-fusion eval`` (``sensor_fusion.ros.evaluate``) fills :class:`EpisodeRecord` from the
simulator's ``episode_result`` and the fusion node's per-episode decision report; this module
turns them into the table the README reports. Success is a binomial proportion: its 95 %
interval is Wilson's score interval, which stays inside [0, 1] and is honest at 0 or N successes,
where the normal approximation claims zero width.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

#: Seeds the policies never trained on: demonstrations use 0.., DAgger 50 000.., evaluation 100 000..
HELD_OUT_FIRST_SEED = 100_000
BALL_VIOLATIONS = ('ball_contact', 'moved_during_ball')


def wilson_interval(successes: int, trials: int, z: float = 1.959964) -> tuple[float, float]:
    """95 % Wilson score interval of a binomial proportion.

    >>> [round(x, 3) for x in wilson_interval(200, 200)]
    [0.981, 1.0]
    >>> wilson_interval(0, 0)
    (0.0, 1.0)
    """
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    # At 0 or N successes the bound is exactly 0 or 1 (rounding would leave 1e-16 off).
    return (0.0 if successes == 0 else max(0.0, centre - half)), (1.0 if successes == trials else min(1.0, centre + half))


@dataclass
class EpisodeRecord:
    seed: int
    target: str
    outcome: str                 # sensor_fusion.sim.task.Outcome value
    time_s: float
    peak_force_n: float
    latencies_ms: list[float] = field(default_factory=list)   # input -> command, every decision
    energy_uj_per_decision: Optional[float] = None
    encoders_run_fraction: dict = field(default_factory=dict)

    @property
    def success(self) -> bool:
        return self.outcome == 'success'


@dataclass(frozen=True)
class Summary:
    label: str
    episodes: int
    successes: int
    success_ci: tuple[float, float]
    time_to_success_s: Optional[float]     # median over successful episodes
    force_overshoot_n: float               # mean over episodes of max(0, peak force - target)
    ball_violations: int                   # episodes lost to the ball (touched, or moved while it passed)
    outcomes: dict                         # outcome -> episodes
    latency_p50_ms: Optional[float]
    latency_p99_ms: Optional[float]
    energy_uj_per_decision: Optional[float]

    @property
    def success_rate(self) -> float:
        return self.successes / self.episodes if self.episodes else 0.0


def summarise(label: str, records: Sequence[EpisodeRecord], force_target_n: float = 4.0) -> Summary:
    successes = sum(r.success for r in records)
    times = [r.time_s for r in records if r.success]
    latencies = np.concatenate([np.asarray(r.latencies_ms, dtype=np.float64) for r in records]) if records \
        else np.zeros(0)
    energies = [r.energy_uj_per_decision for r in records if r.energy_uj_per_decision is not None]
    outcomes: dict[str, int] = {}
    for r in records:
        outcomes[r.outcome] = outcomes.get(r.outcome, 0) + 1
    return Summary(
        label=label, episodes=len(records), successes=successes, success_ci=wilson_interval(successes, len(records)),
        time_to_success_s=float(np.median(times)) if times else None,
        force_overshoot_n=float(np.mean([max(0.0, r.peak_force_n - force_target_n) for r in records])) if records
        else 0.0,
        ball_violations=sum(r.outcome in BALL_VIOLATIONS for r in records), outcomes=outcomes,
        latency_p50_ms=float(np.percentile(latencies, 50)) if latencies.size else None,
        latency_p99_ms=float(np.percentile(latencies, 99)) if latencies.size else None,
        energy_uj_per_decision=float(np.mean(energies)) if energies else None)


def _fmt(value: Optional[float], digits: int = 2) -> str:
    return 'n/a' if value is None else f'{value:.{digits}f}'


TABLE_HEADER = ('| run | episodes | success | 95 % CI | time to success s | force overshoot N | ball violations '
                '| latency p50/p99 ms | energy uJ/decision | outcomes |')


def table_row(s: Summary) -> str:
    return (f'| {s.label} | {s.episodes} | {100 * s.success_rate:.0f} % | {100 * s.success_ci[0]:.0f}-'
            f'{100 * s.success_ci[1]:.0f} % | {_fmt(s.time_to_success_s)} | {s.force_overshoot_n:.2f} | '
            f'{s.ball_violations} | {_fmt(s.latency_p50_ms)}/{_fmt(s.latency_p99_ms)} | '
            f'{_fmt(s.energy_uj_per_decision)} | '
            + ', '.join(f'{outcome} {n}' for outcome, n in sorted(s.outcomes.items(), key=lambda kv: -kv[1])) + ' |')


def format_table(summaries: Sequence[Summary]) -> str:
    """A Markdown table (prints readably in a terminal too)."""
    separator = '|' + '|'.join('---' for _ in range(TABLE_HEADER.count('|') - 1)) + '|'
    return '\n'.join([TABLE_HEADER, separator, *(table_row(s) for s in summaries)])


__all__ = ['BALL_VIOLATIONS', 'EpisodeRecord', 'HELD_OUT_FIRST_SEED', 'Summary', 'format_table', 'summarise',
           'wilson_interval']
