"""The interpreter against scripted in-process clients: recording, retirement, timeouts, stop."""

import asyncio

from harness import generator as g
from harness.history import HistoryWriter, read_jsonl
from harness.interpreter import Interpreter


class Scripted:
    """Answers by f: ok, fail, info, hang (never answers), or raise."""

    opened = 0

    def __init__(self):
        Scripted.opened += 1

    async def invoke(self, f, value):
        if f == "hang":
            await asyncio.sleep(3600)
        if f == "raise":
            raise RuntimeError("client bug")
        await asyncio.sleep(0.001)
        return f if f in ("ok", "fail", "info") else "ok", value, None

    async def close(self):
        pass


class Nem:
    def __init__(self):
        self.calls = []

    def invoke(self, f, value):
        self.calls.append((f, value))
        return ["n1"]


def _run(gen, tmp_path, concurrency=2, timeout_s=0.2, nemesis=None, stop_after_s=None, drain_s=5.0):
    path = tmp_path / "h.jsonl"
    w = HistoryWriter(path)
    it = Interpreter({}, concurrency, lambda t: Scripted(), w, nemesis=nemesis,
                     op_timeout_s=timeout_s, seed=3, drain_s=drain_s)

    async def main():
        if stop_after_s is not None:
            asyncio.get_running_loop().call_later(stop_after_s, it.stop)
        await it.run(gen)
        await it.close_clients()

    asyncio.run(main())
    w.close()
    return read_jsonl(path)


def test_every_op_is_recorded_invoke_then_completion(tmp_path):
    h = _run(g.clients(g.limit(10, lambda t, c: {"f": "ok", "value": 1})), tmp_path)
    assert len(h) == 20
    for inv, comp in h.pairs():
        assert comp is not None and comp.time_ns >= inv.time_ns and comp.type == "ok"
    assert [o.index for o in h] == list(range(20))


def test_info_retires_the_process_and_opens_a_fresh_client(tmp_path):
    Scripted.opened = 0
    h = _run(g.clients(g.limit(4, g.each_thread([{"f": "info"}, {"f": "ok"}]))), tmp_path,
             concurrency=2)
    procs = [o.process for o in h if o.type == "invoke"]
    assert sorted(procs) == [0, 1, 2, 3]  # 0,1 retired after info; they go on as 2,3
    assert Scripted.opened == 4


def test_timeout_is_info_and_exception_is_info(tmp_path):
    h = _run(g.clients([{"f": "hang"}, {"f": "raise"}]), tmp_path, concurrency=2)
    comps = {o.f: o for o in h if o.type != "invoke"}
    assert comps["hang"].type == "info" and comps["hang"].error == "timeout"
    assert comps["raise"].type == "info" and "client bug" in comps["raise"].error


def test_nemesis_ops_complete_as_info_with_returned_value(tmp_path):
    nem = Nem()
    h = _run(g.nemesis([{"f": "start-kill", "value": "one"}, {"f": "stop-kill"}]), tmp_path,
             nemesis=nem)
    assert [(o.f, o.type, o.value) for o in h] == [
        ("start-kill", "invoke", "one"), ("start-kill", "info", ["n1"]),
        ("stop-kill", "invoke", None), ("stop-kill", "info", ["n1"]),
    ]
    assert nem.calls == [("start-kill", "one"), ("stop-kill", None)]


def test_stop_abandons_hung_ops_leaving_them_indeterminate(tmp_path):
    gen = g.clients(g.each_thread({"f": "hang"}))
    h = _run(gen, tmp_path, concurrency=2, timeout_s=60, stop_after_s=0.2, drain_s=0.3)
    assert [o.type for o in h] == ["invoke", "invoke"]  # no completion: indeterminate


def test_sleep_and_log_are_not_recorded(tmp_path):
    h = _run(g.phases(g.log("hello"), g.sleep(0.05), g.clients({"f": "ok"})), tmp_path)
    assert [o.f for o in h] == ["ok", "ok"]
    assert h[0].time_ns >= 50_000_000


def test_stagger_paces_ops(tmp_path):
    h = _run(g.clients(g.time_limit(0.5, g.stagger(0.01, lambda t, c: {"f": "ok"}))), tmp_path)
    n = len(h.invokes())
    assert 10 <= n <= 100  # ~50 expected at a total rate of 100/s (wide: CI machines are busy)
