"""`preset: confluent` against a stand-in of Confluent Cloud's Billing API, through `anycost run`:
the month arrives to the last digit over several pages and a 429 that says when to come back
only in X-RateLimit-Reset (seconds from now), a restated day changes only that day, a refused key
names both variables and sends nothing, and neither the key nor the secret is written anywhere."""

import dataclasses
from decimal import Decimal

import pytest

from anycost_pipeline.cbf.presets import PRESETS
from anycost_pipeline.cli import main
from anycost_pipeline.config import HttpSource
from anycost_pipeline_tests.conftest import Project, printed_words
from anycost_pipeline_tests.sources.helpers import CONNECTION, files_holding, sent_rows
from anycost_pipeline_tests.vendors.confluent_api import Cost, august_costs, confluent_api

KEY = "STANDINKEY7Q2W"
SECRET = "cflt-secret-s3cr3t+/Zx9"


def _august(costs: list[Cost]) -> list[Cost]:
    return [c for c in costs if c.day.startswith("2024-08-")]


def _billed(costs: list[Cost]) -> Decimal:
    return sum((Decimal(c.amount) for c in costs), Decimal(0))


def _use_confluent(project: Project, base_url: str, **keys: object) -> None:
    config = project.config()
    config["sources"] = {
        "confluent": {"connection": CONNECTION, "preset": "confluent", "base_url": base_url, **keys}
    }
    project.write_config(config)


def test_a_month_of_confluent_costs_arrives_exactly_over_pages_and_a_429(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    costs = august_costs()
    monkeypatch.setenv("CONFLUENT_CLOUD_API_KEY", KEY)
    monkeypatch.setenv("CONFLUENT_CLOUD_API_SECRET", SECRET)
    with confluent_api(KEY, SECRET, costs, throttle_request=2, reset_seconds="1") as api:
        _use_confluent(project, api.url, params={"page_size": "25"})
        assert main(["run", "2024-08"]) == 0
    said = printed_words(capsys)
    assert "2024-08: sent" in said and KEY not in said and SECRET not in said
    assert files_holding(project, SECRET) == [] and files_holding(project, KEY) == []

    expected = _august(costs)
    pages = -(-len(expected) // 25)
    asked = [s for s in api.seen if s.status == 200]
    assert len(asked) == pages >= 3
    assert [s.query.get("page_token") for s in asked] == [None] + [
        [str(25 * n)] for n in range(1, pages)
    ]
    # The 429 had no Retry-After: its X-RateLimit-Reset second was waited, then the same page.
    assert api.seen[1].status == 429 and api.seen[2].query == api.seen[1].query
    assert api.seen[2].at - api.seen[1].at >= 1.0
    assert asked[0].query["start_date"] == ["2024-08-01"]
    assert asked[0].query["end_date"] == ["2024-09-01"]  # exclusive: the day after the month

    rows = sent_rows(project, "2024-08")
    assert len(rows) == len(expected)
    total = sum((Decimal(r["cost/cost"]) for r in rows), Decimal(0))
    assert total == _billed(expected) and total > 0
    (credit,) = [r for r in rows if r.get("lineitem/type") == "Credit"]
    assert Decimal(credit["cost/cost"]) == Decimal("-50") and "resource/id" not in credit
    assert credit["time/usage_start"] == "2024-08-15T00:00:00Z"
    usage = [r for r in rows if r is not credit]
    assert all(r.get("lineitem/type", "Usage") == "Usage" for r in usage)
    assert all("e" not in r["cost/cost"].lower() for r in rows)  # 1.5e-05 → 0.000015
    assert {r["resource/id"] for r in usage} == {"lkc-12345", "lcc-777"}
    assert {r["resource/account"] for r in usage} == {"env-a1b2c"}


def test_a_restated_day_changes_exactly_that_day_when_the_month_is_run_again(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    costs = august_costs()
    monkeypatch.setenv("CONFLUENT_CLOUD_API_KEY", KEY)
    monkeypatch.setenv("CONFLUENT_CLOUD_API_SECRET", SECRET)
    with confluent_api(KEY, SECRET, costs) as api:
        _use_confluent(project, api.url)
        assert main(["run", "2024-08"]) == 0
        before = sent_rows(project, "2024-08")
        # Confluent restates 20 August's CKUs (late data arrives up to days later).
        (index, cost) = next(
            (n, c)
            for n, c in enumerate(costs)
            if c.day == "2024-08-20" and c.line_type == "KAFKA_NUM_CKUS"
        )
        costs[index] = dataclasses.replace(cost, amount=str(Decimal(cost.amount) + Decimal("1.01")))
        assert main(["run", "2024-08"]) == 0
    after = sent_rows(project, "2024-08")
    assert "2024-08: sent" in printed_words(capsys)
    changed = [r for r in after if r not in before]
    gone = [r for r in before if r not in after]
    assert [r["time/usage_start"] for r in changed + gone] == ["2024-08-20T00:00:00Z"] * 2
    assert Decimal(changed[0]["cost/cost"]) - Decimal(gone[0]["cost/cost"]) == Decimal("1.01")
    assert sum((Decimal(r["cost/cost"]) for r in after), Decimal(0)) == _billed(_august(costs))


def test_a_refused_key_fails_the_month_naming_both_variables_and_sends_nothing(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CONFLUENT_CLOUD_API_KEY", "OLDKEY42")
    monkeypatch.setenv("CONFLUENT_CLOUD_API_SECRET", SECRET)
    with confluent_api(KEY, SECRET, august_costs()) as api:
        _use_confluent(project, api.url)
        assert main(["run", "2024-08"]) == 1
    said = printed_words(capsys)
    assert "answered 401" in said
    assert (
        "refused the key in environment variables CONFLUENT_CLOUD_API_KEY and "
        "CONFLUENT_CLOUD_API_SECRET" in said
    )
    assert "OrganizationAdmin or BillingAdmin" in said
    assert "OLDKEY42" not in said and SECRET not in said  # the API echoes the key: ***
    assert files_holding(project, "OLDKEY42") == []
    assert sent_rows(project, "2024-08") == []
    assert len(api.seen) == 1


def test_the_preset_is_what_a_user_could_write_in_anycost_yaml() -> None:
    by_hand = HttpSource.model_validate({"connection": CONNECTION, **PRESETS["confluent"]})
    by_preset = HttpSource.model_validate({"connection": CONNECTION, "preset": "confluent"})
    assert by_preset.model_copy(update={"preset": None}) == by_hand
    assert by_hand.address == "https://api.confluent.cloud/billing/v1/costs"
    assert by_hand.auth is not None and by_hand.auth.password_env == "CONFLUENT_CLOUD_API_SECRET"
    assert by_hand.rate_limit_reset is not None
    assert by_hand.rate_limit_reset.name == "X-RateLimit-Reset"
