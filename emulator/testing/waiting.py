"""Polling with a deadline: the one way tests (and `sagemaker-emulator wait`) wait for something.

A busy machine makes every duration unpredictable, so nothing here asserts how long a thing took;
callers wait until a condition holds, with a generous deadline that only a broken feature reaches.
"""

from __future__ import annotations

import http.client
import json
import ssl
import time
import urllib.request
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

TERMINAL_JOB_STATUSES = ("Completed", "Failed", "Stopped")


def wait_until(probe: Callable[[], T], *, timeout: float = 60, interval: float = 0.2,
               what: str = "condition") -> T:
    """Call `probe` until it returns something truthy and return that; fail after `timeout` seconds
    with the last value it returned (an AssertionError, so a test reports it as a failure)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not reached within {timeout:g} s (last: {value!r})")
        time.sleep(interval)


def wait_for_status(describe: Callable[[], dict], status_key: str, *, timeout: float = 300,
                    statuses: tuple[str, ...] = TERMINAL_JOB_STATUSES, interval: float = 0.3) -> dict:
    """Describe a resource until `status_key` is one of `statuses`; return the last description."""
    last: dict = {}

    def probe() -> dict | None:
        nonlocal last
        last = describe()
        return last if last.get(status_key) in statuses else None
    try:
        return wait_until(probe, timeout=timeout, interval=interval, what=f"{status_key} in {statuses}")
    except AssertionError:
        raise AssertionError(f"still {status_key}={last.get(status_key)!r} after {timeout:g} s: "
                             f"{ {k: v for k, v in last.items() if k != 'ResponseMetadata'} }") from None


def health(url: str, *, timeout: float = 2) -> dict | None:
    """The emulator's /_emulator/health answer, or None while nothing (healthy) answers at `url`."""
    context = ssl._create_unverified_context() if url.startswith("https") else None  # self-signed: --tls
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/_emulator/health", timeout=timeout,
                                    context=context) as response:
            body = json.loads(response.read())
    except (OSError, http.client.HTTPException, ValueError):  # refused, reset, timed out, not JSON
        return None
    return body if body.get("status") == "running" else None


def wait_for_health(url: str, *, timeout: float = 30, alive: Callable[[], bool] = lambda: True) -> dict:
    """Poll /_emulator/health until it answers; TimeoutError if it does not within `timeout` (or the
    process `alive` checks has gone)."""
    deadline = time.monotonic() + timeout
    while True:
        body = health(url)
        if body is not None:
            return body
        if not alive():
            raise TimeoutError(f"the emulator at {url} exited before it answered /_emulator/health")
        if time.monotonic() >= deadline:
            raise TimeoutError(f"no SageMaker Emulator answered {url}/_emulator/health within {timeout:g} s")
        time.sleep(0.1)
