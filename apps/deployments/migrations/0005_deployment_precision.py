from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("deployments", "0004_deployment_change_history"),
        ("training", "0007_modelversion_int8_onnx_file"),
    ]

    operations = [
        migrations.AddField(
            model_name="deployment",
            name="precision",
            field=models.CharField(
                choices=[("fp32", "fp32 (float, as trained)"), ("int8", "int8 (quantized)")],
                default="fp32",
                max_length=4,
            ),
        ),
    ]
