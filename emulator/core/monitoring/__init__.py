"""Model Monitor's control plane: monitoring job definitions, monitoring schedules and their executions.

- `definitions`: DataQuality and ModelQuality job definitions (the records CreateMonitoringSchedule names).
- `cron`: the schedule expressions SageMaker accepts and the times they fall on.
- `schedules`: monitoring schedules (statuses Pending → Scheduled, Stopped) and their clock.
- `executions`: one run of a schedule — its record (written before its processing jobs exist, so a
  restarted emulator neither loses nor repeats it), the processing jobs it starts, and its status.

The runtime's MonitoringScheduleController (emulator.runtime.controllers.schedules) drives them.
"""
