"""Creates the stacks-matrix table; run on the writer (DDL through the proxy gets 1235)."""
import os

from django.db import migrations, models

TABLE = os.environ["FWD_TABLE"]


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Row",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("k", models.CharField(max_length=32, unique=True)),
                ("n", models.IntegerField(null=True)),
                ("s", models.CharField(max_length=64, null=True, db_collation="utf8mb4_bin")),
                ("d", models.DecimalField(max_digits=14, decimal_places=4, null=True)),
                ("t", models.DateTimeField(null=True)),
                ("b", models.BinaryField(null=True)),
            ],
            options={"db_table": TABLE},
        ),
        # Ids from 1000, so an id the ORM reports cannot be right by accident.
        migrations.RunSQL("ALTER TABLE %s AUTO_INCREMENT = 1000" % TABLE),
    ]
