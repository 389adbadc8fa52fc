"""Each fault is really applied and really healed, in real containers (memkv nodes)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.backends.base import Backend, BackendError
from harness.backends.docker import DockerBackend, clean_all
from harness.netctl import CLIENTS
from systems.common import wire

pytestmark = pytest.mark.docker

CONNECT = (
    "import socket,sys\n"
    "try:\n"
    "    socket.create_connection((sys.argv[1], 7000), timeout=float(sys.argv[2])).close()\n"
    "    print('open')\n"
    "except OSError as e:\n"
    "    print('cut', e)\n"
)


def reach(b: DockerBackend, src: str, dst: str, timeout_s: float = 0.7) -> bool:
    """Can ``src`` open a TCP connection to ``dst``:7000 (run inside src's container)?"""
    rc, out = b.exec(src, ["python3", "-c", CONNECT, b.ip(dst), str(timeout_s)])
    assert rc == 0, out
    return out.startswith("open")


def status(b: DockerBackend, node: str, timeout_s: float = 0.5) -> dict[str, object] | None:
    host, port = b.cluster()[node]
    try:
        st = wire.request(host, port, {"op": "status"}, timeout_s=timeout_s)
        return st if isinstance(st, dict) else None
    except OSError:
        return None


def test_cluster_layout(memkv3: DockerBackend) -> None:
    import docker

    assert isinstance(memkv3, Backend)
    assert memkv3.capabilities() == {"kill", "pause", "partition", "clock", "packet"}
    cl = memkv3.cluster()
    assert sorted(cl) == ["n1", "n2", "n3"]
    client = docker.from_env()
    for node, (ip, port) in cl.items():
        assert port == 7000 and ip.startswith("10.213.")
        c = client.containers.get(memkv3.container_name(node))
        hc = c.attrs["HostConfig"]
        assert c.labels["faultbox"] == "1" and c.labels["faultbox.node"] == node
        assert hc["CapAdd"] == ["NET_ADMIN"] and hc["Privileged"] is False
        assert c.attrs["Config"]["Hostname"] == node
        assert status(memkv3, node) is not None
    net = client.networks.get(memkv3.network_name)
    assert net.attrs["IPAM"]["Config"][0]["Subnet"].endswith(".0/24")
    # peers resolve each other by hostname on the run's network
    rc, out = memkv3.exec("n1", ["python3", "-c", "import socket;print(socket.gethostbyname('n2'))"])
    assert out.strip() == memkv3.ip("n2")


def test_partition_cuts_then_heals(memkv3: DockerBackend) -> None:
    b = memkv3
    assert reach(b, "n2", "n1") and reach(b, "n3", "n1")
    try:
        b.partition({"n1": frozenset({"n2"})})
        assert not reach(b, "n2", "n1")  # n1 drops what n2 sends
        assert reach(b, "n3", "n1")  # others unaffected
        assert status(b, "n1") is not None  # the harness's client traffic is not cut
        b.partition({"n3": frozenset({"n1"})})  # a new grudge replaces the old one
        assert reach(b, "n2", "n1") and not reach(b, "n1", "n3")
    finally:
        b.heal()
    assert reach(b, "n2", "n1") and reach(b, "n1", "n3")


def test_partition_can_cut_clients_but_not_control_probes(memkv3: DockerBackend) -> None:
    """The pseudo-node ``clients`` cuts the harness's clients off a node; status probes
    from the control source ports still pass, and peers are unaffected."""
    b = memkv3
    host, port = b.cluster()["n1"]
    try:
        b.partition({"n1": frozenset({CLIENTS})})
        with pytest.raises(OSError):
            wire.request(host, port, {"op": "status"}, timeout_s=0.5)
        assert wire.request(host, port, {"op": "status"}, timeout_s=0.5, control=True)["ok"]
        assert status(b, "n2") is not None  # other nodes still serve clients
        assert reach(b, "n2", "n1")  # peer traffic is not cut
    finally:
        b.heal()
    assert status(b, "n1") is not None


def test_kill_removes_process_and_restart_keeps_data(memkv3: DockerBackend) -> None:
    b = memkv3
    rc, _ = b.exec("n2", ["sh", "-c", "echo survived > /data/marker"])
    assert rc == 0
    pid = b.pid("n2")
    assert Path(f"/proc/{pid}").exists()
    t0 = time.monotonic()
    b.kill("n2")
    kill_s = time.monotonic() - t0
    assert not Path(f"/proc/{pid}").exists()  # the server process is gone
    assert status(b, "n2") is None
    assert b.pid("n2") == 0
    b.start("n2")
    b.wait_ready(["n2"])
    assert status(b, "n2") is not None
    rc, out = b.exec("n2", ["cat", "/data/marker"])
    assert out.strip() == "survived"
    assert b.ip("n2") == b.cluster()["n2"][0]
    print(f"kill {kill_s * 1000:.0f} ms")


def test_partition_survives_restart(memkv3: DockerBackend) -> None:
    b = memkv3
    try:
        b.partition({"n3": frozenset({"n1"})})
        b.kill("n3")
        b.start("n3")
        b.wait_ready(["n3"])
        assert not reach(b, "n1", "n3")  # rules re-applied in the new namespace
        assert reach(b, "n2", "n3")
    finally:
        b.heal()
    assert reach(b, "n1", "n3")


def test_pause_freezes_then_resumes(memkv3: DockerBackend) -> None:
    b = memkv3
    b.pause("n3")
    try:
        assert status(b, "n3", timeout_s=0.5) is None  # connect may succeed, nothing answers
    finally:
        b.resume("n3")
    assert status(b, "n3", timeout_s=2) is not None


def read_clock(b: DockerBackend, node: str) -> float:
    rc, out = b.exec(node, ["python3", "-c", "import time; print(repr(time.time()))"])
    assert rc == 0, out
    return float(out.strip().splitlines()[-1])


def test_clock_offset_and_rate_inside_one_node(memkv3: DockerBackend) -> None:
    b = memkv3
    try:
        b.clock("n1", 3600.0)
        skew = read_clock(b, "n1") - time.time()
        assert 3599 < skew < 3601
        assert abs(read_clock(b, "n2") - time.time()) < 1  # only n1 is skewed
        b.clock("n1", -120.0)
        assert -121 < read_clock(b, "n1") - time.time() < -119
        # a rate applies to the node's server process; read it through a long-lived process
        b.clock("n1", 0.0, 2.0)
        prog = "import time,select\na=time.time();m=time.monotonic()\nselect.select([],[],[],1.0)\nprint((time.time()-a)/(time.monotonic()-m))"
        rc, out = b.exec("n1", ["python3", "-c", prog])
        assert 1.7 < float(out.strip()) < 2.3, out
    finally:
        b.clock("n1", 0.0, 1.0)
    assert abs(read_clock(b, "n1") - time.time()) < 1
    assert abs(time.time() - time.clock_gettime(time.CLOCK_REALTIME)) < 1  # host untouched


def test_server_process_sees_skewed_clock(memkv3: DockerBackend) -> None:
    """The server (pid 1's exec) itself runs under libfaketime, not only exec'd shells."""
    b = memkv3
    rc, out = b.exec("n1", ["sh", "-c", "tr '\\0' '\\n' < /proc/1/environ | grep -c FAKETIME"])
    assert int(out.strip()) >= 3
    # time.sleep works under libfaketime thanks to images/sitecustomize.py, and fails without it
    sleep = ["python3", "-c", "import time; time.sleep(0.02); print('slept')"]
    assert b.exec("n1", sleep)[1].strip() == "slept"
    rc, out = b.exec("n1", ["python3", "-S", *sleep[1:]])
    assert "slept" not in out and "Invalid argument" in out


UDP_COUNT = (
    "import socket\n"
    "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('0.0.0.0',9999));s.settimeout(1.5)\n"
    "n=0\n"
    "try:\n"
    "    while True: s.recv(64); n+=1\n"
    "except OSError: pass\n"
    "open('/tmp/udp_count','w').write(str(n))\n"
)
UDP_SEND = (
    "import socket,sys\n"
    "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
    "for i in range(50): s.sendto(b'x',(sys.argv[1],9999))\n"
)


def udp_received(b: DockerBackend, src: str, dst: str) -> int:
    c = b._st.nodes[dst].container
    c.exec_run(["python3", "-c", UDP_COUNT], detach=True)
    time.sleep(0.3)
    b.exec(src, ["python3", "-c", UDP_SEND, b.ip(dst)])
    time.sleep(1.6)
    rc, out = b.exec(dst, ["cat", "/tmp/udp_count"])
    return int(out.strip())


def test_packet_loss_and_duplication(memkv3: DockerBackend) -> None:
    b = memkv3
    mech = b.packet_mechanism()
    print("packet mechanism:", json.dumps(mech))
    try:
        b.shape("n1", loss=1.0)
        assert not reach(b, "n1", "n2")  # all of n1's packets to peers are lost
        assert status(b, "n1") is not None  # but not those to the harness
        b.shape("n1", dup=1.0)
        assert udp_received(b, "n1", "n2") == 100  # every datagram arrives twice
    finally:
        b.shape("n1", 0, 0, 0)
    assert reach(b, "n1", "n2")
    assert udp_received(b, "n1", "n2") == 50


def test_logs_collected(memkv3: DockerBackend, tmp_path: Path) -> None:
    memkv3.collect_logs(tmp_path)
    for node in ("n1", "n2", "n3"):
        text = (tmp_path / node / "server.log").read_text()
        assert "listening" in text


def test_up_reports_a_node_that_never_comes_up(node_image: str, tmp_path: Path) -> None:
    from dataclasses import replace

    from systems import get_system

    broken = replace(get_system("memkv"), server_module="systems.no_such_server")
    b = DockerBackend("tbroken", image=node_image, ready_timeout_s=10)
    try:
        with pytest.raises(BackendError, match="node n1"):
            b.up(broken, ["n1"], tmp_path)
    finally:
        b.down()
    assert clean_all("tbroken") == {"containers": 0, "networks": 0}  # up cleaned after itself


KILLED_HARNESS = """
import os, signal, sys
from pathlib import Path
from harness.backends.docker import DockerBackend
from systems import get_system
b = DockerBackend(sys.argv[1], image=sys.argv[2])
b.up(get_system("memkv"), ["n1", "n2"], Path(sys.argv[3]))
print("up", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_clean_removes_what_a_killed_harness_left(node_image: str, tmp_path: Path) -> None:
    import docker

    rid = "tkilled"
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_HARNESS, rid, node_image, str(tmp_path)],
        capture_output=True, text=True, timeout=60,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    assert proc.returncode == -9 and "up" in proc.stdout, proc.stderr
    client = docker.from_env()
    left = client.containers.list(all=True, filters={"label": f"faultbox.run={rid}"})
    assert len(left) == 2  # SIGKILL: no teardown ran
    assert clean_all(rid) == {"containers": 2, "networks": 1}
    assert client.containers.list(all=True, filters={"label": f"faultbox.run={rid}"}) == []
    assert client.networks.list(filters={"label": f"faultbox.run={rid}"}) == []


def test_clean_leaves_a_live_harness_alone(memkv3: DockerBackend) -> None:
    assert clean_all(memkv3.run_id) == {"containers": 0, "networks": 0}
    assert all(status(memkv3, n) is not None for n in ("n1", "n2", "n3"))


RTT = """
import json, socket, struct, sys, time
def ask(s):
    t = time.monotonic()
    b = json.dumps({"op": "status"}).encode()
    s.sendall(struct.pack(">I", len(b)) + b)
    n = struct.unpack(">I", s.recv(4))[0]
    s.recv(n)
    return round((time.monotonic() - t) * 1000, 1)
out = []
s = socket.create_connection((sys.argv[1], 7000), timeout=3)
out.append(ask(s))  # before: direct
time.sleep(float(sys.argv[2]))  # the delay is applied meanwhile
try:
    out.append(ask(s))
except OSError as e:
    out.append("reset")
s = socket.create_connection((sys.argv[1], 7000), timeout=3)
out.append(ask(s))
print(json.dumps(out))
"""


def rtt_ms(b: DockerBackend, src: str, dst: str) -> float:
    rc, out = b.exec(src, ["python3", "-c", RTT, b.ip(dst), "0"])
    return float(json.loads(out)[-1])


def test_packet_delay_relays_and_heals(memkv3: DockerBackend) -> None:
    b = memkv3
    mech = b.packet_mechanism()["delay"]
    c = b._st.nodes["n1"].container
    # a connection open before the fault is reset, the next one is delayed
    c.exec_run(["sh", "-c", f"python3 -c '{RTT}' {b.ip('n2')} 1.5 > /tmp/rtt"], detach=True)
    time.sleep(0.7)
    try:
        b.shape("n1", delay_ms=200)
        time.sleep(1.5)
        before, during, after = json.loads(b.exec("n1", ["cat", "/tmp/rtt"])[1])
        assert before < 150
        if "relay" in mech:
            assert during == "reset"
        assert after >= 195
        assert rtt_ms(b, "n2", "n1") >= 195  # n1's replies are late too
        assert rtt_ms(b, "n2", "n3") < 150  # other pairs are not delayed
        assert status(b, "n1") is not None
        b.partition({"n2": frozenset({"n1"})})  # grudges still hold on relayed links
        assert not reach(b, "n1", "n2")
        b.heal()
        assert reach(b, "n1", "n2")
    finally:
        b.heal()
        b.shape("n1", 0, 0, 0)
    assert rtt_ms(b, "n1", "n2") < 150
