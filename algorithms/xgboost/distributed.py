"""Multi-instance training through XGBoost's own collective (Rabit) communicator.

As in AWS's container: the tracker runs on the first host (algo-1) on port 9099; every host joins as
a worker with its host name as task id, so ranks follow the sorted host names and algo-1 is rank 0,
the master that logs the evaluation lines and writes the model. Each host trains on the rows it
holds (FullyReplicated gives every host all rows; ShardedByS3Key splits them).

The containers of a job start a few hundred milliseconds apart and their names (algo-1..N) only
resolve once each container is up, so name lookups and the connection to the tracker are retried
(AWS's toolkit retries DNS for 15 minutes; XGBoost retries connecting with a growing pause).
"""

from __future__ import annotations

import logging
import socket
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from algorithms.xgboost.errors import PlatformError

log = logging.getLogger(__name__)

TRACKER_PORT = 9099
DNS_TIMEOUT_SECONDS = 15 * 60
CONNECT_RETRIES = 30          # XGBoost pauses 2 s, 4 s, 6 s ... between tries: ~15 minutes in all
COLLECTIVE_TIMEOUT_SECONDS = 3600


@dataclass(frozen=True)
class Cluster:
    hosts: list[str]
    current_host: str

    @property
    def master(self) -> str:
        return min(self.hosts)

    @property
    def is_master(self) -> bool:
        return self.current_host == self.master

    @property
    def distributed(self) -> bool:
        return len(self.hosts) > 1


def resolve(host: str, timeout: float = DNS_TIMEOUT_SECONDS) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return socket.gethostbyname(host)
        except OSError:
            if time.monotonic() > deadline:
                raise PlatformError(f"Host {host} could not be resolved within {timeout:.0f} s") from None
            time.sleep(0.2)


@contextmanager
def communicator(cluster: Cluster) -> Iterator[None]:
    """Joins the job's hosts into one XGBoost training group (nothing to do on a single host)."""
    if not cluster.distributed:
        yield
        return
    import xgboost as xgb
    from xgboost.tracker import RabitTracker

    for host in sorted(cluster.hosts):
        resolve(host)
    tracker_ip = resolve(cluster.master)
    tracker = None
    if cluster.is_master:
        tracker = RabitTracker(n_workers=len(cluster.hosts), host_ip=tracker_ip, port=TRACKER_PORT,
                               sortby="task", timeout=DNS_TIMEOUT_SECONDS)
        tracker.start()
    log.info("Distributed node training with %d hosts: %s", len(cluster.hosts), sorted(cluster.hosts))
    args = {"dmlc_tracker_uri": tracker_ip, "dmlc_tracker_port": TRACKER_PORT, "dmlc_task_id": cluster.current_host,
            "dmlc_retry": CONNECT_RETRIES, "dmlc_timeout": COLLECTIVE_TIMEOUT_SECONDS}
    with warnings.catch_warnings():
        # one UserWarning per refused connection while the tracker is not up yet: expected, not news
        warnings.filterwarnings("ignore", message=r"(?s).*(Failed to connect|Retrying connection)")
        xgb.collective.init(**args)
    log.info("Joined the training group as rank %d of %d", xgb.collective.get_rank(),
             xgb.collective.get_world_size())
    # No cleanup on failure: a failing host fails the job and the platform stops the others, while
    # leaving the group or waiting for the tracker here could block on peers that are gone.
    yield
    xgb.collective.finalize()
    if tracker is not None:
        tracker.wait_for()
        tracker.free()
