import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("deployments", "0005_deployment_precision"),
        ("training", "0007_modelversion_int8_onnx_file"),
    ]

    operations = [
        migrations.AddField(
            model_name="deployment",
            name="candidate_version",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="training.modelversion",
            ),
        ),
        migrations.AddField(
            model_name="deployment",
            name="candidate_percent",
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="deployment",
            name="candidate_since",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
