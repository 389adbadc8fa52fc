"""CLI contract: every verb has --help; bad input is one line, exit 2, no traceback."""

import os
import subprocess
import sys

import pytest

VERBS = ["run", "check", "list", "clean", "report", "serve", "image"]


def fb(*args, cwd=None, timeout=60):
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True, text=True, timeout=timeout, cwd=cwd,
    )


def test_top_level_help():
    r = fb("--help")
    assert r.returncode == 0
    for verb in VERBS:
        assert verb in r.stdout


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_has_help(verb):
    r = fb(verb, "--help")
    assert r.returncode == 0, r.stderr
    assert "Usage:" in r.stdout


def _one_line_error(r, needle):
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert needle in lines[0]


@pytest.mark.parametrize(
    "args, needle",
    [
        (["run", "--concurrency", "-1", "--system", "memkv", "--backend", "local"], "--concurrency"),
        (["run", "--system", "nosuch"], "unknown system 'nosuch'"),
        (["run", "--system", "memkv", "--workload", "nosuch"], "unknown workload"),
        (["run", "--system", "memkv", "--nodes", "3", "--backend", "local"], "at most 1 node"),
        (["run", "--system", "memkv", "--nodes", "0"], "--nodes must be > 0"),
        (["run", "--system", "memkv", "--nemesis", "meteor"], "unknown nemesis 'meteor'"),
        (["run", "--system", "memkv", "--bug", "nosuch"], "no bug switch"),
        (["run", "--rate", "abc"], "rate"),
        (["run", "--system", "memkv", "--rate", "nan"], "--rate must be a finite number"),
        (["run", "--system", "memkv", "--time-limit", "inf"], "--time-limit must be a finite"),
        (["run", "--system", "memkv", "--check-budget", "-1"], "--check-budget must be > 0"),
        (["run", "--frobnicate"], "frobnicate"),
        (["check", "/nonexistent"], "/nonexistent"),
        (["report", "/nonexistent"], "not a run folder"),
    ],
)
def test_bad_input_is_one_line_exit_2(args, needle, tmp_path):
    _one_line_error(fb(*args, "--store", str(tmp_path)) if args[0] == "run" else fb(*args), needle)


def test_malformed_history_line_is_one_line(tmp_path):
    p = tmp_path / "h.jsonl"
    p.write_text('{"index":0,"time_ns":0,"process":0,"type":"invoke","f":"read","value":null}\nxx\n'
                 '{"index":1,"time_ns":1,"process":0,"type":"ok","f":"read","value":null}\n')
    _one_line_error(fb("check", str(p), "--format", "jsonl"), "h.jsonl:2")


def test_list_names_systems_and_workloads():
    r = fb("list")
    assert r.returncode == 0
    assert "memkv" in r.stdout and "register" in r.stdout


def test_no_docker_falls_back_to_local_and_refuses_container_faults(tmp_path):
    env = dict(os.environ, DOCKER_HOST=f"unix://{tmp_path}/no-such-docker.sock")
    r = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "--system", "memkv", "--nemesis", "partition",
         "--time-limit", "1", "--store", str(tmp_path)],
        capture_output=True, text=True, timeout=60, env=env,
    )
    assert r.returncode == 2
    assert "falling back to the local backend" in r.stderr
    errors = [x for x in r.stderr.splitlines() if x.startswith("faultbox:") and "cannot do" in x]
    assert len(errors) == 1 and "partition" in errors[0]
    assert "Traceback" not in r.stderr


def test_wrong_format_is_an_error_not_valid(tmp_path):
    p = tmp_path / "h.jsonl"
    p.write_text('{"index":0,"time_ns":0,"process":0,"type":"invoke","f":"read","value":null}\n')
    _one_line_error(fb("check", str(p), "--format", "porcupine-etcd"), "no operations found")


def test_run_folder_with_bad_test_json(tmp_path):
    (tmp_path / "test.json").write_text("[]")
    (tmp_path / "history.jsonl").write_text("")
    _one_line_error(fb("check", str(tmp_path)), "not a JSON object")


@pytest.mark.parametrize(
    "text, needle",
    [
        ('{"workload": "register", "zz": ' + "9" * 5000 + "}", "test.json: unreadable"),
        ('{"workload": "register", "zz": ' + "[" * 100000 + "]" * 100000 + "}", "test.json: unreadable"),
        ('{"workload": ["register"]}', "unknown workload"),
        ('{"workload": "register", "concurrency": null}', "test.json: concurrency"),
        ('{"workload": "register", "rate": "fast"}', "test.json: rate"),
    ],
)
def test_run_folder_with_hostile_test_json_names_the_file(tmp_path, text, needle):
    """Not the CLI's catch-all ("unexpected ValueError ..."): the message names test.json."""
    (tmp_path / "test.json").write_text(text)
    (tmp_path / "history.jsonl").write_text("")
    r = fb("check", str(tmp_path))
    _one_line_error(r, needle)
    assert "unexpected" not in r.stderr


@pytest.mark.parametrize("fmt", [[], ["--format", "jsonl"], ["--format", "knossos-edn"]])
def test_check_refuses_a_fifo_or_device_instead_of_hanging(tmp_path, fmt):
    """A FIFO with no writer blocks open() forever and /dev/zero never ends: both are
    refused up front (the timeout is a loose hang guard, not a timing claim)."""
    fifo = tmp_path / "h.edn"
    os.mkfifo(fifo)
    _one_line_error(fb("check", *fmt, str(fifo), timeout=30), "not a regular file")
    _one_line_error(fb("check", *fmt, "/dev/zero", timeout=30), "not a regular file")


def test_run_folder_whose_history_is_a_fifo_is_refused(tmp_path):
    (tmp_path / "test.json").write_text('{"workload": "register"}')
    os.mkfifo(tmp_path / "history.jsonl")
    _one_line_error(fb("check", str(tmp_path), timeout=30), "history.jsonl is not a regular file")
