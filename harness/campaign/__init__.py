"""Campaigns (issue 12): a TOML file of cases → many ordinary runs → campaign.json, HTML, JUnit.

- :mod:`harness.campaign.spec` — parsing and validation (``tomllib``), matrix expansion;
- :mod:`harness.campaign.shard` — ``--shard i/n``, a deterministic round-robin slice;
- :mod:`harness.campaign.runner` — runs each case as a child process (``--jobs N``,
  ``--resume``, ``--fail-fast``, ``--max-time``, Ctrl-C), writes the outputs;
- :mod:`harness.campaign.results` — run records, ``campaign.json``, ``merge``;
- :mod:`harness.campaign.junit` — JUnit XML.
"""

from harness.campaign.junit import junit_xml, write_junit
from harness.campaign.results import CAMPAIGN_FILE, exit_code, merge, read_campaign
from harness.campaign.runner import CampaignOutcome, NullUI, RunConfig, run_campaign, write_outputs
from harness.campaign.shard import Shard, parse_shard, select
from harness.campaign.spec import Campaign, CaseRun, build_campaign, load_campaign, registries

__all__ = [
    "CAMPAIGN_FILE", "Campaign", "CampaignOutcome", "CaseRun", "NullUI", "RunConfig", "Shard",
    "build_campaign", "exit_code", "junit_xml", "load_campaign", "merge", "parse_shard",
    "read_campaign", "registries", "run_campaign", "select", "write_junit", "write_outputs",
]
