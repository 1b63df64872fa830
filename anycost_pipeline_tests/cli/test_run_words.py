"""What `anycost run`, `reconcile` and `dry-run` say and do at the edges: months outside the
partitions, `--force`, and an empty month in a dry run."""

from decimal import Decimal

import pytest

from anycost_pipeline.cli import main
from anycost_pipeline.cloudzero.sandbox import SandboxStore
from anycost_pipeline_tests.conftest import Project


@pytest.mark.parametrize("command", [["run", "2023-12"], ["reconcile", "2030-01"]])
def test_a_month_outside_the_partitions_gets_one_clear_sentence(
    project: Project, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    assert main(command) != 0
    printed = capsys.readouterr()
    assert f"{command[1]} is outside the months this project holds, 2024-01" in printed.err
    assert "nothing was read or sent" in printed.err
    assert "DagsterUnknownPartitionError" not in printed.out + printed.err
    assert not (project.root / "dagster_home" / "history").exists()  # no run was recorded


def test_force_sends_a_month_cloudzero_already_holds(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    store = SandboxStore(project.storage / "sandbox")
    assert main(["run", "2024-08"]) == 0
    assert main(["run", "2024-08"]) == 0
    assert "2024-08: unchanged" in capsys.readouterr().out
    drops = len(store.drop_history("simple_cloud_main"))
    assert main(["run", "2024-08", "--force"]) == 0
    assert "2024-08: sent" in capsys.readouterr().out
    assert len(store.drop_history("simple_cloud_main")) == drops + 1
    assert len(store.month_rows("simple_cloud_main", "2024-08")) == 250


def test_a_dry_run_of_an_empty_month_writes_no_body_and_says_what_run_would_do(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dry-run", "2024-03"]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert (
        "the sources hold no rows for 2024-03. `anycost run 2024-03` sends nothing unless"
        in printed
    )
    assert "No body was written" in printed
    assert not list((project.storage / "dry-run" / "2024-03").glob("*/body-*.json"))


def test_run_without_months_sends_every_month_a_spread_charge_touches(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    from pathlib import Path

    from anycost_pipeline_tests.sources.helpers import readme_source

    source = readme_source("tokyo_vendor")  # a fee of local August: 9 hours of it are in July
    folder = project.root / Path(source["path"]).parent
    folder.mkdir(parents=True)
    (folder / "fees.csv").write_text("date,service,kind,cost\n2024-08-01,Platform,Fee,744.00\n")
    config = project.config()
    config["sources"] = {"tokyo": {**source, "connection": "simple_cloud_main"}}
    project.write_config(config)
    assert main(["run"]) == 0
    printed = capsys.readouterr().out
    assert "2024-07: sent" in printed and "2024-08: sent" in printed
    store = SandboxStore(project.storage / "sandbox")
    assert len(store.month_rows("simple_cloud_main", "2024-07")) == 9
    assert len(store.month_rows("simple_cloud_main", "2024-08")) == 735


def test_a_failed_step_is_named_as_the_ui_names_its_asset(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "2024-08"]) == 0
    # A damaged journal record: the drop refuses the month, and says so under its own name.
    (record,) = (project.storage / "submissions").glob("*/2024-08.json")
    record.write_text("{")
    capsys.readouterr()
    assert main(["run", "2024-08"]) != 0
    printed = capsys.readouterr()
    assert "drop/simple_cloud_main: " in printed.out + printed.err
    assert "drop__" not in printed.out + printed.err


def test_a_month_of_two_connections_says_what_each_holds_when_one_fails(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """One connection's drop sends its month; the other's source has a bad value, so its drop
    never runs. The run must say `sent` for the first and `nothing sent` for the second, not
    `nothing sent` for the month."""
    config = project.config()
    bad = project.root / "bad" / "broken.csv"
    bad.parent.mkdir()
    bad.write_text("date,service,account,charge_type,amount\n2024-08-03,Compute,a,usage,$0.84\n")
    config["connections"]["broken_main"] = {"connection_id": "broken_main"}
    config["sources"]["broken"] = dict(
        config["sources"]["simple_cloud"], connection="broken_main", path="bad/*.csv"
    )
    project.write_config(config)
    assert main(["run", "2024-08"]) == 1
    printed = capsys.readouterr()
    lines = [line.strip() for line in printed.out.splitlines()]
    assert "2024-08 (simple_cloud_main): sent" in lines
    assert "2024-08 (broken_main): nothing sent" in lines
    assert "Nothing was sent for 2024-08" not in printed.out + printed.err
    assert "2024-08 (simple_cloud_main): sent. It was sent; what failed is named above." in (
        printed.err
    )
    assert "2024-08 (broken_main): nothing sent. Nothing was sent for it" in printed.err
    store = SandboxStore(project.storage / "sandbox")
    assert len(store.month_rows("simple_cloud_main", "2024-08")) == 250
    assert store.month_rows("broken_main", "2024-08") == []


@pytest.mark.parametrize("operation", ["sum", "replace_hourly"])
def test_an_unchanged_month_says_nothing_was_added_or_replaced(
    project: Project, capsys: pytest.CaptureFixture[str], operation: str
) -> None:
    """Run twice, the second run sends nothing: its change line must not say it added rows to
    (or replaced hours of) what CloudZero holds."""
    config = project.config()
    config["connections"]["simple_cloud_main"]["operation"] = operation
    project.write_config(config)
    assert main(["run", "2024-08"]) == 0
    capsys.readouterr()
    assert main(["run", "2024-08"]) == 0
    said = capsys.readouterr().out
    assert "2024-08: unchanged" in said
    assert "Nothing was sent: CloudZero already holds 2024-08 as last submitted (250 rows)" in said
    assert "Added" not in said and "Replaced" not in said
    store = SandboxStore(project.storage / "sandbox")
    assert len(store.month_rows("simple_cloud_main", "2024-08")) == 250


def test_run_without_months_leaves_a_month_that_has_not_begun(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """An export row dated after this month (billed in advance) does not stop `anycost run`
    from sending the months that exist; the month after is named as not sent."""
    from anycost_pipeline.months import Month

    later = Month.current().next()
    (project.data_dir / "advance.csv").write_text(
        f"date,service,account,charge_type,amount\n{later}-05,Support,prod-001,usage,10.00\n"
    )
    assert main(["run"]) == 0
    said = capsys.readouterr().out
    assert "2024-07: sent" in said and "2024-08: sent" in said
    assert f"(not sent: {later}, after this month (UTC); its partition does not exist yet)" in said
    store = SandboxStore(project.storage / "sandbox")
    assert len(store.month_rows("simple_cloud_main", "2024-08")) == 250


def test_no_room_for_the_bodies_says_nothing_was_sent_and_where(
    project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bodies wait in the temporary folder; when it cannot take them, the month is not sent
    and the words say so, and where, instead of 'it is not known whether anything was sent'."""
    import tempfile

    missing = project.root / "no-such-folder"
    monkeypatch.setattr(tempfile, "tempdir", str(missing))
    assert main(["run", "2024-08"]) == 1
    said = capsys.readouterr()
    assert "2024-08: nothing sent" in said.err
    assert str(missing) in said.out and "TMPDIR" in said.out
    assert SandboxStore(project.storage / "sandbox").drops("simple_cloud_main") == []


def test_a_frame_that_cannot_be_stored_after_cloudzero_accepted_the_month_says_it_was_sent(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """The drop's frame is stored after the month was sent: when storing fails, the month was
    sent all the same, and the words say so and name the error (they said 'unknown … not known
    whether anything was sent')."""
    blocked = project.storage / "frames" / "drop" / "simple_cloud_main" / "2024-08.parquet"
    blocked.mkdir(parents=True)  # a folder where the month's frame goes: it cannot be written
    (blocked / "in-the-way").write_text("x")
    assert main(["run", "2024-08"]) == 1
    printed = capsys.readouterr()
    said = " ".join((printed.out + printed.err).split())
    assert (
        len(SandboxStore(project.storage / "sandbox").month_rows("simple_cloud_main", "2024-08"))
        == 250
    )
    assert "2024-08: sent. It was sent; what failed is named above." in said, said
    assert "not known whether anything was sent" not in said
    assert "2024-08.parquet" in said, said  # the error names what could not be written


def test_a_csv_naming_a_column_twice_is_refused_naming_file_and_columns(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two `amount` columns: the first was read without a word."""
    path = project.data_dir / "simple_cloud_2024-08-16.csv"
    lines = path.read_text().splitlines()
    lines[0] += ",amount"
    path.write_text(
        "\n".join(f"{line},999.99" if i else line for i, line in enumerate(lines)) + "\n"
    )
    assert main(["run", "2024-08"]) == 1
    printed = capsys.readouterr()
    said = " ".join((printed.out + printed.err).split())
    assert "simple_cloud_2024-08-16.csv" in said, said
    assert "the header names column 'amount' twice (columns 5 and 6)" in said, said
    assert not SandboxStore(project.storage / "sandbox").month_rows("simple_cloud_main", "2024-08")


def test_a_default_on_the_cost_column_fills_its_empty_values(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """`cost/cost: {column: amount, default: "0"}`: the default was ignored on cost/cost
    ("value None: is missing") while it worked on usage/amount."""
    config = project.config()
    config["sources"]["simple_cloud"]["columns"]["cost/cost"] = {"column": "amount", "default": "0"}
    project.write_config(config)
    path = project.data_dir / "simple_cloud_2024-08-16.csv"
    lines = path.read_text().splitlines()
    removed = Decimal(lines[1].rsplit(",", 1)[1])
    lines[1] = lines[1].rsplit(",", 1)[0] + ","  # an empty amount
    path.write_text("\n".join(lines) + "\n")
    assert main(["run", "2024-08"]) == 0, capsys.readouterr().out
    rows = SandboxStore(project.storage / "sandbox").month_rows("simple_cloud_main", "2024-08")
    assert len(rows) == 250
    assert sum(Decimal(r["cost/cost"]) for r in rows) == Decimal("1033.51") - removed


def test_a_ragged_csv_line_is_named_with_its_line_number(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """A cost with a decimal comma and no quotes (1.234,50) splits its line: polars' message
    named no line and suggested an option anycost.yaml does not have."""
    path = project.data_dir / "simple_cloud_2024-08-16.csv"
    lines = path.read_text().splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0] + ",1.234,50"
    path.write_text("\n".join(lines) + "\n")
    assert main(["run", "2024-08"]) == 1
    printed = capsys.readouterr()
    said = " ".join((printed.out + printed.err).split())
    assert "simple_cloud_2024-08-16.csv" in said, said
    assert "line 4 has 6 fields where the header has 5" in said, said
    assert "truncate_ragged_lines" not in said, said


def test_a_failed_rows_valid_prints_its_first_problems(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """It said 'N problems; the first are in first_problems' and printed none of them."""
    config = project.config()
    # Tags without a resource id: CloudZero needs one on every tagged row.
    config["sources"]["simple_cloud"]["tags"] = {"columns": {"team": "account"}}
    project.write_config(config)
    assert main(["run", "2024-08"]) == 1
    printed = capsys.readouterr()
    said = " ".join((printed.out + printed.err).split())
    assert (
        "CHECK FAILED cbf/simple_cloud rows_valid: 250 problems: simple_cloud_2024-08-01.csv, row 2, column 'resource/id', value None: required on a row with tags"
        in said
    ), said
    assert "(the first 20 in first_problems)" in said, said
