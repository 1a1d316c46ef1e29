"""Rate-limit budgets as pure rules: who may call a task API now, and how long others wait.

A budget is a sliding window, as the task APIs count (LINE WORKS: 60 calls of an operation in
any minute). Each call holds a slot from the moment it is reserved until ``window`` seconds
after it ended: the server saw the request somewhere between those two instants, so no window
the server looks at can hold more calls than the budget allowed, whatever the network did. A
call still in flight holds its slot until ``hold`` seconds from its start (a process that died
mid-call lets the slot go then). A pause the server asked for (Retry-After, rateLimit-reset, no
requests remaining) stops every call until it ends, and a limit the server states (Paymo's
``X-Ratelimit-Limit`` per ``X-Ratelimit-Decay-Period``) replaces the configured one. Times are
seconds on one clock (the database's, where the budget is shared). Imports nothing of the
project.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Rate(BaseModel):
    """At most ``calls`` in any ``seconds``."""

    model_config = ConfigDict(frozen=True)

    calls: int = Field(ge=1)
    seconds: float = Field(gt=0)


class Slot(BaseModel):
    """One call: ``ends`` is when it ended, or the latest it may end while still in flight."""

    model_config = ConfigDict(frozen=True)

    id: str
    ends: float


class Budget(BaseModel):
    """What is stored per budget key: the calls that still count, any pause, and the limit the
    server stated, if it did."""

    model_config = ConfigDict(frozen=True)

    slots: tuple[Slot, ...] = ()
    paused_until: float = 0.0
    told: Rate | None = None


def take(
    budget: Budget, rate: Rate | None, now: float, slot: str, hold: float
) -> tuple[Budget, float]:
    """The budget with ``slot`` taken and 0.0, or unchanged and the seconds to wait first.

    Without a rate (an API that documents none) only pauses apply; with one, the server's
    stated limit, once known, is the one kept."""
    if now < budget.paused_until:
        return budget, budget.paused_until - now
    if rate is None:
        return budget, 0.0
    rate = budget.told or rate
    live = tuple(s for s in budget.slots if s.ends + rate.seconds > now)
    if len(live) >= rate.calls:  # a call still in flight may end any moment: count it as now
        frees = sorted(min(s.ends, now) + rate.seconds for s in live)
        return budget, frees[len(live) - rate.calls] - now
    return budget.model_copy(update={"slots": (*live, Slot(id=slot, ends=now + hold))}), 0.0


def release(budget: Budget, slot: str, now: float) -> Budget:
    """The call ended at ``now``: its slot counts until ``now`` plus the window."""
    slots = tuple(s.model_copy(update={"ends": now}) if s.id == slot else s for s in budget.slots)
    return budget.model_copy(update={"slots": slots})


def pause(budget: Budget, now: float, seconds: float) -> Budget:
    """No call until ``now + seconds`` (a longer pause already asked for stays)."""
    until = max(budget.paused_until, now + max(seconds, 0.0))
    return budget.model_copy(update={"paused_until": until})


def tell(budget: Budget, rate: Rate) -> Budget:
    """The server stated its limit: keep to it from now on."""
    return budget.model_copy(update={"told": rate})
