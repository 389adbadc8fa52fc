"""The lock checker, both ways: valid histories pass (stalls fenced off included), and each
anomaly kind is caught, explained and names its ops."""

from __future__ import annotations

from checkers.lock import check_lock
from harness.history import History, Op

L, K, TTL = "L0", "counter", 1000


class H:
    """Builds a history: ``call`` = invocation + completion at given times (seconds)."""

    def __init__(self) -> None:
        self.events: list[tuple[float, int, Op]] = []

    def call(self, p: int, f: str, value: dict, t0: float, t1: float | None, typ: str = "ok",
             out: dict | None = None, error: str | None = None) -> None:
        n = len(self.events)
        self.events.append((t0, n, Op(0, int(t0 * 1e9), p, "invoke", f, value)))
        if t1 is not None:
            done = Op(0, int(t1 * 1e9), p, typ, f, {**value, **(out or {})}, error=error)
            self.events.append((t1, n + 1, done))

    def section(self, p: int, token: int, t: float, read: int, stall: float = 0.0,
                write: str = "ok", release: str = "ok") -> float:
        """acquire, read, [stall], write read+1, release, 10 ms apart; returns the end time."""
        self.call(p, "acquire", {"lock": L, "ttl_ms": TTL}, t, t + 0.01, out={"token": token})
        self.call(p, "read", {"lock": L, "key": K, "token": token}, t + 0.02, t + 0.03,
                  out={"value": read})
        t += 0.03
        if stall:
            self.call(p, "stall", {"lock": L, "token": token, "seconds": stall}, t, t + stall)
            t += stall
        self.call(p, "write", {"lock": L, "key": K, "token": token, "value": read + 1},
                  t + 0.01, t + 0.02, typ=write, error=None if write == "ok" else "fenced")
        self.call(p, "release", {"lock": L, "token": token}, t + 0.03, t + 0.04, typ=release,
                  error=None if release == "ok" else "not-holder")
        return t + 0.05

    def peek(self, t: float, value: int) -> None:
        self.call(0, "peek", {"key": K}, t, t + 0.01, out={"value": value})

    def history(self) -> History:
        ops = [o for _, _, o in sorted(self.events, key=lambda e: (e[0], e[1]))]
        return History([Op(i, o.time_ns, o.process, o.type, o.f, o.value, error=o.error)
                        for i, o in enumerate(ops)])


def kinds(res) -> list[str]:
    return sorted({a.kind for a in res.anomalies})


def test_sequential_sections_are_valid_and_the_mutex_model_agrees():
    h = H()
    t = 0.0
    for n in range(4):
        t = h.section(n % 2, 10 + n, t, read=n)
    h.call(2, "acquire", {"lock": L, "ttl_ms": TTL}, 0.015, 0.02, typ="fail", error="held")
    h.peek(t, 4)
    res = check_lock(h.history())
    assert res.valid is True, res.anomalies
    assert res.details["acknowledged_increments"] == {K: 4}
    assert res.details["mutex_model"] == "applied: valid"


def test_a_stalled_holder_fenced_off_by_the_next_holder_is_valid():
    h = H()
    # p0 reads 0 then stalls past its TTL; p1 is granted after p0's lease ran out,
    # reads 0, writes 1; p0 wakes and its write is refused (fenced), its release too.
    h.call(0, "acquire", {"lock": L, "ttl_ms": TTL}, 0.0, 0.01, out={"token": 5})
    h.call(0, "read", {"lock": L, "key": K, "token": 5}, 0.02, 0.03, out={"value": 0})
    h.call(0, "stall", {"lock": L, "token": 5, "seconds": 1.8}, 0.03, 1.83)
    end = h.section(1, 9, 1.2, read=0)
    h.call(0, "write", {"lock": L, "key": K, "token": 5, "value": 1}, 1.84, 1.85, typ="fail",
           error="fenced")
    h.call(0, "release", {"lock": L, "token": 5}, 1.86, 1.87, typ="fail", error="not-holder")
    h.peek(end + 1, 1)
    res = check_lock(h.history())
    assert res.valid is True, res.anomalies
    assert res.details["fenced"] == 1 and res.details["stalls_longer_than_ttl"] == 1
    assert res.details["mutex_model"].startswith("not applied")


def test_lost_increments_from_an_unfenced_stale_write_are_caught_and_named():
    h = H()
    h.call(0, "acquire", {"lock": L, "ttl_ms": TTL}, 0.0, 0.01, out={"token": 5})
    h.call(0, "read", {"lock": L, "key": K, "token": 5}, 0.02, 0.03, out={"value": 0})
    h.call(0, "stall", {"lock": L, "token": 5, "seconds": 1.8}, 0.03, 1.83)
    h.section(1, 9, 1.2, read=0)  # writes 1 at ~1.24
    h.call(0, "write", {"lock": L, "key": K, "token": 5, "value": 1}, 1.84, 1.85)
    h.peek(2.0, 1)
    res = check_lock(h.history())
    assert res.valid is False
    assert kinds(res) == ["final-count", "lost-increment", "stale-write"]
    stale = next(a for a in res.anomalies if a.kind == "stale-write")
    assert stale.data["tokens"] == [5, 9] and stale.data["holders"] == [0, 1]
    assert "overlapped" in stale.explanation
    lost = next(a for a in res.anomalies if a.kind == "lost-increment")
    assert len(lost.ops) == 4
    assert res.details["first_evidence_s"] == 1.85


def test_a_final_count_below_the_acknowledged_increments_is_caught():
    h = H()
    t = h.section(0, 3, 0.0, read=0)
    t = h.section(1, 7, t, read=1)
    h.peek(t, 1)
    res = check_lock(h.history())
    assert kinds(res) == ["final-count"]
    assert "1 acknowledged increments are missing" in res.anomalies[0].explanation


def test_a_grant_while_another_lease_is_certainly_live_is_a_lease_overlap():
    h = H()
    # p0 holds from 0.0 (TTL 1 s) and stalls; p1 is granted at 0.5 s: both live.
    h.call(0, "acquire", {"lock": L, "ttl_ms": TTL}, 0.0, 0.01, out={"token": 5})
    h.call(0, "stall", {"lock": L, "token": 5, "seconds": 0.8}, 0.02, 0.82)
    h.call(1, "acquire", {"lock": L, "ttl_ms": TTL}, 0.49, 0.5, out={"token": 8})
    res = check_lock(h.history())
    assert kinds(res) == ["lease-overlap"]
    a = res.anomalies[0]
    assert a.data["holders"] == [0, 1] and a.data["tokens"] == [5, 8]


def test_no_overlap_once_the_holder_invoked_its_release_or_its_ttl_ran_out():
    for p0_release, p1_at in ((0.3, 0.5), (None, 1.05)):
        h = H()
        h.call(0, "acquire", {"lock": L, "ttl_ms": TTL}, 0.0, 0.01, out={"token": 5})
        if p0_release is not None:
            h.call(0, "release", {"lock": L, "token": 5}, p0_release, None)  # indeterminate
        h.call(1, "acquire", {"lock": L, "ttl_ms": TTL}, p1_at - 0.01, p1_at, out={"token": 8})
        assert check_lock(h.history()).valid is True


def test_tokens_must_grow_across_grants_in_real_time():
    h = H()
    t = h.section(0, 12, 0.0, read=0)
    t = h.section(1, 7, t, read=1)
    h.peek(t, 2)
    res = check_lock(h.history())
    assert kinds(res) == ["stale-write", "token-order"]  # the resource saw 12 before 7 too
    order = next(a for a in res.anomalies if a.kind == "token-order")
    assert "smaller token (7 < 12)" in order.explanation


def test_a_history_without_any_grant_is_unknown():
    h = H()
    h.call(0, "acquire", {"lock": L, "ttl_ms": TTL}, 0.0, 0.01, typ="fail", error="held")
    assert check_lock(h.history()).valid == "unknown"


def test_the_mutex_model_catches_a_release_of_a_free_lock():
    h = H()
    t = h.section(0, 3, 0.0, read=0)
    h.call(0, "release", {"lock": L, "token": 3}, t, t + 0.01)  # acknowledged twice
    h.peek(t + 0.1, 1)
    res = check_lock(h.history())
    assert res.valid is False and res.details["mutex_model"] == "applied: invalid"
    assert res.anomalies and all(a.ops for a in res.anomalies)


def test_overlapping_sections_are_found_by_real_time_when_tokens_order_nothing():
    """Redlock's tokens are random strings: the later grant is the one invoked after the
    other completed."""
    h = H()
    h.call(0, "acquire", {"lock": L, "ttl_ms": TTL}, 0.0, 0.01, out={"token": "f00d"})
    h.call(0, "read", {"lock": L, "key": K, "token": "f00d"}, 0.02, 0.03, out={"value": 0})
    h.call(0, "stall", {"lock": L, "token": "f00d", "seconds": 1.8}, 0.03, 1.83)
    h.section(1, "beef", 1.2, read=0)
    h.call(0, "write", {"lock": L, "key": K, "token": "f00d", "value": 1}, 1.84, 1.85)
    res = check_lock(h.history())
    assert kinds(res) == ["lost-increment", "stale-write"]
    assert res.details["mutex_model"].startswith("not applied")


def test_a_write_before_the_next_holder_touched_the_key_is_no_overlap():
    h = H()
    h.call(0, "acquire", {"lock": L, "ttl_ms": TTL}, 0.0, 0.01, out={"token": "f00d"})
    h.call(0, "read", {"lock": L, "key": K, "token": "f00d"}, 0.02, 0.03, out={"value": 0})
    h.call(0, "stall", {"lock": L, "token": "f00d", "seconds": 1.1}, 0.03, 1.13)
    h.call(0, "write", {"lock": L, "key": K, "token": "f00d", "value": 1}, 1.14, 1.15)
    h.section(1, "beef", 1.12, read=1)  # granted after the TTL, reads after the write
    assert check_lock(h.history()).valid is True


def test_the_checker_draws_who_held_the_lock_when(tmp_path):
    h = H()
    h.call(0, "acquire", {"lock": L, "ttl_ms": TTL}, 0.0, 0.01, out={"token": 5})
    h.call(0, "stall", {"lock": L, "token": 5, "seconds": 0.8}, 0.02, 0.82)
    h.call(1, "acquire", {"lock": "<b>evil</b>", "ttl_ms": TTL}, 0.49, 0.5, out={"token": 8})
    h.call(2, "acquire", {"lock": L, "ttl_ms": TTL}, 0.49, 0.5, out={"token": 9})
    res = check_lock(h.history(), out_dir=tmp_path)
    page = (tmp_path / res.details["lanes"]).read_text()
    assert page.count('fill="url(#hatch)"') == 1, "the stall is drawn on its holder's bar"
    assert "&lt;b&gt;evil&lt;/b&gt;" in page and "<b>evil</b>" not in page
    assert 'class="anom"' in page and "lease-overlap" in page
