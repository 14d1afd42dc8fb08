"""What one invocation takes on: the room (spools: memory, then disk) and the time (``courier.budget``) it has.

Judged three times, each on what is known by then:

* before a claim, a group from the sizes its events announce (:meth:`Admission.admits`); a group
  that does not fit is deferred, unclaimed;
* after a GET, a file from the size S3 gives (:meth:`Admission.room_for`): one no invocation could
  hold is too large, one bigger than its event said that does not fit the room left is deferred;
* before a POST and between the chunks of a stream, the time left (:meth:`Admission.check_time`,
  :meth:`Admission.check_streaming`): a bundle short of time is given back (``time_budget``).

:class:`Limits` are the settings, kept across warm invocations; an :class:`Admission` is one
invocation's (its clock of the time left, and the bytes its fetches took beyond what was planned).
Nothing here does I/O but ask the spools how much room is left.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from courier import budget
from courier.bundle import Bundle
from courier.errors import NoRoomError, ObjectTooLargeError, SpoolUnavailableError, TimeBudgetError
from courier.events import ObjectIdentity
from courier.observability import logger, metric
from courier.spool import Spools

# What a bundle's gzip may take beyond its files' bytes (tar headers, manifest, incompressible data).
BUNDLE_OVERHEAD = 1.01
BUNDLE_OVERHEAD_BYTES = 1 << 20


def bundle_estimate(raw: int) -> int:
    """The spool a bundle of ``raw`` bytes of files may need."""
    return int(raw * BUNDLE_OVERHEAD) + BUNDLE_OVERHEAD_BYTES


@contextmanager
def spooling(what: str) -> Iterator[None]:
    """A spool that cannot be made or written (ENOSPC, no memory for its map) fails its own file, retryably."""
    try:
        yield
    except (OSError, MemoryError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise SpoolUnavailableError(f"{what}: its spool failed ({detail})") from None


@dataclass(frozen=True)
class Limits:
    """The settings admission judges by; they outlive an invocation.

    post_budget_seconds
        Worst-case time to deliver one bundle (``courier.budget``).
    stream_bytes_per_second
        The rate a group moves at; None admits on room alone.
    max_object_bytes
        The ceiling: a file above it is refused (``object_too_large``); None: no ceiling.
    """

    post_budget_seconds: float = 0.0
    stream_bytes_per_second: float | None = None
    max_object_bytes: int | None = None


class Admission:
    """One invocation's room and time: ``spools`` hold its files and bundles (memory up to the budget, then disk),
    ``remaining_ms`` is the Lambda context's clock of the time left (None: no deadline).

    Example
    -------
    >>> from courier.spool import Spools
    >>> admission = Admission(Spools(memory_bytes=4 << 20), Limits(), remaining_ms=None)
    >>> admission.admits([1000, 2000], first=False)
    True
    >>> admission.believable(1 << 60)  # it and its bundle: more than memory and disk
    False
    """

    def __init__(self, spools: Spools, limits: Limits, remaining_ms: Callable[[], int] | None) -> None:
        self.spools = spools
        self.limits = limits
        self.remaining_ms = remaining_ms
        # Bytes the current group's fetches took beyond what admission counted (sizes the events understated):
        # the fetches run side by side, so each checks the room left by the others' claims, not only by their bytes.
        self._unplanned = 0
        self._unplanned_lock = threading.Lock()

    # --- before a claim: the events' sizes ---------------------------------------------

    def believable(self, size: int) -> bool:
        """Whether an event's size is one some invocation could take (anyone may write a notification)."""
        ceiling = self.limits.max_object_bytes
        return not (ceiling is not None and size > ceiling) and not self.never_fits(size)

    def admits(self, hints: Sequence[int], *, first: bool) -> bool:
        """Whether this invocation has the room and the time for a group whose events announce ``hints`` bytes.

        Room: the group's files and its bundle (about as many bytes again) must fit in the spools'
        memory left plus the free disk. Time: at ``stream_bytes_per_second`` its bytes must move,
        and its bundle (taken as large as its files) go out as often as a POST may be attempted,
        while the POST budget and the bookkeeping still fit: what :meth:`check_time` asks before
        the POST. The first group is always given its time: it is below the ceiling, which is what
        a whole invocation can move.
        """
        raw = sum(hints)
        need = raw + bundle_estimate(raw)
        room = self.spools.room()
        if need > room:
            logger.info("no room for a group: deferred", extra={"files": len(hints), "bytes": raw, "room": room})
            return False
        rate = self.limits.stream_bytes_per_second
        if first or self.remaining_ms is None or not rate:
            return True
        left = self.remaining_ms() / 1000 - self.limits.post_budget_seconds - budget.BOOKKEEPING_SECONDS
        seconds = (1 + budget.POST_ATTEMPTS) * raw / rate
        if seconds > left:
            logger.info("no time for a group: deferred", extra={"files": len(hints), "bytes": raw, "seconds": round(seconds, 1)})
            return False
        return True

    def new_group(self) -> None:
        """A new group's fetches start: nothing taken beyond its plan yet."""
        with self._unplanned_lock:
            self._unplanned = 0

    # --- after a GET: the size S3 gives ------------------------------------------------

    def never_fits(self, size: int) -> bool:
        return size + bundle_estimate(size) > self.spools.capacity()

    def too_large(self, identity: ObjectIdentity, size: int) -> ObjectTooLargeError:
        ceiling = self.limits.max_object_bytes
        if ceiling is not None and size > ceiling:
            return ObjectTooLargeError(
                f"{identity} is {size} bytes, above the ceiling of {ceiling} (what one invocation can deliver in its time)"
            )
        return ObjectTooLargeError(
            f"{identity} is {size} bytes: it and its bundle need more than an invocation's memory budget and disk"
            f" ({self.spools.capacity()} bytes)"
        )

    def room_for(self, identity: ObjectIdentity, hint: int | None, size: int) -> None:
        """After the GET, before a byte is read: admission counted the event's size (``hint``), S3 said ``size``.

        A file no invocation could hold is too large; one larger than its event said (or
        of no said size) whose extra bytes and bundle do not fit the room left is deferred.
        """
        if self.never_fits(size):
            raise self.too_large(identity, size)
        extra = size - (hint or 0)
        if extra > 0:
            need = extra + bundle_estimate(extra)
            with self._unplanned_lock:
                room = self.spools.room() - self._unplanned
                if need > room:
                    raise NoRoomError(f"{identity} is {size} bytes, {extra} more than its event said: no room ({room})")
                self._unplanned += need

    def room_for_archived(self, key: str, size: int) -> None:
        """An archived bundle to resend may hold files of other batches: admission did not count all of it."""
        room = self.spools.room()
        if size > room:
            raise NoRoomError(f"archived bundle {key} is {size} bytes: no room ({room})")

    # --- before a POST, and while streaming: the time left -----------------------------

    def check_time(self, bundle: Bundle) -> None:
        """Give the bundle back unless a whole POST (its body's transfer included) and the bookkeeping fit."""
        if self.remaining_ms is None:
            return
        left = self.remaining_ms() / 1000
        limits = self.limits
        needed = budget.post_needed_seconds(limits.post_budget_seconds, bundle.size, limits.stream_bytes_per_second)
        if left < needed:
            metric("BundlesDeferred")
            raise TimeBudgetError(f"{left:.1f} s left, a POST of bundle {bundle.bundle_id} may need {needed:.1f} s: given back")

    def check_streaming(self) -> None:
        """Between chunks of a fetch, a build, an upload: stop once not even an empty POST and the bookkeeping fit.

        The error takes the normal way out: a multipart upload is aborted, the claims
        are released, the messages fail with ``time_budget`` (and a note).
        """
        if self.remaining_ms is None:
            return
        left = self.remaining_ms() / 1000
        needed = self.limits.post_budget_seconds + budget.BOOKKEEPING_SECONDS
        if left < needed:
            metric("StreamsStopped")
            raise TimeBudgetError(f"{left:.1f} s left, a POST may need {needed:.1f} s: streaming stopped")
