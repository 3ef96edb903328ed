"""The controller base on its own (no server, no Docker): the work queue's guarantees, back-off and
giving up, resyncs, requeues at a time, and the waiter registry fed by the store's change hook."""

from __future__ import annotations

import threading
import time

import pytest

from emulator.config import Settings
from emulator.core.services import Services
from emulator.runtime.controllers import Controller, ControllerManager, Requeue, WorkQueue


def eventually(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


# --- the work queue -------------------------------------------------------------------------------

def test_a_waiting_key_is_held_once():
    queue = WorkQueue()
    for key in ("a", "b", "a", "a"):
        queue.add(key)
    assert [queue.get(0), queue.get(0), queue.get(0)] == ["a", "b", None]


def test_a_key_added_while_synced_comes_back_after_done_and_never_twice_at_once():
    queue = WorkQueue()
    queue.add("a")
    assert queue.get(0) == "a"
    queue.add("a")
    queue.add("a")
    assert queue.get(0) is None          # not handed to a second worker while the first holds it
    queue.done("a")
    assert queue.get(0) == "a"           # the change made during the sync is not lost...
    queue.done("a")
    assert queue.get(0) is None          # ...and it comes back once


def test_delayed_keys_wait_for_their_time_and_the_earliest_request_wins():
    queue = WorkQueue()
    queue.add_after("late", 0.4)
    queue.add_after("soon", 0.1)
    queue.add_after("soon", 5.0)         # a later request does not postpone an earlier one
    start = time.monotonic()
    assert queue.get(2) == "soon"
    assert 0.05 <= time.monotonic() - start < 1.0
    assert queue.get(2) == "late"
    assert queue.get(0.6) is None        # the superseded 5 s request was dropped, not just delayed


def test_back_off_doubles_up_to_a_cap_and_forget_resets_it():
    queue = WorkQueue(base_delay=0.1, max_delay=0.5)
    assert [queue.add_rate_limited("k") for _ in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    assert queue.failures("k") == 5
    queue.forget("k")
    assert queue.failures("k") == 0 and queue.add_rate_limited("k") == 0.1


def test_shutting_down_releases_blocked_workers():
    queue = WorkQueue()
    got = []
    worker = threading.Thread(target=lambda: got.append(queue.get()))
    worker.start()
    time.sleep(0.05)
    queue.shut_down()
    worker.join(2)
    assert got == [None]


# --- the manager with a controller of our own -----------------------------------------------------

class Recorder(Controller):
    """Syncs ("Thing", name) keys; fails on names in `broken`; asks for requeues in `requeue`."""

    kinds = ("Thing",)
    workers = 2
    max_attempts = 4

    def __init__(self, services) -> None:
        super().__init__(services)
        self.synced: list[tuple[str, float]] = []
        self.broken: set[str] = set()
        self.requeue: dict[str, Requeue] = {}
        self.listed: list[tuple[str, str]] = []
        self.gave_up: list[str] = []
        self.lock = threading.Lock()

    def sync(self, key):
        with self.lock:
            self.synced.append((key[1], time.monotonic()))
        if key[1] in self.broken:
            raise RuntimeError(f"cannot sync {key[1]}")
        return self.requeue.pop(key[1], None)

    def keys(self):
        return list(self.listed)

    def give_up(self, key, error):
        self.gave_up.append(key[1])

    def count(self, name: str) -> int:
        with self.lock:
            return sum(1 for n, _ in self.synced if n == name)


@pytest.fixture
def services(tmp_path):
    svc = Services(Settings(data_dir=tmp_path / "data", run_jobs=False))
    yield svc
    svc.shutdown()


def start(services, controller: Controller, **options) -> ControllerManager:
    manager = ControllerManager(services, base_delay=0.05, max_delay=0.4, **options)
    manager.add(controller)
    manager.start()
    return manager


def test_a_record_write_syncs_its_controller(services):
    recorder = Recorder(services)
    start(services, recorder)
    services.records.insert("Thing", "one", "arn:one", {"Status": "New"}, lambda: AssertionError())
    eventually(lambda: recorder.count("one") == 1)
    services.records.update("Thing", "one", lambda body: body.update(Status="Changed"))
    eventually(lambda: recorder.count("one") == 2)
    services.records.update("Thing", "one", lambda body: None)   # no change, no sync
    time.sleep(0.2)
    assert recorder.count("one") == 2


def test_a_crash_on_one_resource_is_retried_with_back_off_while_the_others_are_served(services):
    recorder = Recorder(services)
    recorder.broken = {"bad"}
    manager = start(services, recorder)
    manager.enqueue(("Thing", "bad"))
    for i in range(20):
        manager.enqueue(("Thing", f"good-{i}"))
    eventually(lambda: all(recorder.count(f"good-{i}") == 1 for i in range(20)))
    eventually(lambda: recorder.gave_up == ["bad"])
    times = [t for n, t in recorder.synced if n == "bad"]
    assert len(times) == recorder.max_attempts
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert all(gap >= 0.9 * 0.05 * 2 ** i for i, gap in enumerate(gaps))   # 0.05, 0.1, 0.2 s: back-off
    recorder.broken.clear()
    manager.enqueue(("Thing", "bad"))                      # a later event syncs it again, fresh
    eventually(lambda: recorder.count("bad") == recorder.max_attempts + 1)


def test_start_up_and_periodic_resyncs_enqueue_every_listed_resource(services):
    recorder = Recorder(services)
    recorder.listed = [("Thing", "left-over"), ("Thing", "other")]
    start(services, recorder, resync_seconds=0.2)
    eventually(lambda: recorder.count("left-over") >= 1 and recorder.count("other") >= 1)
    eventually(lambda: recorder.count("left-over") >= 3)   # and again, every resync period


def test_a_sync_can_ask_to_run_again_at_a_time(services):
    recorder = Recorder(services)
    manager = start(services, recorder)
    due = time.time() + 0.3
    recorder.requeue["timer"] = Requeue(at=due)
    recorder.requeue["soon"] = Requeue(after=0.1)
    manager.enqueue(("Thing", "timer"))
    manager.enqueue(("Thing", "soon"))
    eventually(lambda: recorder.count("timer") == 2 and recorder.count("soon") == 2)
    first, second = [t for n, t in recorder.synced if n == "timer"]
    assert second - first >= 0.25
    assert recorder.now() == pytest.approx(time.time(), abs=1)


def test_the_clock_is_part_of_the_world_a_time_driven_sync_runs_when_it_says(services):
    now = [1_000_000.0]
    recorder = Recorder(services)
    manager = start(services, recorder, clock=lambda: now[0])
    assert recorder.now() == now[0]
    recorder.requeue["schedule"] = Requeue(at=now[0] + 3600)    # "run again in an hour"
    manager.enqueue(("Thing", "schedule"))
    eventually(lambda: recorder.count("schedule") == 1)
    time.sleep(0.2)
    manager.clock_moved()
    assert recorder.count("schedule") == 1                      # the hour has not passed
    now[0] += 3600
    manager.clock_moved()
    eventually(lambda: recorder.count("schedule") == 2)


def test_waiting_for_a_resource_wakes_the_waiter_when_it_changes(services):
    recorder = Recorder(services)
    manager = start(services, recorder)
    services.records.insert("TrainingJob", "child", "arn:child", {"TrainingJobStatus": "InProgress"},
                            lambda: AssertionError())
    assert recorder.wait_for(("TrainingJob", "CHILD"), ("Thing", "parent")) is False   # names: any case
    assert manager.waiters.waiting(("TrainingJob", "child")) == {("Thing", "parent")}
    services.records.update("TrainingJob", "child", lambda b: b.update(TrainingJobStatus="Completed"))
    eventually(lambda: recorder.count("parent") == 1)
    assert manager.waiters.waiting(("TrainingJob", "child")) == set()   # one-shot
    # Waiting for a resource that has already finished wakes the waiter at once.
    assert recorder.wait_for(("TrainingJob", "child"), ("Thing", "parent")) is True
    eventually(lambda: recorder.count("parent") == 2)


def test_a_reset_drops_queued_work_and_resumes_with_a_resync(services):
    recorder = Recorder(services)
    manager = start(services, recorder)
    manager.enqueue(("Thing", "later"))
    recorder.requeue["later"] = Requeue(after=0.3)
    eventually(lambda: recorder.count("later") == 1)
    services.reset()                                       # pauses, wipes, resumes
    recorder.listed = [("Thing", "after-reset")]
    manager.resync()
    eventually(lambda: recorder.count("after-reset") == 1)
    time.sleep(0.5)
    assert recorder.count("later") == 1                    # the requeue from before the reset is gone
