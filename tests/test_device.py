"""The training job's thread gives the cores up to everything else, and only that thread does."""

import os
import sys
import threading

import pytest

from dcgan.device import lower_thread_priority


def policy_and_nice() -> tuple[int, int]:
    thread = threading.get_native_id()
    return os.sched_getscheduler(thread), os.getpriority(os.PRIO_PROCESS, thread)


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread scheduling is Linux's")
def test_lowered_thread_and_its_children_run_in_the_background_the_caller_does_not():
    seen = {}

    def job():
        seen["how"] = lower_thread_priority()
        seen["job"] = policy_and_nice()
        child = threading.Thread(target=lambda: seen.update(child=policy_and_nice()))  # like OpenMP workers
        child.start()
        child.join()

    before = policy_and_nice()
    thread = threading.Thread(target=job)
    thread.start()
    thread.join()
    background = (os.SCHED_IDLE, before[1]) if seen["how"] == "idle" else (before[0], 19)
    assert seen["how"] in ("idle", "nice")
    assert seen["job"] == background
    assert seen["child"] == background
    assert policy_and_nice() == before  # the app's own threads keep their priority
