"""A connection over time, through `anycost` as a user runs it against a strict CloudZero
stand-in (the sandbox over HTTP): months that a charge leaves are cleared, months whose files
are gone are kept, a `sum` month is never added twice, and the journal is evidence, never a
substitute for reading CloudZero. Each command runs through `anycost`'s `main` in this process
(`anycost_here`), as a process of its own where another process or a kill is part of the case."""

import json
import subprocess
import time
from decimal import Decimal
from pathlib import Path

import pytest
import requests
import yaml

from anycost_pipeline.cli import main
from anycost_pipeline.cloudzero.sandbox import SandboxStore, start_sandbox
from anycost_pipeline.cloudzero.sandbox.server import Answers, Faults, SandboxServer
from anycost_pipeline_tests.cli.live import (
    ANYCOST,
    KEY,
    anycost_here,
    environment,
    http_source_project,
    one_csv_project,
    start_anycost,
)
from anycost_pipeline_tests.conftest import Project

CID = "conn-time"
HEADER = "time,service,amount,account\n"


def held(server: SandboxServer, month: str, connection: str = CID) -> tuple[int, Decimal]:
    """The rows the sandbox holds for the connection's month, and their cost."""
    rows = server.store.month_rows(connection, month)
    return len(rows), sum((Decimal(r["cost/cost"]) for r in rows), Decimal(0))


def words(result: subprocess.CompletedProcess[str]) -> str:
    return " ".join((result.stdout + result.stderr).split())


def another_sender(server: SandboxServer, month: str, operation: str, rows: list[dict]) -> None:
    """A write to the connection by someone other than this adaptor, over the API."""
    answer = requests.post(
        f"{server.url}/v2/connections/billing/anycost/{CID}/billing_drops",
        headers={"Authorization": KEY},
        json={"month": month, "operation": operation, "data": rows},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text


def project(root: Path, csv: str, operation: str = "replace_drop") -> Path:
    return one_csv_project(
        root, HEADER + csv, connection_id=CID, cloudzero={"target": "live"}, operation=operation
    )


def journal_record(config: Path, month: str) -> Path:
    found = list((config.parent / ".anycost" / "submissions").glob(f"*/{month}.json"))
    if len(found) != 1:
        raise KeyError(f"{len(found)} journal records of {month}")
    return found[0]


def _july_and_august(root: Path) -> Path:
    config = project(root, "2024-07-31,Support,100.00,a\n")
    (config.parent / "exports" / "invoice-0002.csv").write_text(
        HEADER + "2024-08-05,Compute,50.00,a\n"
    )
    return config


def test_a_charge_that_moves_month_is_cleared_from_the_month_it_left(tmp_path: Path) -> None:
    """Invoice 0001 is re-issued dated August: July is emptied, August holds both invoices."""
    config = _july_and_august(tmp_path / "p")
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        first = anycost_here(config, server.url, "run")
        assert first.returncode == 0, words(first)
        assert held(server, "2024-07") == (1, Decimal("100.00"))
        (config.parent / "exports" / "month.csv").write_text(
            HEADER + "2024-08-01,Support,100.00,a\n"
        )

        planned = anycost_here(config, server.url, "plan")
        assert planned.returncode == 2, words(planned)  # changes pending
        said = words(planned)
        assert (
            "2024-07 clear CloudZero holds 1 row, cost 100.00; the sources hold nothing now" in said
        )
        assert (
            "2024-08 send CloudZero holds 1 row, cost 50.00 now; the sources hold 2 rows, cost 150.00"
            in said
        )
        assert held(server, "2024-07") == (1, Decimal("100.00"))  # the plan sent nothing

        again = anycost_here(config, server.url, "run")
        said = words(again)
        assert again.returncode == 0, said
        assert (
            "2024-07: cleared: CloudZero holds 1 row, cost 100.00; the sources hold nothing now"
            in said
        )
        assert held(server, "2024-07") == (0, Decimal(0))
        assert held(server, "2024-08") == (2, Decimal("150.00"))

        settled = anycost_here(config, server.url, "plan")
        assert settled.returncode == 0, words(settled)
        assert "0 months to send, 0 to clear, 0 in conflict, 2 unchanged" in words(settled)


def test_a_month_whose_files_are_gone_is_kept(tmp_path: Path) -> None:
    """A vendor's retention deletes July's export: July's row is carried forward, so CloudZero's
    July is unchanged, and the run says so."""
    config = _july_and_august(tmp_path / "p")
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        assert anycost_here(config, server.url, "run").returncode == 0
        (config.parent / "exports" / "month.csv").unlink()
        again = anycost_here(config, server.url, "run")
        said = words(again)
        assert again.returncode == 0, said
        assert (
            "2024-07: unchanged: CloudZero holds 1 row, as last sent; the month as sent keeps 1 "
            "row, cost 100.00, that CloudZero was sent from source vendor's export file(s) that "
            "are gone (month.csv)" in said
        ), said
        assert held(server, "2024-07") == (1, Decimal("100.00"))
        assert held(server, "2024-08") == (1, Decimal("50.00"))


def test_a_month_is_kept_when_every_export_file_is_gone(tmp_path: Path) -> None:
    """The vendor's retention deletes the last export files: `anycost run` carries both months'
    rows forward, so they are unchanged as CloudZero holds them, and exits 0, rather than
    failing on a `path` that matches nothing (history campaign, seed 190: delete, lose-journal, delete, damage); a `path` that never
    matched a file stays an error naming it."""
    config = _july_and_august(tmp_path / "p")
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        assert anycost_here(config, server.url, "run").returncode == 0
        for export in (config.parent / "exports").glob("*.csv"):
            export.unlink()
        again = anycost_here(config, server.url, "run")
        said = words(again)
        assert again.returncode == 0, said
        assert "2024-07: unchanged" in said and "2024-08: unchanged" in said, said
        assert "keeps 1 row, cost 100.00" in said and "keeps 1 row, cost 50.00" in said, said
        assert held(server, "2024-07") == (1, Decimal("100.00"))
        assert held(server, "2024-08") == (1, Decimal("50.00"))
    never = project(tmp_path / "q", "")
    (never.parent / "exports" / "month.csv").unlink()
    with start_sandbox(tmp_path / "cz2", api_key=KEY) as server:
        refused = anycost_here(never, server.url, "run")
        assert refused.returncode == 1
        assert "no file matches" in words(refused) and "check `path` in anycost.yaml" in words(
            refused
        )


def test_a_sum_month_that_another_sender_wrote_to_is_not_added_again(tmp_path: Path) -> None:
    config = project(tmp_path / "p", "2024-08-01,A,10.00,a\n2024-08-02,B,5.00,a\n", "sum")
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        assert anycost_here(config, server.url, "run", "2024-08").returncode == 0
        assert held(server, "2024-08") == (2, Decimal("15.00"))
        row = {"time/usage_start": "2024-08-03T00:00:00Z", "cost/cost": "-1.00"}
        another_sender(server, "2024-08", "sum", [row])

        again = anycost_here(config, server.url, "run", "2024-08")
        said = words(again)
        assert again.returncode == 1, said
        assert "Nothing was sent for 2024-08: CloudZero holds 3 rows" in said
        assert "anycost delete-month" in said and "--force" in said
        assert held(server, "2024-08") == (3, Decimal("14.00"))  # not 29.00

        assert anycost_here(config, server.url, "plan", "2024-08").returncode == 2
        deleted = anycost_here(
            config, server.url, "delete-month", "main", "2024-08", "--yes-delete-month"
        )
        assert deleted.returncode == 0, words(deleted)
        assert anycost_here(config, server.url, "run", "2024-08").returncode == 0
        assert held(server, "2024-08") == (2, Decimal("15.00"))


def acknowledged(config: Path) -> int:
    """How many bodies the journal of 2024-08 says CloudZero acknowledged (0: none yet)."""
    try:
        return len(json.loads(journal_record(config, "2024-08").read_text())["acknowledged"])
    except (ValueError, KeyError):  # not written yet (the glob finds no file), or mid-write
        return 0


@pytest.mark.parametrize("emptied_by", ["anycost delete-month", "another tool"])
def test_a_killed_sum_run_then_an_emptied_month_is_sent_whole(
    tmp_path: Path, emptied_by: str
) -> None:
    """Killed after body 1 of 3 was applied; the month is emptied as `reconcile` advises; the
    next run must send every body anew, not continue from the journal (CloudZero would answer
    body 1 from its idempotency memory and not apply it)."""
    csv = "".join(
        f"2024-08-16T{10 + h:02d}:00:00Z,svc,{h + 1}0.00,acct-{r}\n"
        for h in range(3)
        for r in range(20)
    )
    total = sum(Decimal(f"{h + 1}0.00") * 20 for h in range(3))
    config = one_csv_project(
        tmp_path / "p",
        HEADER + csv,
        connection_id=CID,
        cloudzero={"target": "live", "limits": {"body_bytes": 3_000}},
        operation="sum",
    )
    with start_sandbox(tmp_path / "cz", api_key=KEY, faults=Faults(delay=0.5)) as server:
        run = start_anycost(config, server.url, "run", "2024-08")
        deadline = time.monotonic() + 120
        while not acknowledged(config):  # body 1 applied and its acknowledgement recorded
            assert run.poll() is None and time.monotonic() < deadline
            time.sleep(0.005)
        run.kill()
        run.wait()
        time.sleep(1.0)  # a write in flight when the run died finishes on the server
        assert acknowledged(config) == 1
        applied = len(server.store.drop_history(CID))
        assert 1 <= applied < 3, applied  # killed part-way
        if emptied_by == "another tool":
            another_sender(server, "2024-08", "replace_drop", [])
        else:
            deleted = anycost_here(
                config, server.url, "delete-month", "main", "2024-08", "--yes-delete-month"
            )
            assert deleted.returncode == 0, words(deleted)
        assert held(server, "2024-08") == (0, Decimal(0))
        again = anycost_here(config, server.url, "run", "2024-08")
        said = words(again)
        assert again.returncode == 0, said
        assert "2024-08: sent" in said
        assert held(server, "2024-08") == (60, total)


def test_a_damaged_journal_record_stops_the_month(tmp_path: Path) -> None:
    config = project(tmp_path / "p", "2024-08-01,A,10.00,a\n2024-08-02,B,6.00,a\n", "sum")
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        assert anycost_here(config, server.url, "run", "2024-08").returncode == 0
        record = journal_record(config, "2024-08")
        whole = record.read_text()
        for damage in (whole[: len(whole) // 2], "[]"):  # cut short; JSON, but not a record
            record.write_text(damage)
            again = anycost_here(config, server.url, "run", "2024-08")
            said = words(again)
            assert again.returncode == 1, said
            assert f"the submission journal's record of 2024-08 ({record})" in said
            assert "nothing was sent for 2024-08" in said
            assert "not known whether" not in said
            assert held(server, "2024-08") == (2, Decimal("16.00"))
        record.unlink()  # no record at all: CloudZero's holdings decide, and they are not ours
        again = anycost_here(config, server.url, "run", "2024-08")
        assert again.returncode == 1, words(again)
        assert "that this adaptor never sent" in words(again)
        assert held(server, "2024-08") == (2, Decimal("16.00"))


def test_the_same_api_written_differently_is_the_same_journal(tmp_path: Path) -> None:
    config = project(tmp_path / "p", "2024-08-01,A,10.00,a\n", "sum")
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        assert anycost_here(config, server.url, "run", "2024-08").returncode == 0
        other = server.url.replace("127.0.0.1", "LOCALHOST") + "/"
        again = anycost_here(config, other, "run", "2024-08")
        assert again.returncode == 0, words(again)
        assert "2024-08: unchanged" in words(again)
        assert held(server, "2024-08") == (1, Decimal("10.00"))


def test_an_emptied_month_is_sent_again_with_a_per_drop_listing(tmp_path: Path) -> None:
    config = project(tmp_path / "p", "2024-08-01,A,10.00,a\n2024-08-02,B,5.00,a\n")
    answers = Answers(listing="drops")
    with start_sandbox(tmp_path / "cz", api_key=KEY, answers=answers) as server:
        assert anycost_here(config, server.url, "run", "2024-08").returncode == 0
        another_sender(server, "2024-08", "replace_drop", [])
        assert held(server, "2024-08") == (0, Decimal(0))
        again = anycost_here(config, server.url, "run", "2024-08")
        said = words(again)
        assert again.returncode == 0, said
        assert "2024-08: sent" in said
        assert held(server, "2024-08") == (2, Decimal("15.00"))


def test_the_sample_project_plans_unchanged_after_a_run_and_both_months_after_a_move(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's sample on the built-in sandbox: after `anycost run`, `anycost plan` says
    nothing to do; one row moved from August 31 to September 1 gives two sends with the
    right figures, and `anycost run` makes both months exact."""
    assert main(["run"]) == 0
    capsys.readouterr()
    assert main(["plan"]) == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "2024-07 unchanged" in said and "2024-08 unchanged" in said, said
    export = project.data_dir / "simple_cloud_2024-08-31.csv"
    header, *lines = export.read_text().splitlines()
    moved = lines[-1].replace("2024-08-31", "2024-09-01")
    export.write_text("\n".join([header, *lines[:-1]]) + "\n")
    (project.data_dir / "simple_cloud_2024-09-01.csv").write_text(f"{header}\n{moved}\n")
    cost = Decimal(moved.rsplit(",", 1)[1])

    assert main(["plan"]) == 2
    said = " ".join(capsys.readouterr().out.split())
    august = Decimal("1033.51") - cost
    assert (
        f"2024-08 send CloudZero holds 250 rows, cost 1033.51 now; the sources hold 249 rows, cost {august}"
        in said
    ), said
    assert (
        f"2024-09 send CloudZero holds nothing now; the sources hold 1 row, cost {cost}" in said
    ), said
    assert main(["run"]) == 0
    store = SandboxStore(project.storage / "sandbox")
    for month, rows, total in (("2024-08", 249, august), ("2024-09", 1, cost)):
        held_rows = store.month_rows("simple_cloud_main", month)
        assert len(held_rows) == rows
        assert sum(Decimal(r["cost/cost"]) for r in held_rows) == total
    capsys.readouterr()
    assert main(["plan"]) == 0


def test_an_index_that_forgot_a_deleted_file_keeps_the_month(tmp_path: Path) -> None:
    """An index written before deletions were remembered (or rebuilt) cannot tell a deleted
    file from moved records: July, whose export is gone, is kept, not cleared."""
    config = _july_and_august(tmp_path / "p")
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        assert anycost_here(config, server.url, "run").returncode == 0
        (config.parent / "exports" / "month.csv").unlink()
        (index,) = (config.parent / ".anycost" / "index").glob("*.json")
        data = json.loads(index.read_text())  # as an earlier version left it: no memory
        data = {"settings": data["settings"], "files": data["files"]}
        data["files"] = {p: e for p, e in data["files"].items() if not p.endswith("month.csv")}
        index.write_text(json.dumps(data))
        again = anycost_here(config, server.url, "run")
        said = words(again)
        assert again.returncode == 0, said
        assert (
            "2024-07: kept: CloudZero holds 1 row, cost 100.00; kept, because nothing shows" in said
        )
        assert held(server, "2024-07") == (1, Decimal("100.00"))


def test_a_deleted_file_is_remembered_across_a_change_of_settings(tmp_path: Path) -> None:
    config = _july_and_august(tmp_path / "p")
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        assert anycost_here(config, server.url, "run").returncode == 0
        (config.parent / "exports" / "month.csv").unlink()
        settings = yaml.safe_load(config.read_text())
        settings["sources"]["vendor"]["columns"]["resource/region"] = "account"
        config.write_text(yaml.safe_dump(settings, sort_keys=False))
        again = anycost_here(config, server.url, "run")
        assert again.returncode == 0, words(again)
        assert "2024-07: unchanged" in words(again) and "keeps 1 row" in words(again), words(again)
        assert held(server, "2024-07") == (1, Decimal("100.00"))


def test_a_month_one_source_left_and_another_lost_its_files_keeps_only_the_lost_rows(
    tmp_path: Path,
) -> None:
    """July: the vendor's invoice moved to August, the tax file was deleted. Clearing July would
    drop the tax; keeping it whole would count the invoice twice. July as last sent tells its
    rows apart: the tax row is carried forward, the invoice's row leaves with it to August."""
    config = _july_and_august(tmp_path / "p")
    (config.parent / "taxes").mkdir()
    (config.parent / "taxes" / "tax-07.csv").write_text(HEADER + "2024-07-31,Tax,7.00,a\n")
    (config.parent / "taxes" / "tax-08.csv").write_text(HEADER + "2024-08-31,Tax,8.00,a\n")
    settings = yaml.safe_load(config.read_text())
    tax = {**settings["sources"]["vendor"], "path": "taxes/*.csv"}
    settings["sources"]["tax"] = tax
    config.write_text(yaml.safe_dump(settings, sort_keys=False))
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        assert anycost_here(config, server.url, "run").returncode == 0
        assert held(server, "2024-07") == (2, Decimal("107.00"))
        (config.parent / "taxes" / "tax-07.csv").unlink()
        (config.parent / "exports" / "month.csv").write_text(
            HEADER + "2024-08-01,Support,100.00,a\n"
        )
        again = anycost_here(config, server.url, "run")
        said = words(again)
        assert again.returncode == 0, said
        assert "keeps 1 row, cost 7.00" in said and "tax-07.csv" in said, said
        assert held(server, "2024-07") == (1, Decimal("7.00")), said
        assert held(server, "2024-08") == (3, Decimal("158.00")), said


def test_plan_exits_1_when_it_cannot_judge_and_names_later_months(tmp_path: Path) -> None:
    config = _july_and_august(tmp_path / "p")
    down = anycost_here(config, "http://127.0.0.1:9", "plan")  # nothing listens there
    assert down.returncode == 1, words(down)
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        later = anycost_here(config, server.url, "plan", "2024-08", "2099-01")
        assert later.returncode == 2, words(later)
        assert "(not judged: 2099-01, after this month (UTC))" in words(later)


def test_of_two_overlapping_runs_the_later_read_wins_whatever_finishes_first(
    tmp_path: Path,
) -> None:
    """Run A's pull starts first and is slow (the vendor then says 100.00); run B pulls later
    (the vendor has corrected the month to 80.00) and sends first. A must not then send its
    older 100.00 over B's 80.00."""
    import threading

    from anycost_pipeline_tests.sources.fake_api import Answer, Request, fake_api

    release, asked = threading.Event(), threading.Event()
    answers = iter(["100.00", "80.00"])

    def respond(request: Request) -> Answer:
        cost = next(answers)
        if cost == "100.00":
            asked.set()
            assert release.wait(120)  # A's pull is answered only after B has sent
        return Answer(body={"data": [{"date": "2024-08-05", "service": "Support", "cost": cost}]})

    with fake_api(respond) as api, start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        config = http_source_project(tmp_path / "p", api.url, connection_id=CID)
        first = subprocess.Popen(
            [ANYCOST, "run", "2024-08"],
            cwd=config.parent,
            env={**environment(config, server.url), "NO_PROXY": "127.0.0.1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            while not asked.wait(0.2) and first.poll() is None:
                pass
            if not asked.is_set():
                raise AssertionError("run A never pulled: " + first.communicate()[0])
            later = subprocess.run(
                [ANYCOST, "run", "2024-08"],
                cwd=config.parent,
                env={**environment(config, server.url), "NO_PROXY": "127.0.0.1"},
                capture_output=True,
                text=True,
                timeout=240,
            )
            assert later.returncode == 0, words(later)
            assert held(server, "2024-08") == (1, Decimal("80.00"))
        finally:
            release.set()
            out, _ = first.communicate(timeout=240)
        said = " ".join(out.split())
        assert held(server, "2024-08") == (1, Decimal("80.00")), said  # not the older 100.00
        assert first.returncode == 0, said
        assert "2024-08: superseded" in said and "Nothing was sent" in said, said


def test_plan_confirms_a_submission_the_drop_list_could_not_confirm_then(tmp_path: Path) -> None:
    """A sum month was sent, but the drop list could not be read afterwards (the journal says
    'unconfirmed'). Once CloudZero answers, `anycost plan` must see what `anycost run` sees:
    the month as sent (it said 'conflict' on sum, where the run says 'unchanged')."""
    config = project(tmp_path / "p", "2024-08-01,A,10.00,a\n2024-08-02,B,5.00,a\n", "sum")
    faults = Faults(reads_fail_after_writes=True)
    with start_sandbox(tmp_path / "cz", api_key=KEY, faults=faults) as server:
        sent = anycost_here(config, server.url, "run", "2024-08")
        assert "sent, not confirmed" in words(sent), words(sent)
        server.faults.reads_fail_after_writes = False
        planned = anycost_here(config, server.url, "plan", "2024-08")
        said = words(planned)
        assert planned.returncode == 0, said
        assert "2024-08 unchanged" in said, said
        again = anycost_here(config, server.url, "run", "2024-08")
        assert again.returncode == 0 and "2024-08: unchanged" in words(again), words(again)
        assert held(server, "2024-08") == (2, Decimal("15.00"))


def test_a_month_whose_original_export_was_rotated_away_is_not_shrunk(tmp_path: Path) -> None:
    """May's invoice is deleted by the vendor's retention while a correction file for May is
    still there: sending May as the files hold it would drop the invoice's 100.00 from
    CloudZero. The invoice's row is carried forward, so May is unchanged, and the words say
    which row the month keeps; `delete-month` and a run send it as the files hold it."""
    config = project(tmp_path / "p", "2024-05-20,Support,100.00,a\n")
    exports = config.parent / "exports"
    (exports / "correction-0001.csv").write_text(HEADER + "2024-05-21,Support,-10.00,a\n")
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        assert anycost_here(config, server.url, "run").returncode == 0
        assert held(server, "2024-05") == (2, Decimal("90.00"))
        (exports / "month.csv").unlink()  # the original invoice, rotated away

        again = anycost_here(config, server.url, "run", "2024-05")
        said = words(again)
        assert again.returncode == 0, said
        assert held(server, "2024-05") == (2, Decimal("90.00")), said  # not shrunk to -10.00
        assert "2024-05: unchanged" in said and "month.csv" in said, said
        assert "keeps 1 row, cost 100.00" in said, said

        planned = anycost_here(config, server.url, "plan", "2024-05")
        assert "2024-05 unchanged" in words(planned), words(planned)

        emptied_then_sent_as_the_files_hold_it(
            config, server, "2024-05", (2, Decimal("90.00")), (1, Decimal("-10.00"))
        )


def emptied_then_sent_as_the_files_hold_it(
    config: Path,
    server: SandboxServer,
    month: str,
    carried: tuple[int, Decimal],
    expected: tuple[int, Decimal],
) -> None:
    """`--force` sends a month with the rows it carries from gone files (forcing a send never
    drops them: CloudZero holds `carried`); `delete-month` and a run send it as the files hold
    it (`expected`), after which it is unchanged."""
    forced = anycost_here(config, server.url, "run", month, "--force")
    assert forced.returncode == 0, words(forced)
    assert held(server, month) == carried, words(forced)
    emptied = anycost_here(config, server.url, "delete-month", "main", month, "--yes-delete-month")
    assert emptied.returncode == 0, words(emptied)
    sent = anycost_here(config, server.url, "run", month)
    assert f"{month}: sent" in words(sent), words(sent)
    assert held(server, month) == expected
    after = anycost_here(config, server.url, "run", month)
    assert f"{month}: unchanged" in words(after), words(after)


def test_a_source_whose_deleted_files_are_withdrawn_shrinks_and_clears_its_months(
    tmp_path: Path,
) -> None:
    """`deleted_files: remove`: the files are the whole truth, a deleted file's rows leave."""
    config = project(tmp_path / "p", "2024-05-20,Support,100.00,a\n")
    settings = yaml.safe_load(config.read_text())
    settings["sources"]["vendor"]["deleted_files"] = "remove"
    config.write_text(yaml.safe_dump(settings, sort_keys=False))
    exports = config.parent / "exports"
    (exports / "correction-0001.csv").write_text(HEADER + "2024-05-21,Support,-10.00,a\n")
    (exports / "june.csv").write_text(HEADER + "2024-06-02,Support,7.00,a\n")
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        assert anycost_here(config, server.url, "run").returncode == 0
        (exports / "month.csv").unlink()
        (exports / "june.csv").unlink()
        again = anycost_here(config, server.url, "run", "2024-05", "2024-06")
        assert again.returncode == 0, words(again)
        assert held(server, "2024-05") == (1, Decimal("-10.00"))
        assert held(server, "2024-06") == (0, Decimal(0))
        assert "2024-06: cleared" in words(again), words(again)


@pytest.mark.parametrize(
    ("day_one", "total"), [("10.00", Decimal("15.00")), ("10.50", Decimal("15.50"))]
)
def test_a_month_to_date_export_renamed_by_the_vendor_is_sent_as_it_grows(
    tmp_path: Path, day_one: str, total: Decimal
) -> None:
    """The vendor replaces `exp-0815.csv` with `exp-0816.csv` (the month to date, one day
    more, day 1 perhaps restated): a file that held August is gone, but its rows are in the
    new one, so August is sent (review: the shrink guard held it back for good, saying rows
    would be dropped; second review: with day 1 restated, rows compared as exact text did)."""
    config = project(tmp_path / "p", "2024-08-01,A,10.00,a\n")
    exports = config.parent / "exports"
    (exports / "month.csv").rename(exports / "exp-0815.csv")
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        assert anycost_here(config, server.url, "run", "2024-08").returncode == 0
        (exports / "exp-0815.csv").unlink()
        (exports / "exp-0816.csv").write_text(
            HEADER + f"2024-08-01,A,{day_one},a\n2024-08-16,A,5.00,a\n"
        )
        again = anycost_here(config, server.url, "run", "2024-08")
        assert again.returncode == 0, words(again)
        assert "2024-08: sent" in words(again), words(again)
        assert held(server, "2024-08") == (2, total)


def test_a_carried_month_another_sender_wrote_to_is_replaced_and_says_so(
    tmp_path: Path,
) -> None:
    """July's files are gone (its row is carried forward); another sender then writes to July.
    On a replace_drop connection the month as the adaptor sends it replaces the other rows,
    and the words say what was overwritten and which row is carried (history seed 20 found
    the run saying 'was sent but CloudZero does not hold what was sent' here, when it kept
    the month)."""
    config = _july_and_august(tmp_path / "p")
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        assert anycost_here(config, server.url, "run").returncode == 0
        (config.parent / "exports" / "month.csv").unlink()
        row = {"time/usage_start": "2024-07-03T05:00:00Z", "cost/cost": "-1.00"}
        another_sender(server, "2024-07", "sum", [row])
        again = anycost_here(config, server.url, "run", "2024-07")
        said = words(again)
        assert again.returncode == 0, said
        assert "CloudZero held 2 rows that this adaptor had not left there" in said, said
        assert "keeps 1 row, cost 100.00" in said, said
        assert "was sent but CloudZero does not hold what was sent" not in said, said
        assert held(server, "2024-07") == (1, Decimal("100.00"))


FOREIGN_ROW = {"time/usage_start": "2024-08-03T05:00:00Z", "cost/cost": "-1.00"}


def refused_as_a_conflict(config: Path, server: SandboxServer, month: str) -> str:
    """`anycost run` after another sender wrote to `month`: exit 1, nothing sent, the month and
    the way out named, CloudZero's month as the other sender left it. Returns the words."""
    drops = len(server.store.drop_history(CID))
    again = anycost_here(config, server.url, "run")
    said = words(again)
    assert again.returncode == 1, said
    assert f"Nothing was sent for {month}" in said and "delete-month" in said, said
    assert len(server.store.drop_history(CID)) == drops  # nothing sent
    assert held(server, month) == (1, Decimal("-1.00"))
    return said


@pytest.mark.parametrize("operation", ["sum", "replace_drop"])
def test_another_senders_rows_in_a_month_the_sources_never_held_are_a_conflict(
    tmp_path: Path, operation: str
) -> None:
    """Found by the history campaign (seeds 57 and 125): the sources hold July only; another
    sender adds a row to August. `anycost run` must not exit 0 with CloudZero's August
    differing from the sources' (nothing): it sends nothing to August, names it as a conflict
    and exits 1; after `delete-month`, as its words advise, a run is clean and exact."""
    config = project(tmp_path / "p", "2024-07-02,Support,90.78,a\n", operation)
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        assert anycost_here(config, server.url, "run").returncode == 0
        another_sender(server, "2024-08", "sum", [FOREIGN_ROW])
        said = refused_as_a_conflict(config, server, "2024-08")
        assert "that this adaptor never sent" in said
        plan = anycost_here(config, server.url, "plan")
        assert plan.returncode == 2 and "conflict" in words(plan), words(plan)

        deleted = anycost_here(
            config, server.url, "delete-month", "main", "2024-08", "--yes-delete-month"
        )
        assert deleted.returncode == 0, words(deleted)
        clean = anycost_here(config, server.url, "run")
        assert clean.returncode == 0, words(clean)
        assert held(server, "2024-08") == (0, Decimal(0))
        assert held(server, "2024-07") == (1, Decimal("90.78"))


def test_another_senders_rows_in_a_sum_month_emptied_by_delete_month_are_a_conflict(
    tmp_path: Path,
) -> None:
    """Found by the history campaign (seed 173): on a sum connection the user emptied a month
    the sources never held (as the conflict's words advise), then another sender wrote to it
    again. The adaptor's last act there was the clearing, so CloudZero's month is not as the
    adaptor left it: a conflict again (exit 1), not 'kept' with exit 0."""
    config = project(tmp_path / "p", "2024-07-02,Support,90.78,a\n", "sum")
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        assert anycost_here(config, server.url, "run").returncode == 0
        another_sender(server, "2024-08", "sum", [FOREIGN_ROW])
        refused_as_a_conflict(config, server, "2024-08")
        emptied = anycost_here(
            config, server.url, "delete-month", "main", "2024-08", "--yes-delete-month"
        )
        assert emptied.returncode == 0, words(emptied)
        assert anycost_here(config, server.url, "run").returncode == 0
        another_sender(server, "2024-08", "sum", [FOREIGN_ROW])
        refused_as_a_conflict(config, server, "2024-08")


def test_a_month_whose_only_file_was_rotated_away_is_kept_even_with_its_journal_lost(
    tmp_path: Path,
) -> None:
    """Found by the history campaign (seed 190): the only export of July is deleted by the
    vendor's retention and the journal is lost. July as last sent still holds the deleted
    file's row, so it is carried forward (sent again, as the journal cannot say CloudZero
    holds it) and the run succeeds; a month nothing shows the sources ever held would be a
    conflict instead."""
    config = project(tmp_path / "p", "2024-07-15,Support,236.36,a\n")
    (config.parent / "exports" / "invoice-0002.csv").write_text(
        HEADER + "2024-08-12,Compute,479.43,a\n"
    )
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        assert anycost_here(config, server.url, "run").returncode == 0
        (config.parent / "exports" / "month.csv").unlink()  # July's only file, rotated away
        for record in (config.parent / ".anycost" / "submissions").glob("*/*.json"):
            record.unlink()  # the journal is lost
        again = anycost_here(config, server.url, "run")
        said = words(again)
        assert again.returncode == 0, said
        assert "keeps 1 row, cost 236.36" in said and "month.csv" in said, said
        assert held(server, "2024-07") == (1, Decimal("236.36"))
        assert held(server, "2024-08") == (1, Decimal("479.43"))  # sent again: no record


@pytest.mark.parametrize("sent_before", [False, True])
def test_replacing_a_month_another_sender_wrote_says_what_it_held(
    tmp_path: Path, sent_before: bool
) -> None:
    """On replace_drop the sources' month replaces another sender's, and the words say what
    was overwritten (review finding 7: the run said only "First submission of 2024-07: 1 row.
    Cost 10.00." over another sender's 2000.00)."""
    config = project(tmp_path / "p", "2024-07-10,Support,10.00,a\n")
    foreign = {"time/usage_start": "2024-07-01T00:00:00Z", "cost/cost": "2000.00"}
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        if sent_before:
            assert anycost_here(config, server.url, "run").returncode == 0
            another_sender(server, "2024-07", "sum", [foreign])  # 2 rows, 2010.00 now
        else:
            another_sender(server, "2024-07", "replace_drop", [foreign])
        before = held(server, "2024-07")
        done = anycost_here(config, server.url, "run")
        said = words(done)
        assert done.returncode == 0, said
        assert held(server, "2024-07") == (1, Decimal("10.00")), said
        # The drop list gives the rows; the cost is said when the month's rows were read.
        rows = f"{before[0]} row{'s' if before[0] != 1 else ''}"
        assert f"CloudZero held {rows} that this adaptor had not left there" in said, said
        assert "the sources' month replaced it" in said, said


def test_a_source_moved_to_another_connection_leaves_the_months_it_held_in_the_first(
    tmp_path: Path,
) -> None:
    """Source `vendor` moves from connection main to connection other in anycost.yaml; main
    keeps source `gamma` (July only). August, which vendor alone held on main, is cleared
    there, not kept beside its copy on the other connection (review finding 3: 500.00 counted
    twice, "kept, because nothing shows that source gamma's records left 2024-08")."""
    config = project(tmp_path / "p", "2024-07-10,Support,1000.00,a\n2024-08-05,Support,500.00,a\n")
    settings = yaml.safe_load(config.read_text())
    settings["connections"]["other"] = {"connection_id": "conn-other"}
    settings["sources"]["gamma"] = dict(settings["sources"]["vendor"], path="gamma/*.csv")
    (config.parent / "gamma").mkdir()
    (config.parent / "gamma" / "july.csv").write_text(HEADER + "2024-07-11,Compute,7.00,a\n")
    config.write_text(yaml.safe_dump(settings, sort_keys=False))
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        assert anycost_here(config, server.url, "run").returncode == 0
        assert held(server, "2024-08") == (1, Decimal("500.00"))

        settings["sources"]["vendor"]["connection"] = "other"
        config.write_text(yaml.safe_dump(settings, sort_keys=False))
        moved = anycost_here(config, server.url, "run")
        said = words(moved)
        assert moved.returncode == 0, said
        assert held(server, "2024-07") == (1, Decimal("7.00")), said
        assert held(server, "2024-08") == (0, Decimal(0)), said
        assert "2024-08 (main): cleared: CloudZero holds 1 row, cost 500.00" in said, said
        other = server.store.month_rows("conn-other", "2024-08")
        assert [r["cost/cost"] for r in other] == ["500.00"], said


def test_months_sent_before_a_later_start_month_are_named_as_not_judged(tmp_path: Path) -> None:
    """start_month moved from 2024-01 to 2024-08 after July was sent: plan and run name July as
    no longer judged (review finding 4: a charge re-dated out of July then stayed in both
    months, and nothing said July was left out)."""
    config = _july_and_august(tmp_path / "p")
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        assert anycost_here(config, server.url, "run").returncode == 0
        settings = yaml.safe_load(config.read_text())
        settings["start_month"] = "2024-08"
        config.write_text(yaml.safe_dump(settings, sort_keys=False))
        note = "not judged: 2024-07, before start_month 2024-08; this adaptor sent them"
        planned = anycost_here(config, server.url, "plan")
        assert planned.returncode == 0 and note in words(planned), words(planned)
        ran = anycost_here(config, server.url, "run")
        assert ran.returncode == 0 and note in words(ran), words(ran)


def test_a_connection_whose_only_source_moved_away_clears_the_months_it_held(
    tmp_path: Path,
) -> None:
    """The only source of connection main moves to connection other: main has no source left,
    and its months must still be judged (review: main was no longer judged at all, so July and
    August stayed there while other was sent them too: counted twice, exit 0)."""
    config = _july_and_august(tmp_path / "p")
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        assert anycost_here(config, server.url, "run").returncode == 0
        settings = yaml.safe_load(config.read_text())
        settings["connections"]["other"] = {"connection_id": "conn-other"}
        settings["sources"]["vendor"]["connection"] = "other"
        config.write_text(yaml.safe_dump(settings, sort_keys=False))

        planned = anycost_here(config, server.url, "plan")
        assert planned.returncode == 2, words(planned)
        assert "2024-07  clear" in planned.stdout, words(planned)
        moved = anycost_here(config, server.url, "run")
        said = words(moved)
        assert moved.returncode == 0, said
        assert held(server, "2024-07", "conn-other") == (1, Decimal("100.00")), said
        assert held(server, "2024-08", "conn-other") == (1, Decimal("50.00")), said
        assert held(server, "2024-07") == (0, Decimal(0)), said
        assert held(server, "2024-08") == (0, Decimal(0)), said
        assert "2024-07 (main): cleared" in said, said
        assert anycost_here(config, server.url, "plan").returncode == 0


def test_a_connection_removed_from_anycost_yaml_is_named_with_the_months_it_holds(
    tmp_path: Path,
) -> None:
    """A connection taken out of anycost.yaml is judged no more: plan and run say so, with the
    months this adaptor sent it, instead of passing over them in silence."""
    config = _july_and_august(tmp_path / "p")
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        assert anycost_here(config, server.url, "run").returncode == 0
        settings = yaml.safe_load(config.read_text())
        settings["connections"] = {"other": {"connection_id": "conn-other"}}
        settings["sources"]["vendor"]["connection"] = "other"
        config.write_text(yaml.safe_dump(settings, sort_keys=False))
        note = (
            "not judged: connection main, which anycost.yaml no longer names; this adaptor sent "
            "2024-07, 2024-08 to it, and CloudZero keeps them as they are"
        )
        for command in ("plan", "run"):
            said = words(anycost_here(config, server.url, command))
            assert note in said, said
        assert held(server, "2024-07") == (1, Decimal("100.00"))  # judged by nothing: kept
