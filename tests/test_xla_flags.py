from groklab import xla_flags


def test_flags_are_added_once_and_respect_the_user(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
    monkeypatch.delenv("GROKLAB_XLA_FLAGS", raising=False)
    xla_flags.apply()
    xla_flags.apply()
    import os

    flags = os.environ["XLA_FLAGS"].split()
    assert flags == ["--xla_force_host_platform_device_count=2", *xla_flags.CPU_FLAGS]
    # a value the user chose wins; GROKLAB_XLA_FLAGS=0 adds nothing
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_experimental_ynn_fusion_type=dot")
    xla_flags.apply()
    assert os.environ["XLA_FLAGS"] == "--xla_cpu_experimental_ynn_fusion_type=dot"
    monkeypatch.setenv("XLA_FLAGS", "")
    monkeypatch.setenv("GROKLAB_XLA_FLAGS", "0")
    xla_flags.apply()
    assert os.environ["XLA_FLAGS"] == ""
