"""Occupancy: which web processes are serving a prediction right now."""

from __future__ import annotations

from apps.deployments.serving.occupancy import Occupancy


def test_occupancy_sees_other_processes_running_a_model(tmp_path):
    import multiprocessing

    path = tmp_path / "occupancy"
    here = Occupancy(path)
    assert not here.others_running()
    started, release = multiprocessing.Event(), multiprocessing.Event()

    def other_process():
        there = Occupancy(path)
        with there.running():
            started.set()
            release.wait(10)

    child = multiprocessing.get_context("fork").Process(target=other_process)
    child.start()
    try:
        assert started.wait(10)
        assert here.others_running()
        with here.running():  # our own run is not "another process"
            assert here.others_running()
    finally:
        release.set()
        child.join(10)
    assert not here.others_running()
    with here.running():
        assert not here.others_running()


def test_occupancy_counts_this_process_requests_as_busy_beyond_the_first(tmp_path):
    here = Occupancy(tmp_path / "occupancy")
    assert not here.busy()
    with here.running():
        assert not here.busy()  # only the request asking
        with here.running():
            assert here.busy()
    assert not here.busy()
