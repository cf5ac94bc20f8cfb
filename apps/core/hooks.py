"""Tiny in-process hooks, so that a lower app can announce something that a higher app
reacts to without importing it (the dependency direction stays core <- projects <-
datasets <- labeling <- training <- deployments).

The hooks (each receiver is called with exactly these keyword arguments)::

    on_images_created     fn(*, image_ids: list[int]) -> None
        Sent by apps.datasets.ingest inside the transaction that wrote new Image rows.
        Training connects embeddings_schedule.
    on_labels_changed     fn(*, changes: list[tuple[int, Label | None, Label | None]],
                             actor: User | None, source: str) -> None
        Sent by apps.datasets.ingest when new images arrive with a label ((image id, None,
        label) per image; ``source`` is a LabelEvent.Source value). Labeling connects
        label_events_record, so the history is written in the same transaction.
    on_label_deleting     fn(*, label: Label, actor: User | None) -> None
        Sent by apps.projects.services.label_delete inside its transaction, before the
        label row goes. Labeling connects label_images_unassign (history + unlabel).
    on_project_deleting   fn(*, project: Project) -> None
        Sent by apps.projects.services.project_delete inside its transaction, before the
        project row goes. Deployments connects the removal of the project's deployments
        (a served model is PROTECTed, so they must go first) and their revocation.
    on_training_finished  fn(*, job: TrainingJob) -> None
        Sent by apps.training.services.training_job_run after a job ended (succeeded,
        failed or cancelled; committed), and after the reaper ended a job whose last attempt
        died (JobKind.on_ended). Webhooks connects its training.* events; retraining
        connects the publication of a retrained model as a shadow candidate.
    on_deployment_changed fn(*, change: DeploymentChange) -> None
        Sent by apps.deployments.services inside the transaction that changed the model a
        deployment serves (a deploy, switch, rollback or promotion), with the history entry
        just written. Webhooks connects its deployment.changed event (sent after commit).
    on_batch_finished     fn(*, job: BatchJob) -> None
        Sent by apps.batches.services after a batch prediction ended (succeeded or failed,
        also when the reaper failed it; committed), with the row as committed (``status``,
        ``total``, ``done``, ``failed``, ``error``; ``deployment.project`` loaded). An error
        in a receiver is logged, not raised. Webhooks connects its batch.* events.
    on_candidate_report   fn(*, deployment: Deployment, candidate_version: ModelVersion,
                             outcome: str, automatic: bool, report: dict) -> None
        Sent by apps.deployments.canary inside the transaction that ends a rollout (canary or
        shadow): ``outcome`` "promoted" (by hand, or ``automatic`` by the promotion gate)
        or "aborted"; ``report`` is the rollout's state just before it ended (mode,
        requests, agreement, settled, dropped, gate). Webhooks connects its
        candidate.report event.
    on_drift_alert        fn(*, alert: DriftAlert) -> None
        Sent by apps.monitoring.services.drift_check after the commit of a drift check
        whose p-value fell under the deployment's alert threshold (a new alert, or an open
        warning that became an alert; once per alert until it is acknowledged). ``alert``
        has ``deployment`` (with ``project``) and ``model_version`` loaded, and ``status``,
        ``score``, ``p_value``, ``window``, ``since``, ``tests`` and
        ``sample_prediction_uids``. Webhooks connects its drift.alert event; the
        retraining policy may connect too. An error in a receiver is logged, not raised.

    hook.connect(fn)      register (in AppConfig.ready()); hook.send(**kwargs) call them all

``on_images_created`` is sent by ``apps.datasets.ingest`` inside the transaction that wrote
the new Image rows (uploads, imports, images added from the prediction log), with the ids
of the rows just created. A receiver that starts background work must do it after the
commit (``task.delay_on_commit(...)``), and must be cheap. Register receivers in
``AppConfig.ready()``, e.g. in apps/training/apps.py::

    def ready(self):
        from apps.core.hooks import on_images_created
        from apps.training.embeddings import embeddings_schedule

        on_images_created.connect(embeddings_schedule)   # embeddings_schedule(*, image_ids)

An exception in a receiver propagates (it rolls the ingest transaction back), like any
other error in that transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Hook:
    """A named list of receivers called with keyword arguments."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._receivers: list[Callable[..., Any]] = []

    def connect(self, receiver: Callable[..., Any]) -> Callable[..., Any]:
        """Add ``receiver`` (once; connecting it again does nothing). Returns it, so that
        ``connect`` can be used as a decorator."""
        if receiver not in self._receivers:
            self._receivers.append(receiver)
        return receiver

    def disconnect(self, receiver: Callable[..., Any]) -> None:
        if receiver in self._receivers:
            self._receivers.remove(receiver)

    def send(self, **kwargs: Any) -> None:
        for receiver in list(self._receivers):
            receiver(**kwargs)

    def __repr__(self) -> str:
        return f"<Hook {self.name}: {len(self._receivers)} receiver(s)>"


# See the module docstring for who sends each one, when, and with which arguments.
on_images_created = Hook("images_created")
on_labels_changed = Hook("labels_changed")
on_label_deleting = Hook("label_deleting")
on_project_deleting = Hook("project_deleting")
on_training_finished = Hook("training_finished")
on_deployment_changed = Hook("deployment_changed")
on_batch_finished = Hook("batch_finished")
on_candidate_report = Hook("candidate_report")
on_drift_alert = Hook("drift_alert")
