import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("deployments", "0006_deployment_canary"),
    ]

    operations = [
        migrations.AddField(
            model_name="deployment",
            name="candidate_mode",
            field=models.CharField(
                choices=[
                    ("canary", "Canary (answers a share of the requests)"),
                    ("shadow", "Shadow (runs beside the live version, answers nothing)"),
                ],
                default="canary",
                max_length=6,
            ),
        ),
        migrations.AddField(
            model_name="deployment",
            name="shadow_dropped",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="deployment",
            name="gate_min_requests",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="deployment",
            name="gate_min_agreement",
            field=models.FloatField(default=0.95),
        ),
        migrations.AddField(
            model_name="deployment",
            name="gate_report",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.CreateModel(
            name="ShadowResult",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("prediction_uid", models.UUIDField(db_index=True)),
                ("live_label", models.CharField(max_length=100)),
                ("live_confidence", models.FloatField()),
                ("candidate_label", models.CharField(max_length=100)),
                ("candidate_confidence", models.FloatField()),
                ("agree", models.BooleanField()),
                ("settled_label", models.CharField(blank=True, max_length=100)),
                ("settled_at", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(db_index=True)),
                (
                    "candidate_version",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="training.modelversion",
                    ),
                ),
                (
                    "deployment",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="shadow_results",
                        to="deployments.deployment",
                    ),
                ),
                (
                    "live_version",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="training.modelversion",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-id"],
                "indexes": [
                    models.Index(
                        fields=["deployment", "candidate_version", "agree", "-created_at"],
                        name="shadow_deployment_agree",
                    )
                ],
            },
        ),
    ]
