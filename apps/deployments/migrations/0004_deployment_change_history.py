import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def record_current_versions(apps, schema_editor):
    """Each existing deployment's history starts with the version it serves now."""
    Deployment = apps.get_model("deployments", "Deployment")
    DeploymentChange = apps.get_model("deployments", "DeploymentChange")
    rows = Deployment.objects.values_list(
        "id", "model_version_id", "model_version__number", "created_by_id", "created_at"
    )
    DeploymentChange.objects.bulk_create(
        DeploymentChange(
            deployment_id=deployment_id,
            to_version_id=version_id,
            to_number=number,
            reason="deploy",
            changed_by_id=user_id,
            created_at=created_at,
        )
        for deployment_id, version_id, number, user_id, created_at in rows
    )


class Migration(migrations.Migration):
    dependencies = [
        ("deployments", "0003_prediction_ood"),
        ("training", "0005_health_insights"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="DeploymentChange",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("from_number", models.PositiveIntegerField(blank=True, null=True)),
                ("to_number", models.PositiveIntegerField()),
                (
                    "reason",
                    models.CharField(
                        choices=[
                            ("deploy", "Deployed"),
                            ("manual", "Switched by hand"),
                            ("promotion", "Candidate promoted"),
                            ("rollback", "Rolled back"),
                        ],
                        max_length=10,
                    ),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "changed_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "deployment",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="changes",
                        to="deployments.deployment",
                    ),
                ),
                (
                    "from_version",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="training.modelversion",
                    ),
                ),
                (
                    "to_version",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="training.modelversion",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-id"],
                "indexes": [
                    models.Index(fields=["deployment", "-id"], name="deployment_change_latest")
                ],
            },
        ),
        migrations.RunPython(record_current_versions, migrations.RunPython.noop),
    ]
