"""The speed goals the benches measure against, and how a bench run reports them.

Each figure prints next to its goal. One that misses it says so; one that misses it by a wide
margin (worse than the goal by a factor of WIDE_MARGIN) also makes the bench exit 1, so a real
regression shows in a bench run while the noise of a busy machine does not. Benches stay scripts
that print ratios measured in one run; none of this is a timed unit test.
"""

from __future__ import annotations

WIDE_MARGIN = 1.5


class Goals:
    def __init__(self) -> None:
        self.wide_misses: list[str] = []

    def at_most(self, label: str, value: float, goal: float, unit: str = "x") -> str:
        """`(goal <= 1.2x)`, with a verdict when `value` is above `goal`."""
        return self._verdict(label, value, goal, f"<= {goal:g}{unit}", value <= goal, value > goal * WIDE_MARGIN)

    def at_least(self, label: str, value: float, goal: float, unit: str = "x") -> str:
        """`(goal >= 10x)`, with a verdict when `value` is below `goal`."""
        return self._verdict(label, value, goal, f">= {goal:g}{unit}", value >= goal, value < goal / WIDE_MARGIN)

    def _verdict(self, label: str, value: float, goal: float, wanted: str, met: bool, wide: bool) -> str:
        if met:
            return f"(goal {wanted})"
        if wide:
            self.wide_misses.append(f"{label}: {value:.3g} against a goal of {wanted}")
            return f"(goal {wanted}: MISSED BY A WIDE MARGIN)"
        return f"(goal {wanted}: missed)"

    def finish(self) -> int:
        """Print the wide misses, if any; the bench's exit status."""
        for miss in self.wide_misses:
            print(f"REGRESSION {miss}")
        return 1 if self.wide_misses else 0
