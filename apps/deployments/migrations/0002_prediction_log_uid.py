"""Prediction ids made in the request (PredictionLog.uid), where a prediction came from, and
newest-first indexes for the prediction log.

A unique field with a callable default, added to a table that may have rows: added without
the unique constraint, filled row by row, then made unique (Django's documented recipe).
"""

import uuid

from django.db import migrations, models


def fill_uids(apps, schema_editor):
    PredictionLog = apps.get_model("deployments", "PredictionLog")
    for row in PredictionLog.objects.only("pk").iterator():
        PredictionLog.objects.filter(pk=row.pk).update(uid=uuid.uuid4())


class Migration(migrations.Migration):
    dependencies = [
        ("deployments", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="predictionlog",
            name="source",
            field=models.CharField(
                choices=[("api", "Prediction API (API key)"), ("try", "Tried in the browser")],
                default="api",
                max_length=3,
            ),
        ),
        migrations.AddField(
            model_name="predictionlog",
            name="uid",
            field=models.UUIDField(default=uuid.uuid4, editable=False, null=True),
        ),
        migrations.RunPython(fill_uids, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="predictionlog",
            name="uid",
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
        ),
        migrations.AlterModelOptions(
            name="predictionlog",
            options={"ordering": ["-created_at", "-id"]},
        ),
        migrations.RemoveIndex(
            model_name="predictionlog",
            name="deployments_deploym_ee8db8_idx",
        ),
        migrations.AddIndex(
            model_name="predictionlog",
            index=models.Index(
                fields=["deployment", "-created_at"], name="predlog_deployment_time"
            ),
        ),
        migrations.AddIndex(
            model_name="predictionlog",
            index=models.Index(
                fields=["deployment", "uncertain", "-created_at"], name="predlog_uncertain_time"
            ),
        ),
    ]
