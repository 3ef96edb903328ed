"""The CloudWatch alarm and EventBridge delivery controllers.

- `AlarmController` owns `CloudWatchAlarm`: a sync evaluates one alarm against its metric's
  datapoints (core/cloudwatch/alarms.evaluate_now) and asks to run again at the start of its next
  period. Besides the alarm's own writes, arriving datapoints of its metric wake it
  (alarms.metric_data_arrived), so data takes effect at once.
- `DeliveryController` owns the delivery queue (one key, `(EventDelivery, pending)`): a sync delivers
  every queued event that is due (core/events/delivery) and asks to run again when the next retry
  falls due. Publishing an event only queues it and wakes this key, so a publisher never waits for
  a target.

Neither keeps anything the store does not hold: the start-up resync evaluates every alarm and
delivers whatever was queued before a restart.
"""

from __future__ import annotations

from collections.abc import Iterable

from emulator.core.cloudwatch import alarms
from emulator.core.events import bus, delivery
from emulator.runtime.controllers.base import Controller, Requeue
from emulator.runtime.controllers.queue import Key


class AlarmController(Controller):
    kinds = (alarms.KIND,)
    workers = 1

    def keys(self) -> Iterable[Key]:
        return [(alarms.KIND, name) for name in self.services.records.names(alarms.KIND)]

    def sync(self, key: Key) -> Requeue | None:
        due = alarms.evaluate_now(self.services, key[1], self.now())
        return None if due is None else Requeue(at=due)


class DeliveryController(Controller):
    kinds = (bus.DELIVERY_KIND,)
    workers = 1

    def keys(self) -> Iterable[Key]:
        return [(bus.DELIVERY_KIND, bus.PENDING)]

    def sync(self, key: Key) -> Requeue | None:
        due = delivery.deliver_due(self.services, self.now())
        return None if due is None else Requeue(at=due)
