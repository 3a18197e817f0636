"""The stacks-matrix table (integration/matrix_test.go) as a Django model."""
import os

from django.db import models


class Row(models.Model):
    id = models.BigAutoField(primary_key=True)
    k = models.CharField(max_length=32, unique=True)
    n = models.IntegerField(null=True)
    s = models.CharField(max_length=64, null=True, db_collation="utf8mb4_bin")
    d = models.DecimalField(max_digits=14, decimal_places=4, null=True)
    t = models.DateTimeField(null=True)
    b = models.BinaryField(null=True)

    class Meta:
        app_label = "stackapp"
        db_table = os.environ["FWD_TABLE"]
