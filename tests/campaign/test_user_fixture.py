"""Written as a faultbox user would write a correctness test: only the ``faultbox`` fixture."""


def test_memkv_register_is_linearizable_without_faults(faultbox):
    result = faultbox.run(system="memkv", workload="register", backend="local", time_limit=3,
                          recovery=0.5)
    assert result.valid, result.explanation
    assert result.report is not None and result.report.is_file()


def test_memkv_loses_acknowledged_writes_when_killed(faultbox):
    result = faultbox.run(system="memkv", workload="register", nemesis=["kill"], backend="local",
                          time_limit=12, nemesis_interval=1, recovery=1, seed=1)
    assert result.valid is False
    assert "not linearizable" in result.explanation
    assert str(result.report) in result.explanation
    assert result.caught_by == "linearizable" and result.detected_s is not None
