"""faultbox's pytest plugin (registered through the ``pytest11`` entry point).

Two ways to put correctness tests into an existing pytest setup (so
``pytest --junitxml`` publishes them like any other test):

* the ``faultbox`` fixture::

      def test_raftkv_survives_partitions(faultbox):
          result = faultbox.run(system="raftkv", workload="register",
                                nemesis=["partition"], time_limit=30)
          assert result.valid, result.explanation

  ``result.explanation`` is the first anomaly's explanation and the report path;

* campaign files as test items: ``pytest --faultbox-campaign campaigns/smoke.toml``
  collects one item per run (case × seed); an item passes when its run meets
  its expectation, and a failure prints the explanation, the report path and
  the command that reproduces the run.  With no test paths on the command
  line only the campaign's items are collected.

Runs go to ``--faultbox-store`` (default: ``store``), campaign items under
``store/campaigns/<name>/<timestamp>/`` like ``faultbox campaign run``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

__all__ = ["FaultboxFixture", "FaultboxResult", "CampaignFile", "CampaignItem"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("faultbox", "faultbox correctness runs")
    group.addoption("--faultbox-campaign", action="append", default=[], metavar="FILE",
                    help="Collect each run of this campaign file as a test item (repeatable).")
    group.addoption("--faultbox-store", default="store", metavar="DIR",
                    help="Store folder for runs made by the faultbox fixture and campaign items.")


@dataclass(frozen=True, slots=True)
class FaultboxResult:
    """What a run found: ``valid`` is True, False, or None (unknown)."""

    valid: bool | None
    verdict: str
    explanation: str
    run_dir: Path
    report: Path | None
    detected_s: float | None = None
    caught_by: str | None = None
    results: dict[str, Any] = field(default_factory=dict, repr=False)


class FaultboxFixture:
    """``faultbox.run(system=..., workload=..., nemesis=[...], time_limit=..., ...)``."""

    def __init__(self, store: Path) -> None:
        self.store = store

    def run(self, system: str = "raftkv", workload: str = "register",
            nemesis: Iterable[str] | str = (), time_limit: float = 30.0, *,
            bug: Iterable[str] | str = (), nodes: int | None = None, seed: int | None = None,
            backend: str = "docker", **options: Any) -> FaultboxResult:
        """Run one test (same options as ``faultbox run``, snake_case) and return its verdict.

        Bad options raise :class:`harness.errors.UsageError` naming the option.
        """
        from harness.campaign.results import detection
        from harness.campaign.spec import build_campaign
        from harness.runner import run_test
        from systems import get_system
        from workloads import get_workload

        case: dict[str, Any] = {
            "system": system, "workload": workload, "nemesis": _mix(nemesis), "bug": _mix(bug),
            "time_limit": time_limit, "backend": backend, **options,
        }
        if nodes is not None:
            case["nodes"] = nodes
        if seed is not None:
            case["seeds"] = [seed]
        camp = build_campaign("pytest", "", "faultbox.run()", {}, [case])
        opts = camp.runs[0].options
        if seed is None:
            opts = replace(opts, seed=int(time.time_ns() % 1_000_000))
        opts = replace(opts, store=self.store)
        wl = get_workload(opts.workload, opts.workload_options())
        out = run_test(opts, get_system(opts.system), wl, notice=lambda m: None, argv=opts.command())
        detected, checker, expl = detection(out.run_dir, out.results)
        report = out.run_dir / "report.html"
        verdict = str(out.results.get("verdict", "unknown"))
        text = expl or ("no anomaly found" if verdict == "valid" else f"verdict {verdict}")
        return FaultboxResult(
            valid=out.valid if isinstance(out.valid, bool) else None, verdict=verdict,
            explanation=f"{text} (report: {report if report.exists() else out.run_dir})",
            run_dir=out.run_dir, report=report if report.exists() else None,
            detected_s=detected, caught_by=checker, results=out.results,
        )


def _mix(v: Iterable[str] | str) -> str:
    return v if isinstance(v, str) else ",".join(v)


@pytest.fixture
def faultbox(request: pytest.FixtureRequest) -> FaultboxFixture:
    """Run faultbox tests from pytest: ``faultbox.run(system=..., workload=..., ...)``."""
    return FaultboxFixture(Path(request.config.getoption("faultbox_store")))


# ------------------------------------------------------------------ campaign items
class CampaignItem(pytest.Item):
    """One run (case × seed) of a campaign file."""

    def __init__(self, *, session_key: str, run_id: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.session_key = session_key
        self.run_id = run_id
        self.record: dict[str, Any] | None = None

    def runtest(self) -> None:
        self.record = _session_for(self.config, self.session_key).run_one(self.run_id)
        if self.record.get("status") != "passed":
            raise CampaignRunFailed(self.record)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, CampaignRunFailed):
            r = excinfo.value.record
            where = r.get("report") or r.get("run_dir")
            base = _session_for(self.config, self.session_key).dir
            return (f"{r.get('status')}: expected {r.get('expect')}, verdict {r.get('verdict')}\n"
                    f"{r.get('explanation') or ''}\nreport: {base / where if where else '-'}\n"
                    f"reproduce: {r.get('command')}")
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, self.name


class CampaignRunFailed(Exception):
    def __init__(self, record: dict[str, Any]) -> None:
        super().__init__(record.get("explanation") or record.get("status"))
        self.record = record


_CAMPAIGNS = pytest.StashKey[dict[str, Any]]()  # campaign file -> Campaign
_SESSIONS = pytest.StashKey[dict[str, Any]]()  # campaign file -> CampaignSession (made lazily)


def _session_for(config: pytest.Config, key: str) -> Any:
    """The campaign's folder and session, made when its first item runs (not at collection)."""
    from harness.campaign.runner import CampaignSession, NullUI, RunConfig

    sessions = config.stash.setdefault(_SESSIONS, {})
    if key not in sessions:
        store = Path(config.getoption("faultbox_store"))
        sessions[key] = CampaignSession(config.stash[_CAMPAIGNS][key],
                                        RunConfig(store=store, reraise_interrupt=True), NullUI())
    return sessions[key]


def _campaign_files(config: pytest.Config) -> list[Path]:
    base = config.invocation_params.dir
    return [(base / f).resolve() for f in config.getoption("faultbox_campaign")]


def pytest_configure(config: pytest.Config) -> None:
    files = _campaign_files(config)
    if not files:
        return
    from harness.campaign.spec import load_campaign
    from harness.errors import FaultboxError

    campaigns = config.stash.setdefault(_CAMPAIGNS, {})
    for f in files:  # every file is checked before anything is collected or run
        try:
            campaigns[str(f)] = load_campaign(f)
        except FaultboxError as e:
            raise pytest.UsageError(str(e)) from e
    # `pytest --faultbox-campaign FILE` alone collects the campaign, not the testpaths.
    if config.args_source == pytest.Config.ArgsSource.TESTPATHS:
        config.args[:] = []
    config.args.extend(str(f) for f in files if str(f) not in config.args)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.resolve() in _campaign_files(parent.config):
        return CampaignFile.from_parent(parent, path=file_path)
    return None


class CampaignFile(pytest.File):
    """A campaign file: one item per run; a bad file is a usage error naming file, case and key."""

    def collect(self) -> Iterable[pytest.Item]:
        key = str(self.path.resolve())
        camp = self.config.stash[_CAMPAIGNS][key]
        for run in camp.runs:
            yield CampaignItem.from_parent(self, name=run.id, session_key=key, run_id=run.id)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for cs in session.config.stash.get(_SESSIONS, {}).values():
        cs.finish()
