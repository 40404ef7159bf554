"""Wall-clock reads in handlers (PD101), in each spelling of the imports."""

from __future__ import annotations

import datetime as dt
import time
from datetime import date, datetime
from time import monotonic, time as now

import perdure

clock = perdure.Service("Clock")


@clock.handler()
async def stamps(ctx: perdure.Context) -> list[float]:
    first = time.time()  # expect: PD101
    second = time.time_ns() / 1e9  # expect: PD101
    third = monotonic()  # expect: PD101
    fourth = now()  # expect: PD101
    fifth = time.perf_counter()  # expect: PD101
    return [first, second, third, fourth, fifth]


@clock.handler(name="dates")
async def dates(ctx: perdure.Context) -> list[str]:
    moments = [
        datetime.now(),  # expect: PD101
        datetime.utcnow(),  # expect: PD101
        dt.datetime.now(tz=dt.UTC),  # expect: PD101
        dt.datetime.today(),  # expect: PD101
    ]
    days = [date.today(), dt.date.today()]  # expect: PD101, PD101
    local = time.localtime()  # expect: PD101
    given = time.localtime(0)  # a fixed instant: fine
    return [str(m) for m in moments] + [str(d) for d in days] + [str(local), str(given)]
