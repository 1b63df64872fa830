"""Late changes to final months, through `anycost` as a user runs it against the sandbox over
HTTP: a month sent while settling is no late change; a late change is said (even when its send
stops or is not confirmed), held until `--force` under `late_change: hold` (even after a
stopped forced send), judged by the rule in force; each source and each held month is labelled.

Time is an input of the feature (a month is final from a date). To run `anycost` "on" a given
day, `clock()` puts a sitecustomize.py on PYTHONPATH that fixes `anycost_pipeline.settling.utc_now`
(the clock the label and the late-change verdict read) and `anycost_pipeline.cloudzero.submit._now`
(the journal's times) in every Python process of the run, Dagster's step processes included."""

from decimal import Decimal
from pathlib import Path

import pytest

from anycost_pipeline.cloudzero.sandbox import start_sandbox
from anycost_pipeline_tests.cli.live import KEY, anycost
from anycost_pipeline_tests.cli.test_months_over_time import held, words
from anycost_pipeline_tests.cli.test_settling import CORRECTED, INVOICED, export, project

SHIM = """
import os
_now = os.environ.get("ANYCOST_TEST_NOW")
if _now:
    from datetime import datetime
    _fixed = datetime.fromisoformat(_now)
    import anycost_pipeline.settling as _settling
    _settling.utc_now = lambda: _fixed
    import anycost_pipeline.cloudzero.submit as _submit
    _submit._now = lambda: _fixed.isoformat(timespec="seconds")
"""


@pytest.fixture
def clock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(SHIM)
    monkeypatch.setenv("PYTHONPATH", str(shim))

    def at(instant: str) -> None:
        monkeypatch.setenv("ANYCOST_TEST_NOW", instant)

    return at


def test_a_month_sent_while_settling_by_date_is_not_a_late_change(tmp_path: Path, clock) -> None:
    """Before the fix: a month sent while it was still settling by date (before after_days)
    is called a LATE CHANGE ("has been final at CloudZero since ...") when the first run
    after its after_days date finds it changed: CloudZero holds the estimated month, not a
    final one. `settling.final_since` makes a record final from max(final_from, sent_at)
    even when it was sent before final_from. That is exactly the refresh schedule's last
    pull (day after_days+1)."""
    config = project(tmp_path / "p", INVOICED, {"after_days": 3})
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        clock("2024-09-02T12:00:00+00:00")  # settling: final from 2024-09-04
        first = anycost(config, server.url, "run", "2024-08")
        said = words(first)
        assert first.returncode == 0, said
        assert (
            "2024-08 is estimated: source vendor: settles 3 days after the month, final from 2024-09-04"
            in said
        )

        export(config, CORRECTED)  # the vendor's late data, arrived while settling
        clock("2024-09-05T06:00:00+00:00")  # the refresh schedule's pull on day after_days + 1
        final = anycost(config, server.url, "run", "2024-08")
        said = words(final)
        assert final.returncode == 0, said
        assert (
            "2024-08 is final: source vendor: settles 3 days after the month (2024-09-04)" in said
        )
        assert "LATE CHANGE" not in said, said  # it was never final at CloudZero


def test_hold_does_not_hold_the_first_final_figures_of_a_month_sent_while_settling(
    tmp_path: Path, clock
) -> None:
    """the same with `late_change: hold`: the month's final figures, pulled once after it
    settles by the refresh schedule, are held (exit 1, nothing sent) and stay unsent until
    someone runs --force, although CloudZero only ever held the estimated month."""
    config = project(tmp_path / "p", INVOICED, {"after_days": 3, "late_change": "hold"})
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        clock("2024-09-02T12:00:00+00:00")
        assert anycost(config, server.url, "run", "2024-08").returncode == 0
        export(config, CORRECTED)
        clock("2024-09-05T06:00:00+00:00")
        planned = anycost(config, server.url, "plan", "2024-08")
        assert "held" not in words(planned).split("Plan:")[0], words(planned)
        final = anycost(config, server.url, "run", "2024-08")
        assert final.returncode == 0, words(final)
        assert held(server, "2024-08") == (2, Decimal("55.25"))


def test_a_late_change_sent_but_unconfirmed_is_still_said(tmp_path: Path) -> None:
    """Before the fix: a late change to a final month whose submission is sent but not
    confirmed (the drop list cannot be read afterwards) is never said: the drop raises
    SentButNotListed before drop.py logs `state.reason` / writes `late_change`, the FAILED
    message has no LATE CHANGE, and the next run confirms it (unchanged), so no run ever
    says LATE CHANGE although CloudZero's final month was replaced."""
    config = project(tmp_path / "p", INVOICED, {"when": "bill/invoice_id"})
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        first = anycost(config, server.url, "run", "2024-08")
        assert first.returncode == 0, words(first)
        assert "2024-08 is final:" in words(first)

        export(config, CORRECTED)
        server.faults.reads_fail_after_writes = True
        late = anycost(config, server.url, "run", "2024-08")
        server.faults.reads_fail_after_writes = False
        after = anycost(config, server.url, "run", "2024-08")
        assert held(server, "2024-08") == (2, Decimal("55.25"))  # the final month was replaced
        assert "LATE CHANGE" in words(late) + words(after), words(late) + " || " + words(after)


def test_a_held_month_is_labelled_in_anycost_run(tmp_path: Path) -> None:
    """Before the fix: a held month (and any month whose drop fails) gets no
    `estimated`/`final` label in `anycost run`: the label is printed only from a
    materialisation's metadata (cli/run.py _say_materialised), and a held month's drop
    raises MonthConflict."""
    config = project(tmp_path / "p", INVOICED, {"when": "bill/invoice_id", "late_change": "hold"})
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        assert anycost(config, server.url, "run", "2024-08").returncode == 0
        export(config, CORRECTED)
        late = anycost(config, server.url, "run", "2024-08")
        said = words(late)
        assert late.returncode == 1, said
        assert "2024-08 is final: source vendor:" in said, said


def test_a_late_change_resent_after_a_stopped_submission_is_still_said(tmp_path: Path) -> None:
    """Before the fix: the same when the late re-send is stopped (every write answered 503,
    nothing applied): the run that stops does not say LATE CHANGE, and the journal record it
    leaves (state stopped, no `sent_at`) makes `final_since` answer None, so the next run,
    which does replace CloudZero's final month, sends it with no warning and no
    `late_change` metadata."""
    config = project(tmp_path / "p", INVOICED, {"when": "bill/invoice_id"})
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        assert anycost(config, server.url, "run", "2024-08").returncode == 0
        export(config, CORRECTED)
        server.faults.error_rate = 1.0
        stopped = anycost(config, server.url, "run", "2024-08")
        server.faults.error_rate = 0.0
        assert stopped.returncode == 1, words(stopped)
        assert held(server, "2024-08") == (2, Decimal("57.25"))  # nothing applied
        again = anycost(config, server.url, "run", "2024-08")
        assert again.returncode == 0, words(again)
        assert held(server, "2024-08") == (2, Decimal("55.25"))  # the final month is replaced now
        assert "LATE CHANGE" in words(again), words(again)


def test_a_month_still_settling_under_its_current_rule_is_not_held_as_final(
    tmp_path: Path, clock
) -> None:
    """a month whose `settles` was lengthened after it was sent is labelled `estimated` (its
    current rule) and, in the same run, called "final at CloudZero" with a LATE CHANGE, and held
    under `late_change: hold`: `final_since` uses the `final_from` recorded at sending, not the
    rule in force. The two printed lines contradict each other."""
    import yaml

    config = project(tmp_path / "p", INVOICED, {"after_days": 3, "late_change": "hold"})
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        clock("2024-09-10T12:00:00+00:00")
        assert anycost(config, server.url, "run", "2024-08").returncode == 0  # final (3 days)
        data = yaml.safe_load(config.read_text())
        data["sources"]["vendor"]["settles"]["after_days"] = 20  # the vendor settles later
        config.write_text(yaml.safe_dump(data, sort_keys=False))
        export(config, CORRECTED)
        clock("2024-09-12T12:00:00+00:00")
        planned = words(anycost(config, server.url, "plan", "2024-08"))
        assert "[estimated: source vendor: settles 20 days after the month" in planned, planned
        assert "has been final at CloudZero" not in planned, planned
        run = anycost(config, server.url, "run", "2024-08")
        assert run.returncode == 0, words(run)


def test_hold_is_not_lost_after_a_stopped_forced_resend(tmp_path: Path) -> None:
    """Before the fix: under `late_change: hold`, a `--force` re-send of a final month that
    is stopped (nothing applied) leaves a journal record without `sent_at`; `final_since`
    then answers None, so a later change that nobody checked is sent by a plain run (a
    schedule, a sensor), with no hold and no warning, although CloudZero still holds the
    final month."""
    config = project(tmp_path / "p", INVOICED, {"when": "bill/invoice_id", "late_change": "hold"})
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        assert anycost(config, server.url, "run", "2024-08").returncode == 0
        export(config, CORRECTED)
        server.faults.error_rate = 1.0
        forced = anycost(config, server.url, "run", "2024-08", "--force")
        server.faults.error_rate = 0.0
        assert forced.returncode == 1, words(forced)
        assert held(server, "2024-08") == (2, Decimal("57.25"))  # still the final month
        export(config, "2024-08-05,Compute,40.00,a,INV-1\n2024-08-06,Storage,7.25,a,INV-1\n")
        plain = anycost(config, server.url, "run", "2024-08")
        assert held(server, "2024-08") == (2, Decimal("57.25")), words(plain)
        assert plain.returncode == 1 and "LATE CHANGE" in words(plain), words(plain)


def test_each_source_of_a_connection_is_labelled(tmp_path: Path) -> None:
    """Before the fix: with two sources on one connection, `anycost run` labels the
    connection's month only; the reason names only the sources that decide it
    (`settling.month_settled`: "the estimated ones, else all"), so a source whose month is
    final gets no label at all, although each month of each source is to be labelled with
    its reason."""
    import yaml

    config = project(tmp_path / "p", INVOICED, {"after_days": 3})
    data = yaml.safe_load(config.read_text())
    second = {
        **data["sources"]["vendor"],
        "path": "other/*.csv",
        "settles": {"when": "bill/invoice_id"},
    }
    data["sources"]["other"] = second
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    (config.parent / "other").mkdir()
    (config.parent / "other" / "o.csv").write_text(
        "time,service,amount,account,invoice\n2024-08-07,Network,1.00,b,\n"
    )
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        run = anycost(config, server.url, "run", "2024-08")
        said = words(run)
        assert run.returncode == 0, said
        assert "source other: 1 row of 1 not yet with bill/invoice_id" in said, said
        assert "source vendor: settles 3 days after the month (2024-09-04)" in said, said


def test_the_label_does_not_promise_a_final_date_the_when_rule_may_not_keep(
    tmp_path: Path, clock
) -> None:
    """before `after_days` has passed, a month whose rows have no invoice id yet is labelled
    "final from 2024-09-04", which is untrue (it is final only once every row has
    bill/invoice_id): `settling.source_settled` returns on the date rule before looking at
    `when`, so the reason that will still hold on 2024-09-04 is not said."""
    from anycost_pipeline_tests.cli.test_settling import UNINVOICED

    config = project(tmp_path / "p", UNINVOICED, {"after_days": 3, "when": "bill/invoice_id"})
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        clock("2024-09-02T12:00:00+00:00")
        run = anycost(config, server.url, "run", "2024-08")
        said = words(run)
        assert run.returncode == 0, said
        assert "2 rows of 2 not yet with bill/invoice_id" in said, said
