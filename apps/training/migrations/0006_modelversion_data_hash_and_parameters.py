import hashlib
import json

from django.db import migrations, models


def _snapshot_hash(rows):
    # A frozen copy of apps.ml.comparison.snapshot_hash as it was when this ran.
    ordered = sorted(
        (int(row["id"]), str(row.get("label") or ""), str(row.get("split") or "")) for row in rows
    )
    return hashlib.sha256(json.dumps(ordered, separators=(",", ":")).encode()).hexdigest()


def hash_existing_snapshots(apps, schema_editor):
    ModelVersion = apps.get_model("training", "ModelVersion")
    for version in ModelVersion.objects.only("id", "snapshot").iterator(chunk_size=100):
        ModelVersion.objects.filter(pk=version.pk).update(
            data_hash=_snapshot_hash(version.snapshot or [])
        )


class Migration(migrations.Migration):
    dependencies = [
        ("training", "0005_health_insights"),
    ]

    operations = [
        migrations.AddField(
            model_name="modelversion",
            name="data_hash",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name="modelversion",
            name="parameters",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.RunPython(hash_existing_snapshots, migrations.RunPython.noop),
    ]
