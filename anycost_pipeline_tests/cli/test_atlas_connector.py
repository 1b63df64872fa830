"""`preset: atlas` against a stand-in of MongoDB Atlas's invoices API that really challenges
with HTTP Digest, through `anycost run`: a month's invoices, listed over several pages and each
followed to its line items, arrive in dollars to the last digit (Atlas states integer cents)
after a 429; a restated day changes only that day; the month is estimated while its invoice is
pending and final once it is closed; a refused key names both variables and sends nothing;
neither key is written anywhere."""

import dataclasses
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from anycost_pipeline.cbf.presets import PRESETS
from anycost_pipeline.cli import main
from anycost_pipeline.cloudzero.sandbox import SandboxStore
from anycost_pipeline.config import HttpSource
from anycost_pipeline_tests.conftest import Project, printed_words
from anycost_pipeline_tests.sources.helpers import CONNECTION, files_holding, sent_rows
from anycost_pipeline_tests.vendors.atlas_api import Invoice, atlas_api, august_invoices

ORG = "5f0a1b2c3d4e5f6a7b8c9d0e"
PUBLIC = "qwxzplmn"
PRIVATE = "4f3c2b1a-9e8d-4c7b-a6f5-e4d3c2b1a098"


def _august(invoices: list[Invoice]) -> list[Invoice]:
    return [i for i in invoices if i.month == "2024-08"]


def _dollars(invoices: list[Invoice]) -> Decimal:
    """The invoices' line items in dollars, worked out here from their cents."""
    return Decimal(sum(item.cents for i in invoices for item in i.items)) / 100


def _use_atlas(project: Project, base_url: str, **keys: object) -> None:
    config = project.config()
    config["sources"] = {
        "atlas": {
            "connection": CONNECTION,
            "preset": "atlas",
            "base_url": base_url,
            "placeholders": {"org_id": ORG},
            **keys,
        }
    }
    project.write_config(config)


def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATLAS_PUBLIC_KEY", PUBLIC)
    monkeypatch.setenv("ATLAS_PRIVATE_KEY", PRIVATE)


def _total(rows: list[dict]) -> Decimal:
    return sum((Decimal(r["cost/cost"]) for r in rows), Decimal(0))


def test_a_month_of_atlas_invoices_arrives_in_dollars_exactly_over_pages_and_a_429(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    invoices = august_invoices()
    _keys(monkeypatch)
    with atlas_api(ORG, PUBLIC, PRIVATE, invoices, throttle_request=3, retry_after="1") as api:
        _use_atlas(
            project,
            api.url,
            pagination={
                "type": "page",
                "param": "pageNum",
                "size_param": "itemsPerPage",
                "size": 1,
            },
        )
        assert main(["run", "2024-08"]) == 0
    said = printed_words(capsys)
    assert "2024-08: sent" in said and PRIVATE not in said
    # frames, run history (Dagster events), sandbox: the private key never travelled at all
    assert files_holding(project, PRIVATE) == []
    assert all(PRIVATE not in (s.authorization or "") for s in api.seen)

    # The first request is challenged (401, Digest), then answered; the 429's Retry-After
    # second is waited and the same request made again.
    assert api.seen[0].status == 401 and "Digest" not in (api.seen[0].authorization or "")
    assert api.seen[2].status == 429 and api.seen[3].path == api.seen[2].path
    assert api.seen[3].at - api.seen[2].at >= 1.0
    assert all(s.header("Accept") == "application/vnd.atlas.2023-01-01+json" for s in api.seen)
    answered = [s for s in api.seen if s.status == 200]
    listing = [s for s in answered if s.path.endswith("/invoices")]
    # Two August invoices at one per page: pages 1, 2 and an empty 3.
    assert [s.query["pageNum"] for s in listing] == [["1"], ["2"], ["3"]]
    assert listing[0].query["fromDate"] == ["2024-08-01"]
    assert listing[0].query["toDate"] == ["2024-09-01"]
    followed = sorted(s.path.rsplit("/", 1)[1] for s in answered if s not in listing)
    assert followed == sorted(i.id for i in _august(invoices))

    rows = sent_rows(project, "2024-08")
    assert len(rows) == sum(len(i.items) for i in _august(invoices))
    assert _total(rows) == _dollars(_august(invoices)) > 0
    (credit,) = [r for r in rows if r.get("lineitem/type") == "Credit"]
    assert credit["cost/cost"] == "-25.00" and credit["time/usage_start"] == "2024-08-15T00:00:00Z"
    assert {r["resource/tag:invoice_status"] for r in rows} == {"CLOSED"}
    assert "2024-08 is final" in said


def test_a_restated_day_changes_exactly_that_day_and_a_pending_month_is_estimated(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    invoices = august_invoices()
    _keys(monkeypatch)
    with atlas_api(ORG, PUBLIC, PRIVATE, invoices) as api:
        _use_atlas(project, api.url)
        assert main(["run", "2024-09"]) == 0  # the pending invoice
        said = printed_words(capsys)
        assert "2024-09 is estimated" in said and "invoice_status" in said
        assert _total(sent_rows(project, "2024-09")) == _dollars(
            [i for i in invoices if i.month == "2024-09"]
        )

        assert main(["run", "2024-08"]) == 0
        before = sent_rows(project, "2024-08")
        august = next(i for i in invoices if i.id.endswith("a") and i.month == "2024-08")
        (n, item) = next(
            (n, it)
            for n, it in enumerate(august.items)
            if it.day == "2024-08-20" and it.sku == "ATLAS_AWS_STORAGE"
        )
        august.items[n] = dataclasses.replace(item, cents=item.cents + 123)
        assert main(["run", "2024-08"]) == 0
        # August was final (its invoice closed): the change is sent, and said loudly.
        assert "LATE CHANGE" in printed_words(capsys)
    after = sent_rows(project, "2024-08")
    changed = [r for r in after if r not in before]
    gone = [r for r in before if r not in after]
    assert [r["time/usage_start"] for r in changed + gone] == ["2024-08-20T00:00:00Z"] * 2
    assert Decimal(changed[0]["cost/cost"]) - Decimal(gone[0]["cost/cost"]) == Decimal("1.23")
    assert _total(after) == _dollars(_august(invoices))


def test_a_refused_key_fails_the_month_naming_both_variables_and_sends_nothing(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ATLAS_PUBLIC_KEY", PUBLIC)
    monkeypatch.setenv("ATLAS_PRIVATE_KEY", "an-old-private-key")
    with atlas_api(ORG, PUBLIC, PRIVATE, august_invoices()) as api:
        _use_atlas(project, api.url)
        assert main(["run", "2024-08"]) == 1
    said = printed_words(capsys)
    assert "answered 401" in said
    assert "environment variables ATLAS_PUBLIC_KEY and ATLAS_PRIVATE_KEY" in said
    assert "Organization Billing Viewer" in said
    assert "an-old-private-key" not in said
    assert files_holding(project, "an-old-private-key") == []
    assert sent_rows(project, "2024-08") == []
    assert [s.status for s in api.seen] == [401, 401]  # challenged, then refused: not retried


def test_the_preset_needs_the_organization_and_is_what_a_user_could_write() -> None:
    with pytest.raises(ValueError, match=r"unknown placeholder\(s\) \{org_id\}"):
        HttpSource.model_validate({"connection": CONNECTION, "preset": "atlas"})
    mine = {"connection": CONNECTION, "placeholders": {"org_id": ORG}}
    by_hand = HttpSource.model_validate({**mine, **PRESETS["atlas"]})
    by_preset = HttpSource.model_validate({**mine, "preset": "atlas"})
    assert by_preset.model_copy(update={"preset": None}) == by_hand
    assert by_hand.auth is not None and by_hand.auth.scheme == "digest"
    assert by_hand.headers["Accept"] == "application/vnd.atlas.2023-01-01+json"
    assert by_hand.settles is not None and by_hand.settles.when is not None


def test_a_key_without_a_billing_role_is_told_which_role_it_lacks(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _keys(monkeypatch)
    with atlas_api(ORG, PUBLIC, PRIVATE, august_invoices(), role_refused=True) as api:
        _use_atlas(project, api.url)
        assert main(["run", "2024-08"]) == 1
    said = printed_words(capsys)
    assert "answered 403" in said and "may lack a scope, role or permission" in said
    assert "Organization Billing Viewer, Organization Billing Admin or Organization Owner" in said
    assert PUBLIC not in said  # Atlas echoes the public key in its error: ***
    assert sent_rows(project, "2024-08") == []


def test_atlas_is_connected_from_scratch_with_its_organization_as_a_placeholder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's commands: `anycost add-source --vendor atlas --placeholder org_id=...`
    writes the block and previews the month through Digest auth; `anycost run` sends it."""
    for variable in ("ANYCOST_CONFIG", "DAGSTER_HOME"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)
    _keys(monkeypatch)
    invoices = august_invoices()
    with atlas_api(ORG, PUBLIC, PRIVATE, invoices) as api:
        command = ["add-source", "--vendor", "atlas", "--base-url", api.url, "--month", "2024-08"]
        assert main([*command, "--placeholder", f"org_id={ORG}", "--write"]) == 0
        said = printed_words(capsys)
        assert "ATLAS_PUBLIC_KEY" in said and "ATLAS_PRIVATE_KEY" in said and PRIVATE not in said
        assert f"Total: {_dollars(_august(invoices))}" in said
        written = yaml.safe_load((tmp_path / "anycost.yaml").read_text())
        assert written["sources"]["atlas"]["placeholders"] == {"org_id": ORG}
        assert main(["run", "2024-08"]) == 0
        assert "2024-08: sent" in printed_words(capsys)
    rows = SandboxStore(tmp_path / ".anycost" / "sandbox").month_rows("main", "2024-08")
    assert _total(rows) == _dollars(_august(invoices))
