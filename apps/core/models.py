from django.db import models


class BaseModel(models.Model):
    """Timestamps every row carries."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Job(BaseModel):
    """The columns every background job row shares; the functions that move a job through
    its life are in ``apps.core.jobs`` (read its docstring). Subclasses add their own
    fields (project, kind, progress, report, ...) and are registered as a ``JobKind``."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    ACTIVE = (Status.QUEUED, Status.RUNNING)
    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    error = models.TextField(blank=True)
    # Each claim adds one; every later write of that run is conditional on it (fencing).
    attempts = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True)  # "host:pid" of the running attempt
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # When the task message was last handed to the broker (None: not yet), and how many
    # times since the job was last queued: the reaper re-sends lost messages, backing off.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    dispatches = models.PositiveSmallIntegerField(default=0)

    class Meta:
        abstract = True
