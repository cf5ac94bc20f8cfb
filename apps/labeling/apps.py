from django.apps import AppConfig


class LabelingConfig(AppConfig):
    name = "apps.labeling"
    label = "labeling"

    def ready(self) -> None:
        from apps.core.hooks import on_label_deleting, on_labels_changed
        from apps.labeling.events import label_events_record
        from apps.labeling.services import label_images_unassign

        # Images that arrive with a label (datasets) get their first history entry, and a
        # deleted label's images (projects) are unlabeled with one, in the same transaction.
        on_labels_changed.connect(label_events_record)
        on_label_deleting.connect(label_images_unassign)
