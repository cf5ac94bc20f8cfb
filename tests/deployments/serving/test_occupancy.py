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
    import threading

    here = Occupancy(tmp_path / "occupancy")
    assert not here.busy()
    entered, release = threading.Event(), threading.Event()

    def another_request() -> None:
        with here.running():
            entered.set()
            release.wait(10)

    with here.running():
        assert not here.busy()  # only the request asking
        other = threading.Thread(target=another_request)
        other.start()
        try:
            assert entered.wait(10)
            assert here.busy()
        finally:
            release.set()
            other.join(10)
        assert not here.busy()
    assert not here.busy()


def test_a_request_marked_by_the_view_and_the_service_counts_once(tmp_path):
    """The prediction view marks its request from the start; the service it calls marks it
    again around the model. One request alone must still read as alone (so it gets every
    core), and the count must fall back to zero."""
    here = Occupancy(tmp_path / "occupancy")
    with here.running():
        with here.running():
            assert not here.busy()
            assert here._running == 1
        assert here._running == 1
    assert here._running == 0 and here.idle()


def test_a_process_killed_while_serving_does_not_leave_everyone_busy(tmp_path):
    """A web process killed mid-request leaves its byte set; the next process to start (a
    replacement worker) must clear it, also when it claims another, lower slot."""
    import multiprocessing
    import os
    import signal

    path = tmp_path / "occupancy"
    fork = multiprocessing.get_context("fork")
    here = Occupancy(path)  # slot 0
    holding, release_holder, serving = fork.Event(), fork.Event(), fork.Event()

    def holder():  # slot 1, so that the next one takes slot 2
        held = Occupancy(path)
        assert held._slot == 1
        holding.set()
        release_holder.wait(10)

    def killed_while_serving():  # slot 2
        there = Occupancy(path)
        with there.running():
            serving.set()
            os.kill(os.getpid(), signal.SIGKILL)

    first = fork.Process(target=holder)
    first.start()
    assert holding.wait(10)
    second = fork.Process(target=killed_while_serving)
    second.start()
    assert serving.wait(10)
    second.join(10)
    release_holder.set()
    first.join(10)
    assert here.others_running()  # the dead process's byte is still set
    seen = fork.Queue()

    def replacement():
        started = Occupancy(path)
        seen.put((started._slot, started.others_running()))

    third = fork.Process(target=replacement)
    third.start()
    slot, others = seen.get(timeout=10)
    third.join(10)
    assert slot == 1  # the lowest free slot, not the dead process's
    assert not others
    assert not here.others_running()
