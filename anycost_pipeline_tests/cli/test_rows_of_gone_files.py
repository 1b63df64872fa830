"""Rows CloudZero was sent from an export file that is gone (a vendor's retention), or from a
pulled source that returns nothing for the month now, are never dropped because something
else in the month changed: they are carried forward with the sources' month, which is sent,
and the words say which rows the month keeps. Through `anycost`'s `main` (in this process:
`anycost_here`) against the sandbox over HTTP (review of the connection over time, findings 1 and 2: each lost the gone rows' cost with
exit 0 and the word `sent`; a later review: a month kept whole for a gone file kept a moved
source's rows too, which its new connection sent as well)."""

import shutil
import subprocess
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from anycost_pipeline.cloudzero.sandbox import start_sandbox
from anycost_pipeline.settling import utc_now
from anycost_pipeline_tests.cli.live import KEY, anycost_here, http_source_project
from anycost_pipeline_tests.cli.test_months_over_time import (
    CID,
    HEADER,
    emptied_then_sent_as_the_files_hold_it,
    held,
    project,
    words,
)
from anycost_pipeline_tests.sources.fake_api import Answer, Request, fake_api


def _second_source(config: Path, name: str, folder: str) -> Path:
    """Add a files source `name` reading `folder/*.csv` to the connection of `config`."""
    settings = yaml.safe_load(config.read_text())
    files = dict(settings["sources"]["vendor"], path=f"{folder}/*.csv")
    settings["sources"][name] = files
    (config.parent / folder).mkdir(exist_ok=True)
    config.write_text(yaml.safe_dump(settings, sort_keys=False))
    return config


def test_a_deleted_file_of_one_source_is_carried_when_another_source_of_the_month_grows(
    tmp_path: Path,
) -> None:
    config = _second_source(
        project(tmp_path / "p", "2024-07-10,Support,1000.00,a\n"), "beta", "beta"
    )
    beta = config.parent / "beta"
    (beta / "july.csv").write_text(HEADER + "2024-07-11,Compute,10.00,a\n")
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        assert anycost_here(config, server.url, "run", "2024-07").returncode == 0
        assert held(server, "2024-07") == (2, Decimal("1010.00"))
        (config.parent / "exports" / "month.csv").unlink()  # vendor's retention
        (beta / "july.csv").write_text(
            HEADER + "2024-07-11,Compute,10.00,a\n2024-07-12,Compute,5.00,a\n"
        )

        planned = anycost_here(config, server.url, "plan", "2024-07")
        assert "2024-07 send" in words(planned), words(planned)
        again = anycost_here(config, server.url, "run", "2024-07")
        said = words(again)
        assert again.returncode == 0, said
        # beta's new row arrives; the gone invoice's row stays
        assert held(server, "2024-07") == (3, Decimal("1015.00")), said
        assert "2024-07: sent" in said and "month.csv" in said, said
        assert "keeps 1 row, cost 1000.00" in said, said  # what is carried, exactly
        after = anycost_here(config, server.url, "run", "2024-07")
        assert "2024-07: unchanged" in words(after), words(after)

        emptied_then_sent_as_the_files_hold_it(
            config, server, "2024-07", (3, Decimal("1015.00")), (2, Decimal("15.00"))
        )


def test_a_deleted_file_is_carried_when_another_file_of_the_month_gains_a_row(
    tmp_path: Path,
) -> None:
    config = project(tmp_path / "p", "2024-07-10,Support,1000.00,a\n")
    exports = config.parent / "exports"
    (exports / "july-b.csv").write_text(HEADER + "2024-07-11,Compute,10.00,a\n")
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        assert anycost_here(config, server.url, "run", "2024-07").returncode == 0
        (exports / "month.csv").unlink()
        (exports / "july-b.csv").write_text(
            HEADER + "2024-07-11,Compute,10.00,a\n2024-07-12,Compute,5.00,a\n"
        )
        again = anycost_here(config, server.url, "run")
        said = words(again)
        assert again.returncode == 0, said
        assert held(server, "2024-07") == (3, Decimal("1015.00")), said
        assert "2024-07: sent" in said and "month.csv" in said, said

        # Emptied by hand, the month holds none of the gone rows to drop: the files' month goes.
        emptied = anycost_here(
            config, server.url, "delete-month", "main", "2024-07", "--yes-delete-month"
        )
        assert emptied.returncode == 0, words(emptied)
        refilled = anycost_here(config, server.url, "run")
        assert "2024-07: sent" in words(refilled), words(refilled)
        assert held(server, "2024-07") == (2, Decimal("15.00"))


def _pulling(config: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`anycost ARGS` whose pulls reach the vendor API on 127.0.0.1 (no proxy for it)."""
    return anycost_here(config, url, *args, env={"NO_PROXY": "127.0.0.1"})


def _api(months: dict[str, list[dict]]):
    """A vendor API answering each month's records from `months` (changed by the test)."""

    def respond(request: Request) -> Answer:
        start = request.query["from"][:7]
        return Answer(body={"data": months.get(start, [])})

    return fake_api(respond)


def test_a_month_an_api_no_longer_returns_is_carried_beside_a_files_source(tmp_path: Path) -> None:
    months = {"2024-07": [{"date": "2024-07-15", "service": "API", "cost": "2000.00"}]}
    with _api(months) as api, start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        config = _with_invoices(http_source_project(tmp_path / "p", api.url, connection_id=CID))
        invoices = config.parent / "invoices"
        (invoices / "inv-07.csv").write_text(HEADER + "2024-07-10,Support,10.00,a\n")
        first = _pulling(config, server.url, "run", "2024-07")
        assert first.returncode == 0, words(first)
        assert held(server, "2024-07") == (2, Decimal("2010.00"))

        months.clear()  # the API's retention: July is no longer returned
        (invoices / "inv-07-credit.csv").write_text(HEADER + "2024-07-20,Support,-1.00,a\n")
        again = _pulling(config, server.url, "run", "2024-07")
        said = words(again)
        assert again.returncode == 0, said
        assert held(server, "2024-07") == (3, Decimal("2009.00")), said  # the credit arrives
        assert "2024-07: sent" in said and "source vendor" in said, said
        assert "keeps 1 row, cost 2000.00" in said, said


def test_a_correction_beside_an_api_that_never_held_the_month_is_sent(tmp_path: Path) -> None:
    """The API returning nothing for a month it never held keeps nothing back."""
    with _api({}) as api, start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        config = _with_invoices(http_source_project(tmp_path / "p", api.url, connection_id=CID))
        invoices = config.parent / "invoices"
        (invoices / "inv-07.csv").write_text(HEADER + "2024-07-10,Support,10.00,a\n")
        assert _pulling(config, server.url, "run", "2024-07").returncode == 0
        (invoices / "inv-07.csv").write_text(HEADER + "2024-07-10,Support,9.00,a\n")
        again = _pulling(config, server.url, "run", "2024-07")
        assert "2024-07: sent" in words(again), words(again)
        assert held(server, "2024-07") == (1, Decimal("9.00"))


def _with_invoices(config: Path) -> Path:
    """The http project of `config` with a files source `invoices` on the same connection."""
    settings = yaml.safe_load(config.read_text())
    settings["sources"]["invoices"] = {
        "connection": "main",
        "kind": "files",
        "path": "invoices/*.csv",
        "format": "csv",
        "columns": {
            "time/usage_start": "time",
            "cost/cost": "amount",
            "resource/service": "service",
        },
    }
    (config.parent / "invoices").mkdir()
    config.write_text(yaml.safe_dump(settings, sort_keys=False))
    return config


def test_without_a_copy_of_the_month_as_sent_a_month_that_grows_is_sent(tmp_path: Path) -> None:
    """The frames folder deleted (which the README calls safe) while the index remembers a gone
    file: the month, which only grew, is sent, not kept for good (second review, finding 3)."""
    config = project(tmp_path / "p", "2024-07-01,Support,100.00,a\n")
    exports = config.parent / "exports"
    (exports / "b.csv").write_text(HEADER + "2024-07-02,Compute,10.00,a\n")
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        assert anycost_here(config, server.url, "run", "2024-07").returncode == 0
        (exports / "month.csv").rename(exports / "a-v2.csv")  # the same rows, renamed
        assert anycost_here(config, server.url, "run", "2024-07").returncode == 0
        shutil.rmtree(config.parent / ".anycost" / "frames")
        (exports / "b.csv").write_text(
            HEADER + "2024-07-02,Compute,10.00,a\n2024-07-03,Compute,10.00,a\n"
        )
        again = anycost_here(config, server.url, "run", "2024-07")
        assert "2024-07: sent" in words(again), words(again)
        assert held(server, "2024-07") == (3, Decimal("120.00"))


def test_a_moved_source_whose_file_is_gone_leaves_its_month_kept(tmp_path: Path) -> None:
    """Source vendor's July file is rotated away (July kept on main), then vendor moves to
    connection other: main must keep July's row, since other cannot send it (second review,
    finding 1: main cleared it and other had nothing: 100.00 lost)."""
    config = _second_source(
        project(tmp_path / "p", "2024-07-10,Support,100.00,a\n"), "gamma", "gamma"
    )
    (config.parent / "gamma" / "aug.csv").write_text(HEADER + "2024-08-11,Compute,5.00,a\n")
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        assert anycost_here(config, server.url, "run").returncode == 0
        (config.parent / "exports" / "month.csv").unlink()
        assert anycost_here(config, server.url, "run").returncode == 0
        assert held(server, "2024-07") == (1, Decimal("100.00"))
        _move(config, "vendor", "other")
        moved = anycost_here(config, server.url, "run")
        said = words(moved)
        assert held(server, "2024-07") == (1, Decimal("100.00")), said
        assert held(server, "2024-07", "conn-other") == (0, Decimal(0)), said
        assert "2024-07 (main): unchanged" in said and "keeps 1 row, cost 100.00" in said, said


def _move(config: Path, source: str, connection: str) -> None:
    """Send `source` to `connection` (added, with id conn-<connection>) from now on."""
    settings = yaml.safe_load(config.read_text())
    settings["connections"][connection] = {"connection_id": f"conn-{connection}"}
    settings["sources"][source]["connection"] = connection
    config.write_text(yaml.safe_dump(settings, sort_keys=False))


def test_a_month_carrying_a_gone_file_lets_a_moved_source_leave(tmp_path: Path) -> None:
    """July holds a row of vendor's invoice, rotated away, a row of source beta and one of
    source gamma. Gamma moves to connection other, which sends its row: main's July must keep
    the invoice's row and beta's, and lose gamma's (review: the month was kept whole for the
    gone file, so gamma's 50.00 stayed on main and arrived on other too, with exit 0)."""
    config = project(tmp_path / "p", "2024-07-10,Support,100.00,a\n")
    for name, row in (
        ("beta", "2024-07-12,Compute,10.00,a\n"),
        ("gamma", "2024-07-11,Compute,50.00,a\n"),
    ):
        _second_source(config, name, name)
        (config.parent / name / "july.csv").write_text(HEADER + row)
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        assert anycost_here(config, server.url, "run").returncode == 0
        assert held(server, "2024-07") == (3, Decimal("160.00"))
        (config.parent / "exports" / "month.csv").unlink()  # vendor's retention
        _move(config, "gamma", "other")
        moved = anycost_here(config, server.url, "run")
        said = words(moved)
        assert moved.returncode == 0, said
        assert held(server, "2024-07", "conn-other") == (1, Decimal("50.00")), said
        assert held(server, "2024-07") == (2, Decimal("110.00")), said  # not 160.00
        assert "keeps 1 row, cost 100.00" in said, said
        again = anycost_here(config, server.url, "plan")
        assert again.returncode == 0, words(again)  # every month unchanged


@pytest.mark.parametrize("retention", [None, 90])
def test_rows_an_api_no_longer_returns_are_carried_only_within_its_declared_retention(
    tmp_path: Path, retention: int | None
) -> None:
    """An API that keeps 90 days returns part of an old month (review: its other rows were
    dropped from CloudZero with exit 0). With `retention_days` the rows it stopped returning,
    dated before its window, stay; without it, the pull is the whole truth for the month."""
    july = [
        {"date": "2024-07-05", "service": "API", "cost": "2000.00"},
        {"date": "2024-07-25", "service": "API", "cost": "30.00"},
    ]
    months = {"2024-07": list(july)}
    with _api(months) as api, start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        config = http_source_project(tmp_path / "p", api.url, connection_id=CID)
        if retention is not None:
            settings = yaml.safe_load(config.read_text())
            settings["sources"]["vendor"]["retention_days"] = retention
            config.write_text(yaml.safe_dump(settings, sort_keys=False))
        assert _pulling(config, server.url, "run", "2024-07").returncode == 0
        assert held(server, "2024-07") == (2, Decimal("2030.00"))

        months["2024-07"] = [dict(july[1], cost="31.00")]  # the 5th aged out; the 25th restated
        again = _pulling(config, server.url, "run", "2024-07")
        said = words(again)
        assert again.returncode == 0, said
        assert "2024-07: sent" in said, said
        if retention is None:
            assert held(server, "2024-07") == (1, Decimal("31.00")), said
        else:
            assert held(server, "2024-07") == (2, Decimal("2031.00")), said
            assert "keeps 1 row, cost 2000.00" in said and "retention_days: 90" in said, said


def test_a_moved_source_whose_export_was_renamed_is_counted_once(tmp_path: Path) -> None:
    """Vendor's month-to-date export is renamed (the same row) while vendor moves to
    connection other: other sends the row, so main must not carry it as a gone file's row
    (third review, T10: main kept 100.00 beside other's 100.00, on every later run)."""
    config = _second_source(
        project(tmp_path / "p", "2024-07-10,Support,100.00,a\n"), "beta", "beta"
    )
    (config.parent / "beta" / "b.csv").write_text(HEADER + "2024-07-12,Compute,10.00,a\n")
    exports = config.parent / "exports"
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        assert anycost_here(config, server.url, "run", "2024-07").returncode == 0
        (exports / "month.csv").rename(exports / "month-v2.csv")
        _move(config, "vendor", "other")
        for _ in range(2):  # the first run and the next: exact at once, and stays so
            said = words(anycost_here(config, server.url, "run", "2024-07"))
            assert held(server, "2024-07") == (1, Decimal("10.00")), said
            assert held(server, "2024-07", "conn-other") == (1, Decimal("100.00")), said


@pytest.mark.parametrize("beta", [True, False])
def test_a_moved_sources_gone_rows_the_new_connection_never_held_stay(
    tmp_path: Path, beta: bool
) -> None:
    """Vendor's July is in a.csv (100.00) and b.csv (20.00). a.csv is rotated away (carried on
    main), vendor moves to other (which sends b.csv's row), then b.csv is rotated away too:
    a.csv's row stays on main, b.csv's on other (third review, T13: a.csv's 100.00 was lost
    because other held a row of another of vendor's gone files)."""
    config = project(tmp_path / "p", "2024-07-10,Support,100.00,a\n")
    exports = config.parent / "exports"
    (exports / "month.csv").rename(exports / "a.csv")
    (exports / "b.csv").write_text(HEADER + "2024-07-11,Compute,20.00,a\n")
    if beta:
        _second_source(config, "beta", "beta")
        (config.parent / "beta" / "x.csv").write_text(HEADER + "2024-07-12,Compute,10.00,a\n")
    main = (2, Decimal("110.00")) if beta else (1, Decimal("100.00"))
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        assert anycost_here(config, server.url, "run", "2024-07").returncode == 0
        (exports / "a.csv").unlink()
        assert anycost_here(config, server.url, "run", "2024-07").returncode == 0
        _move(config, "vendor", "other")
        assert anycost_here(config, server.url, "run", "2024-07").returncode == 0
        (exports / "b.csv").unlink()
        for _ in range(2):
            done = anycost_here(config, server.url, "run", "2024-07")
            said = words(done)
            assert done.returncode == 0, said
            assert held(server, "2024-07") == main, said
            assert held(server, "2024-07", "conn-other") == (1, Decimal("20.00")), said


def test_the_first_day_of_an_apis_retention_window_is_carried_too(tmp_path: Path) -> None:
    """An API keeping 90 days that counts today among them no longer returns the day 90 days
    ago: its rows are carried as well (third review, T5: that day's 500.00 was dropped)."""
    today = utc_now().date()
    last = today - timedelta(days=90)  # the last day the adaptor takes as gone
    month = last.strftime("%Y-%m")
    rows = [
        {"date": (last - timedelta(days=1)).isoformat(), "service": "A", "cost": "7.00"},
        {"date": last.isoformat(), "service": "B", "cost": "500.00"},
        {"date": (last + timedelta(days=2)).isoformat(), "service": "C", "cost": "3.00"},
    ]
    rows = [r for r in rows if r["date"].startswith(month)]
    months = {month: list(rows)}
    with _api(months) as api, start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        config = http_source_project(tmp_path / "p", api.url, connection_id=CID)
        settings = yaml.safe_load(config.read_text())
        settings["sources"]["vendor"]["retention_days"] = 90
        config.write_text(yaml.safe_dump(settings, sort_keys=False))
        assert _pulling(config, server.url, "run", month).returncode == 0
        before = held(server, month)
        months[month] = [r for r in rows if r["date"] > last.isoformat()]  # from the day after
        again = _pulling(config, server.url, "run", month)
        assert held(server, month) == before, words(again)


def test_another_sources_row_of_the_same_day_and_service_does_not_stop_the_carry(
    tmp_path: Path,
) -> None:
    """Vendor's invoice (07-10, Support, 1000.00) is rotated away; source beta then delivers a
    charge of the same day and service (5.00). That is another charge, not the invoice
    restated: the invoice's row is still carried (third review, T1b: 1000.00 lost)."""
    config = _second_source(
        project(tmp_path / "p", "2024-07-10,Support,1000.00,a\n"), "beta", "beta"
    )
    beta = config.parent / "beta"
    (beta / "july.csv").write_text(HEADER + "2024-07-11,Compute,1.00,a\n")
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        assert anycost_here(config, server.url, "run", "2024-07").returncode == 0
        (config.parent / "exports" / "month.csv").unlink()
        (beta / "july.csv").write_text(
            HEADER + "2024-07-11,Compute,1.00,a\n2024-07-10,Support,5.00,a\n"
        )
        again = anycost_here(config, server.url, "run", "2024-07")
        said = words(again)
        assert again.returncode == 0, said
        assert held(server, "2024-07") == (3, Decimal("1006.00")), said
        assert "keeps 1 row, cost 1000.00" in said, said
