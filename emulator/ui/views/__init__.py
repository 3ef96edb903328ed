"""The console's pages, one module per resource family; importing this package registers them."""

from emulator.ui.views import endpoints, experiments, home, jobs, monitoring, pipelines, registry, s3  # noqa: F401
