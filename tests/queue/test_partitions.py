"""P (partitions per topic) end to end: ``--opt partitions=P`` is validated, reaches every
server (``--partitions P``) and every client (one engine per partition), the queue checker
knows P (nothing outside 0..P-1, every partition drained), and real runs on the local backend
with P=1 and P=5 are valid with every partition used."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from checkers.queue import QueueChecker, check_queue
from harness.errors import UsageError
from harness.options import Options, parse_system_opts, validate
from harness.sim.adapter import configured_adapter, load_adapter
from systems import get_system
from systems.common.spec import server_argv
from systems.queue.client import QueueClient, partition_of
from tests.queue.test_checker import H

SPEC = get_system("queue")


def fb(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


def one_line_error(r: subprocess.CompletedProcess[str], needle: str) -> None:
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert needle in lines[0], lines[0]


@pytest.mark.parametrize("items,needle", [
    (["partitions=0"], "partitions must be >= 1"),
    (["partitions=65"], "partitions must be <= 64"),
    (["partitions=two"], "partitions takes int values"),
    (["partitions"], "--opt takes NAME=VALUE"),
    (["partitions=2", "partitions=3"], "--opt partitions given twice"),
    (["replicas=2"], "system queue has no option 'replicas' (known: partitions)"),
])
def test_a_bad_option_is_a_usage_error(items: list[str], needle: str) -> None:
    with pytest.raises(UsageError) as e:
        opts = Options(system="queue", workload="queue", system_opts=parse_system_opts(items))
        validate(opts, {"queue": SPEC}, ["queue"], [])
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_a_bad_option_on_the_cli_is_one_line_and_exit_2() -> None:
    one_line_error(fb("run", "--system", "queue", "--workload", "queue", "--backend", "local",
                      "--opt", "partitions=0"), "--opt: option partitions must be >= 1, got 0")


def test_a_system_without_options_refuses_any() -> None:
    one_line_error(fb("run", "--system", "memkv", "--backend", "local", "--opt",
                      "partitions=3"), "system memkv has no option 'partitions' (known: none)")


def test_the_option_reaches_servers_clients_and_the_reproduce_command() -> None:
    opts = Options(system="queue", workload="queue", system_opts=parse_system_opts(
        ["partitions=5"]))
    validate(opts, {"queue": SPEC}, ["queue"], [])
    spec = SPEC.configured(opts.system_settings())
    assert spec.settings == {"partitions": 5}
    argv = server_argv(spec, "n1", ("h", 1), {"n1": ("h", 1)}, "/d")
    assert argv[-2:] == ["--partitions", "5"]
    assert "--partitions" not in server_argv(SPEC, "n1", ("h", 1), {"n1": ("h", 1)}, "/d")
    client = SPEC.clients["queue"]({"n1": ("h", 1)}, "n1", 3.0, **spec.client_settings())
    assert isinstance(client, QueueClient) and len(client.engines) == 5
    assert "--opt partitions=5" in opts.command()
    assert opts.to_json()["system_opts"] == {"partitions": "5"}
    with pytest.raises(UsageError, match="--opt takes NAME=VALUE"):
        parse_system_opts(["=3"])


def test_the_sim_adapter_takes_the_option_and_others_refuse_it() -> None:
    adapter: Any = configured_adapter(load_adapter("queue"), {"partitions": "1"})
    assert adapter.partitions == 1
    assert load_adapter("queue").partitions == 3  # the shared default is untouched
    with pytest.raises(UsageError, match="partitions must be >= 1"):
        configured_adapter(load_adapter("queue"), {"partitions": "0"})
    with pytest.raises(UsageError, match="no option"):
        configured_adapter(load_adapter("raftkv"), {"partitions": "2"})


def test_the_checker_knows_p_both_ways() -> None:
    h = H()
    h.send(0, "a", 0, 0)
    h.send(0, "b", 3, 0)  # partition 3 of a 3-partition topic
    h.poll(9, {0: [[0, "a"]], 1: [], 2: [], 3: [[0, "b"]]}, drain=True)
    r = QueueChecker().check({"system_opts": {"partitions": "3"}}, h.history(), None)
    assert r.valid is False
    assert [a.kind for a in r.anomalies] == ["malformed", "malformed"]
    assert "partition 3" in r.anomalies[0].explanation
    assert check_queue(h.history(), partitions=4).valid is True
    assert QueueChecker().check({}, h.history(), None).valid is True  # P unknown: not judged

    h = H()
    h.send(0, "a", 0, 0)
    h.poll(9, {0: [[0, "a"]], 1: []}, drain=True)  # partition 2 never drained
    r = check_queue(h.history(), partitions=3)
    assert r.valid == "unknown" and r.details["undrained_partitions"] == [2], r.details
    assert check_queue(h.history(), partitions=2).valid is True


@pytest.mark.slow
@pytest.mark.parametrize("partitions", [1, 5])
def test_a_local_run_with_p_partitions_is_valid_and_uses_each(tmp_path: Path,
                                                              partitions: int) -> None:
    r = fb("run", "--system", "queue", "--workload", "queue", "--backend", "local", "--nodes",
           "3", "--nemesis", "kill", "--nemesis-interval", "2", "--time-limit", "4",
           "--recovery", "2", "--seed", "4", "--no-report", "--store", str(tmp_path),
           "--opt", f"partitions={partitions}", timeout=180)
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-2000:])
    run = next(p.parent for p in tmp_path.glob("*/*/history.jsonl"))
    test = json.loads((run / "test.json").read_text())
    assert test["system_opts"] == {"partitions": str(partitions)}
    assert f"--opt partitions={partitions}" in test["command"]
    d = json.loads((run / "results.json").read_text())["checkers"]["queue"]["details"]
    assert d["partitions_expected"] == partitions and d["partitions"] == partitions, d
    assert d["sends_ok"] > 20 and d["messages_polled"] > 0, d
    invoked: dict[Any, Any] = {}
    sent_to = set()
    for line in (run / "history.jsonl").read_text().splitlines():
        op = json.loads(line)
        if op["f"] != "send":
            continue
        if op["type"] == "invoke":
            invoked[op["process"]] = op["value"]
        elif op["type"] == "ok":
            key = invoked[op["process"]][0]
            assert op["value"][0] == partition_of(key, partitions), (key, op)
            sent_to.add(op["value"][0])
    assert sent_to == set(range(partitions))


def test_a_campaign_case_takes_system_options() -> None:
    from harness.campaign.spec import parse_campaign

    text = ('[[case]]\nsystem = "queue"\nworkload = "queue"\nbackend = "local"\n'
            'opt = { partitions = 5 }\n')
    camp = parse_campaign(text, "c.toml")
    (run,) = camp.runs
    assert run.options.system_opts == (("partitions", "5"),)
    assert run.id.endswith("-partitions=5/s1"), run.id
    with pytest.raises(UsageError, match=r"c.toml: case 1: key 'opt'.*partitions must be >= 1"):
        parse_campaign(text.replace("= 5", "= 0"), "c.toml")
    with pytest.raises(UsageError, match="c.toml: case 1: key 'opt': want a table"):
        parse_campaign(text.replace("{ partitions = 5 }", "3"), "c.toml")
