from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("training", "0006_modelversion_data_hash_and_parameters"),
    ]

    operations = [
        migrations.AddField(
            model_name="modelversion",
            name="int8_onnx_file",
            field=models.FileField(blank=True, max_length=255, upload_to=""),
        ),
    ]
