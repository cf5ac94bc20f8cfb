from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("deployments", "0007_shadow"),
    ]

    operations = [
        migrations.AddField(
            model_name="predictionlog",
            name="sketch",
            field=models.BinaryField(blank=True, null=True),
        ),
    ]
