"""The initiative vocabulary: value drivers, statuses and the moves between them.

Drivers are the value drivers cancel reasons point at (plugin.value.reasons) plus billing,
which no customer names as a reason but which merchants act on (dunning, card updaters).
"""

from __future__ import annotations

from plugin.value.reasons import VALUE_DRIVERS

# "other" is a bucket for answers, not something an initiative can aim at.
DRIVERS: tuple[str, ...] = (*(d for d in VALUE_DRIVERS if d != "other"), "billing")

IDEA, PLANNED, RUNNING, DONE, DROPPED = "idea", "planned", "running", "done", "dropped"
STATUSES: tuple[str, ...] = (IDEA, PLANNED, RUNNING, DONE, DROPPED)

# Forward only: an initiative that has run cannot become an idea again, or its measured
# effect would lose the start it was measured from. Done and dropped are final.
TRANSITIONS: dict[str, frozenset[str]] = {
    IDEA: frozenset({PLANNED, RUNNING, DROPPED}),
    PLANNED: frozenset({IDEA, RUNNING, DROPPED}),
    RUNNING: frozenset({DONE, DROPPED}),
    DONE: frozenset(),
    DROPPED: frozenset(),
}

UP, DOWN = "up", "down"
DIRECTIONS: tuple[str, ...] = (UP, DOWN)

# N, the days compared on each side of the start.
DEFAULT_WINDOW_DAYS = 30
MIN_WINDOW_DAYS = 7
MAX_WINDOW_DAYS = 180
