"""Months that settle, through `anycost`'s `main` (in this process: `anycost_here`) against the
sandbox over HTTP: a month is `estimated` until its source says it has settled, then `final`; a
final month whose data changes later is sent again with a warning, or held until `--force`."""

from decimal import Decimal
from pathlib import Path

import yaml

from anycost_pipeline.cloudzero.sandbox import start_sandbox
from anycost_pipeline.months import Month
from anycost_pipeline_tests.cli.live import KEY, anycost_here, one_csv_project
from anycost_pipeline_tests.cli.test_months_over_time import CID, held, words

HEADER = "time,service,amount,account,invoice\n"


def project(root: Path, csv: str, settles: dict) -> Path:
    """One CSV source whose `invoice` column is CBF's bill/invoice_id, with `settles`."""
    config = one_csv_project(root, HEADER + csv, connection_id=CID, cloudzero={"target": "live"})
    data = yaml.safe_load(config.read_text())
    source = data["sources"]["vendor"]
    source["columns"]["bill/invoice_id"] = "invoice"
    source["settles"] = settles
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return config


def export(config: Path, csv: str) -> None:
    (config.parent / "exports" / "month.csv").write_text(HEADER + csv)


UNINVOICED = "2024-08-05,Compute,50.00,a,\n2024-08-06,Storage,7.25,a,\n"
INVOICED = "2024-08-05,Compute,50.00,a,INV-1\n2024-08-06,Storage,7.25,a,INV-1\n"
CORRECTED = "2024-08-05,Compute,48.00,a,INV-1\n2024-08-06,Storage,7.25,a,INV-1\n"


def test_a_month_is_estimated_until_invoiced_then_final_and_a_late_change_is_said(
    tmp_path: Path,
) -> None:
    """Estimated while rows have no invoice id; final once every row has one (sent without a
    warning: it was settling); a correction after that is sent again with LATE CHANGE."""
    config = project(tmp_path / "p", UNINVOICED, {"after_days": 3, "when": "bill/invoice_id"})
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        first = anycost_here(config, server.url, "run", "2024-08")
        said = words(first)
        assert first.returncode == 0, said
        assert "2024-08: sent" in said
        assert (
            "2024-08 is estimated: source vendor: 2 rows of 2 not yet with bill/invoice_id" in said
        )

        export(config, INVOICED)
        planned = anycost_here(config, server.url, "plan", "2024-08")
        assert planned.returncode == 2, words(planned)
        assert (
            "[final: source vendor: settles 3 days after the month (2024-09-04), and every row "
            "has bill/invoice_id]" in words(planned)
        )
        settled = anycost_here(config, server.url, "run", "2024-08")
        said = words(settled)
        assert settled.returncode == 0, said
        assert "LATE CHANGE" not in said  # the month was still settling when last sent
        assert (
            "2024-08 is final: source vendor: settles 3 days after the month (2024-09-04)" in said
        )

        export(config, CORRECTED)
        late = anycost_here(config, server.url, "run", "2024-08")
        said = words(late)
        assert late.returncode == 0, said
        assert "WARNING 2024-08: LATE CHANGE: 2024-08 has been final at CloudZero since" in said, (
            said
        )
        assert "it is sent again" in said
        assert held(server, "2024-08") == (2, Decimal("55.25"))


def test_a_late_change_to_a_final_month_is_held_until_force(tmp_path: Path) -> None:
    """`late_change: hold`: the corrected final month is not sent (exit 1, CloudZero as it
    was, the plan says `held`); `anycost run MONTH --force` sends it."""
    settles = {"when": "bill/invoice_id", "late_change": "hold"}
    config = project(tmp_path / "p", INVOICED, settles)
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        assert anycost_here(config, server.url, "run", "2024-08").returncode == 0
        assert held(server, "2024-08") == (2, Decimal("57.25"))

        export(config, CORRECTED)
        planned = anycost_here(config, server.url, "plan", "2024-08")
        said = words(planned)
        assert planned.returncode == 2, said
        assert "2024-08 held LATE CHANGE" in said
        assert "1 held (final, changed late)" in said

        late = anycost_here(config, server.url, "run", "2024-08")
        said = words(late)
        assert late.returncode == 1, said
        assert "Nothing was sent for 2024-08: LATE CHANGE" in said
        assert "`anycost run 2024-08 --force`" in said
        assert held(server, "2024-08") == (2, Decimal("57.25"))

        forced = anycost_here(config, server.url, "run", "2024-08", "--force")
        assert forced.returncode == 0, words(forced)
        assert held(server, "2024-08") == (2, Decimal("55.25"))


def test_the_current_month_is_estimated_and_a_past_one_without_settles_is_final(
    tmp_path: Path,
) -> None:
    """The label by date: this month is not over; a month that is, with no `settles`, is final
    and says that nothing was declared."""
    this = Month.current()
    config = one_csv_project(
        tmp_path / "p",
        f"time,service,amount,account\n{this}-01,Compute,1.00,a\n2024-08-05,Compute,2.00,a\n",
        connection_id=CID,
        cloudzero={"target": "live"},
    )
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        result = anycost_here(config, server.url, "run", "2024-08", str(this))
        said = words(result)
        assert result.returncode == 0, said
        assert f"{this} is estimated: source vendor: {this} is not over" in said
        assert "2024-08 is final: source vendor: the month is over (no `settles` declared)" in said
