"""UTC instants to the shop's local calendar, vectorised.

The engine counts days in the shop's timezone (docs/metrics.md). Converting millions of event
times one `datetime` at a time would dominate a recompute, so the timezone's UTC offsets are
tabulated once for the span the data covers (its transitions found by bisection) and every
instant is mapped with one `searchsorted`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

SECONDS_PER_DAY = 86_400
# Offsets are sampled this far apart before bisection: no zone changes its offset twice
# within six hours.
_STEP_S = 6 * 3600


def shop_zone(name: str | None) -> ZoneInfo:
    """The shop's IANA timezone; UTC (with a warning) when the name is unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown shop timezone %r; counting days in UTC", name)
        return ZoneInfo("UTC")


def _offset(zone: ZoneInfo, epoch: int) -> int:
    delta = datetime.fromtimestamp(epoch, UTC).astimezone(zone).utcoffset()
    return int(delta.total_seconds()) if delta is not None else 0


@dataclass(frozen=True)
class OffsetTable:
    """UTC offsets of one zone: `offsets[i]` holds from `starts[i]` (epoch seconds) on."""

    starts: npt.NDArray[np.int64]
    offsets: npt.NDArray[np.int64]

    @classmethod
    def build(cls, zone: ZoneInfo, first: int, last: int) -> OffsetTable:
        """Offsets valid for every instant in [first, last] (epoch seconds)."""
        starts = [np.iinfo(np.int64).min]
        offsets = [_offset(zone, first)]
        t = first
        while t < last:
            nxt = min(t + _STEP_S, last)
            if _offset(zone, nxt) != offsets[-1]:
                lo, hi = t, nxt  # offset(lo) is the current one, offset(hi) the next
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    if _offset(zone, mid) == offsets[-1]:
                        lo = mid
                    else:
                        hi = mid
                starts.append(hi)
                offsets.append(_offset(zone, hi))
            t = nxt
        return cls(np.array(starts, dtype=np.int64), np.array(offsets, dtype=np.int64))

    def local_seconds(self, epoch: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Local wall-clock seconds since 1970-01-01 for UTC epoch seconds."""
        idx = np.searchsorted(self.starts, epoch, side="right") - 1
        return epoch + self.offsets[idx]


class LocalCalendar:
    """Maps UTC epoch seconds to local day numbers (days since 1970-01-01) for one shop."""

    def __init__(self, zone: ZoneInfo, first: int, last: int) -> None:
        self.zone = zone
        # A day of margin each side: an instant's local day may fall outside [first, last].
        self._table = OffsetTable.build(zone, first - SECONDS_PER_DAY, last + SECONDS_PER_DAY)

    def seconds(self, epoch: npt.ArrayLike, valid: npt.ArrayLike | None = None) -> npt.NDArray:
        """Local wall time as datetime64[s]; NaT where `valid` is False."""
        e = np.asarray(epoch, dtype=np.int64)
        out = self._table.local_seconds(e).astype("datetime64[s]")
        if valid is not None:
            out[~np.asarray(valid, dtype=bool)] = np.datetime64("NaT")
        return out

    def days(self, epoch: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Local day number of each instant."""
        e = np.asarray(epoch, dtype=np.int64)
        return np.floor_divide(self._table.local_seconds(e), SECONDS_PER_DAY)


def local_today(zone: ZoneInfo, now: datetime) -> date:
    """The shop's calendar date at `now`."""
    return now.astimezone(zone).date()


def day_end(zone: ZoneInfo, day: date) -> datetime:
    """The UTC instant the shop's day `day` ends (its next local midnight)."""
    midnight = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return midnight.astimezone(UTC)


def day_number(day: date) -> int:
    """Days since 1970-01-01."""
    return (day - date(1970, 1, 1)).days
