"""What the Dagster wiring tests share: the sample project's own figures, read from its files."""

import csv
import glob
from decimal import Decimal

from anycost_pipeline_tests.conftest import Project


def source_total(project: Project, month: str) -> Decimal:
    """The month's cost as the sample export files state it (column `amount`)."""
    files = glob.glob(str(project.data_dir / f"*{month}-*.csv"))
    return sum((Decimal(r["amount"]) for f in files for r in csv.DictReader(open(f))), Decimal(0))
