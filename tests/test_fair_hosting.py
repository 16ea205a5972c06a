"""Hosting safely, part 2 (issue 24): fair shares that hold against one address with many sessions, IPv6
clients, a forged X-Forwarded-For and a million one-off visitors (dcgan/ui/fairness.py); and the training
slot, which a visitor may not keep for hours by restarting their job the moment it stops (dcgan/jobs.py).
Plain Python with fake clocks; the app-level checks are in tests/test_job_ownership.py."""

from types import SimpleNamespace

import pytest
import torch
from helpers import blob_images

pytest.importorskip("gradio")

from test_fairness import FakeClock  # noqa: E402

from dcgan.config import ModelConfig, TrainConfig  # noqa: E402
from dcgan.data import ImageDataset  # noqa: E402
from dcgan.errors import DcganError  # noqa: E402
from dcgan.jobs import JobBudget, JobManager, TrainingJob, wait_until  # noqa: E402
from dcgan.train import Trainer  # noqa: E402
from dcgan.ui import fairness  # noqa: E402
from dcgan.ui.fairness import (  # noqa: E402
    HEAVY_SLOTS,
    FairShare,
    HeavyWork,
    ProxyTrust,
    RateLimiter,
    Refused,
    Visitor,
    client_address,
    trusted_proxies,
)

# ---- one address, many sessions ------------------------------------------------------------------------------


def test_one_address_never_holds_every_slot_of_a_heavy_event():
    """Eight sessions of one address queue eight projections: the event has HEAVY_SLOTS slots, and the address
    may hold only one of them, so its surplus is refused as it is dequeued and the other slot serves others."""
    heavy = HeavyWork(clock=FakeClock())  # the server's defaults
    script = [Visitor(f"tab-{i}", "151.101.1.66") for i in range(8)]
    first = heavy.start(script[0], "projection")
    refused = 0
    for tab in script[1:]:
        with pytest.raises(Refused, match="another projection from your network is running; wait for it"):
            heavy.start(tab, "projection")
        refused += 1
    assert refused == 7 and HEAVY_SLOTS > 1
    heavy.finish(heavy.start(Visitor("bob", "151.101.1.2"), "projection"))  # another address: served at once
    heavy.finish(heavy.start(script[1], "look inside D"))  # other kinds of work have their own slots
    heavy.finish(first)
    heavy.finish(heavy.start(script[2], "projection"))  # its turn again once the first one ended


def test_a_class_behind_one_address_still_sees_the_worked_examples_together():
    """Each page's start draws its tab's example (usually milliseconds, from a cache): not one at a time."""
    examples = HeavyWork(fairness.EXAMPLE_WORK.share, clock=FakeClock())
    for student in range(FairShare().address_in_flight):
        examples.start(Visitor(f"student-{student}", "151.101.1.66"), "worked example")


# ---- IPv6: an address per client is a /64 per client ----------------------------------------------------------


def test_ipv6_clients_are_keyed_on_their_64_and_ipv4_on_the_address():
    none = ProxyTrust()
    assert client_address("2001:db8:1:2::1", trust=none) == client_address("2001:db8:1:2:ffff:0:0:9", trust=none)
    assert client_address("2001:db8:1:2::1", trust=none) == "2001:db8:1:2::/64"
    assert client_address("2001:db8:1:3::1", trust=none) != client_address("2001:db8:1:2::1", trust=none)
    assert client_address("151.101.1.1", trust=none) != client_address("151.101.1.2", trust=none)
    assert client_address("::ffff:151.101.1.1", trust=none) == "151.101.1.1"  # IPv4 written as IPv6
    assert client_address("[2001:db8:1:2::7]", trust=none) == "2001:db8:1:2::/64"


def test_a_64_is_one_client_for_the_preview_bucket_and_for_heavy_work():
    limiter = RateLimiter(burst=2, per_second=1.0, clock=FakeClock())
    hosts = [f"2001:db8:1:2::{i:x}" for i in range(1, 10)]
    waits = [limiter.wait_time(client_address(host, trust=ProxyTrust())) for host in hosts]
    assert waits[:2] == [0.0, 0.0] and all(wait > 0 for wait in waits[2:])  # a fresh address per request: no help
    heavy = HeavyWork(clock=FakeClock())
    heavy.start(Visitor("a", client_address(hosts[0], trust=ProxyTrust())), "projection")
    with pytest.raises(Refused, match="from your network"):
        heavy.start(Visitor("b", client_address(hosts[1], trust=ProxyTrust())), "projection")


# ---- X-Forwarded-For only from the proxies the host named -----------------------------------------------------


def test_without_configured_proxies_forwarded_for_is_ignored():
    """A LAN or classroom deployment (--host 0.0.0.0): every visitor's peer is private, and none is a proxy."""
    lan = trusted_proxies({})
    assert client_address("192.168.1.5", "151.101.1.9", trust=lan) == "192.168.1.5"
    assert client_address("192.168.1.5", "6.6.6.1", trust=lan) == client_address("192.168.1.5", "6.6.6.2", trust=lan)
    assert client_address("127.0.0.1", "151.101.1.9", trust=lan) == "127.0.0.1"


def test_configured_proxies_are_trusted_and_no_one_else():
    trust = trusted_proxies({"DCGAN_TRUSTED_PROXIES": "10.0.0.5, 192.168.7.0/24 ,fd00::/8"})
    assert client_address("10.0.0.5", "151.101.1.9", trust=trust) == "151.101.1.9"
    assert client_address("10.0.0.5", "6.6.6.1, 151.101.1.9", trust=trust) == "151.101.1.9"  # a client's own entry
    assert client_address("10.0.0.5", "151.101.1.9, 192.168.7.3", trust=trust) == "151.101.1.9"  # a chain of ours
    assert client_address("fd00::1", "151.101.1.9", trust=trust) == "151.101.1.9"
    assert client_address("10.0.0.5", "192.168.1.20", trust=trust) == "192.168.1.20"  # a LAN client of the proxy
    assert client_address("10.0.0.6", "151.101.1.9", trust=trust) == "10.0.0.6"  # private, but not a proxy of ours
    assert client_address("93.184.216.34", "151.101.1.9", trust=trust) == "93.184.216.34"
    assert client_address("10.0.0.5", "garbage", trust=trust) == "10.0.0.5"  # nothing to key on but the peer


def test_on_a_space_its_private_proxies_are_trusted_as_before():
    space = trusted_proxies({"SPACE_ID": "someone/dcgan-explorer"})
    assert client_address("10.0.0.5", "6.6.6.1, 151.101.1.9, 10.0.0.2", trust=space) == "151.101.1.9"
    assert client_address("93.184.216.34", "151.101.1.9", trust=space) == "93.184.216.34"
    assert client_address("127.0.0.1", "192.168.1.20, 10.0.0.1", trust=space) == "192.168.1.20"
    named = trusted_proxies({"SPACE_ID": "someone/dcgan-explorer", "DCGAN_TRUSTED_PROXIES": "10.0.0.5"})
    assert client_address("10.0.0.6", "151.101.1.9", trust=named) == "10.0.0.6"  # the host's list wins
    private = trusted_proxies({"DCGAN_TRUSTED_PROXIES": "private"})
    assert client_address("10.9.9.9", "151.101.1.9", trust=private) == "151.101.1.9"


def test_a_bad_proxy_list_is_refused_with_the_variable_named():
    with pytest.raises(ValueError, match=r"DCGAN_TRUSTED_PROXIES.*'10\.0\.0\.300'"):
        trusted_proxies({"DCGAN_TRUSTED_PROXIES": "10.0.0.5,10.0.0.300"})


def test_a_visitor_is_keyed_with_the_servers_trusted_proxies(monkeypatch):
    request = SimpleNamespace(
        session_hash="s1", client=SimpleNamespace(host="192.168.1.5"), headers={"x-forwarded-for": "151.101.1.9"}
    )
    monkeypatch.setattr(fairness, "TRUSTED_PROXIES", trusted_proxies({}))
    assert fairness.visitor_of(request) == Visitor("s1", "192.168.1.5")
    monkeypatch.setattr(fairness, "TRUSTED_PROXIES", trusted_proxies({"DCGAN_TRUSTED_PROXIES": "192.168.1.5"}))
    assert fairness.visitor_of(request) == Visitor("s1", "151.101.1.9")


# ---- the ledger forgets one-off visitors ---------------------------------------------------------------------------


def test_one_off_visitors_leave_the_heavy_work_ledger_bounded():
    clock = FakeClock()
    heavy = HeavyWork(FairShare(window=60), clock=clock)
    for i in range(5000):  # one visitor a second, each with one heavy request, never seen again
        with heavy.turn(Visitor(f"once-{i}", f"10.{i // 65536}.{i // 256 % 256}.{i % 256}"), "projection"):
            clock.now += 0.5
        clock.now += 0.5
    assert len(heavy._usage) <= 2 * 2 * 60  # session and address of about two windows' visitors, not 10,000
    heavy.start(Visitor("x", "151.101.1.1"), "projection")
    with pytest.raises(Refused, match="your previous projection"):  # the rules still hold
        heavy.start(Visitor("x", "151.101.1.1"), "look inside D")
    clock.now += 61
    with heavy.turn(Visitor("y", "151.101.1.3"), "projection"):
        clock.now += 40
    with pytest.raises(Refused, match="this minute's share"):
        heavy.start(Visitor("y", "151.101.1.3"), "projection")  # recent use is remembered


# ---- owner keys of any characters -----------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["clé-été-ключ-🔑", "\ud800", "a\x00b", " "])
def test_an_owner_key_of_any_characters_is_compared_not_raised_on(key):
    job = TrainingJob(None, "a job", owner_key="the-real-key")  # ownership needs no trainer
    assert job.owned_by(key) is False
    assert TrainingJob(None, "a job", owner_key=key).owned_by(key) is bool(key.strip())  # blank: no key at all


# ---- the training slot: no holding it for hours while others wait ---------------------------------------------

TINY = ModelConfig(image_size=32, nc=1, nz=8, ngf=8, ndf=8)
HOUR = JobBudget(max_minutes=60)
ALICE, BOB = ("alice-key", "151.101.1.1"), ("bob-key", "151.101.1.2")


def long_trainer(run_dir):
    pixels = torch.from_numpy(blob_images(64, size=32)).float()
    data = ImageDataset(pixels[:, None] / 127.5 - 1, None, None, "blobs")
    train = TrainConfig(data="blobs", steps=100000, batch_size=16, sample_every=1000, n_fixed=16)
    return lambda: Trainer(TINY, train, run_dir, dataset=data)


def start(manager, tmp_path, who, clock, budget=HOUR, name="job"):
    key, address = who
    return manager.start(
        long_trainer(tmp_path / name), name, budget=budget, owner_key=key, owner_address=address, clock=clock
    )


def run_for(job, clock, minutes):
    """The job holds the slot for `minutes` (of the fake clock), then its owner stops it."""
    assert wait_until(lambda: job.snapshot().step >= 1, timeout=60)
    clock.now += minutes * 60
    job.stop()
    assert job.wait(timeout=60)


def test_a_job_others_waited_for_is_not_restarted_by_its_starter_at_once(tmp_path):
    clock, manager = FakeClock(), JobManager()
    job = start(manager, tmp_path, ALICE, clock, name="alice-1")
    with pytest.raises(DcganError, match="already running"):
        manager.check_free(*BOB)  # Bob asks for the slot meanwhile
    run_for(job, clock, 45)
    for who in (ALICE, ("a-fresh-key", ALICE[1]), (ALICE[0], "151.101.1.77")):  # her browser, or her network
        with pytest.raises(DcganError, match=r"another visitor waited.*start the next one in 45 min.*anyone else"):
            start(manager, tmp_path, who, clock, name="alice-2")
    assert manager.job is job
    bob_job = start(manager, tmp_path, BOB, clock, name="bob-1")  # anyone else may start one now
    run_for(bob_job, clock, 10)
    with pytest.raises(DcganError, match="in 35 min"):  # the cooldown runs from her job's end
        start(manager, tmp_path, ALICE, clock, name="alice-2")
    clock.now += 35 * 60
    run_for(start(manager, tmp_path, ALICE, clock, name="alice-2"), clock, 1)


def test_a_job_nobody_else_asked_for_may_be_restarted_at_once(tmp_path):
    clock, manager = FakeClock(), JobManager()
    run_for(start(manager, tmp_path, ALICE, clock, name="first"), clock, 60)
    manager.check_free()  # a speed estimate, say: no visitor asking, so nobody is waiting
    manager.check_free(*ALICE)  # nor is the starter herself
    run_for(start(manager, tmp_path, ALICE, clock, name="second"), clock, 1)


def test_without_a_time_limit_there_is_no_cooldown(tmp_path):
    clock, manager = FakeClock(), JobManager()
    job = start(manager, tmp_path, ALICE, clock, budget=JobBudget(), name="first")
    with pytest.raises(DcganError, match="already running"):
        manager.check_free(*BOB)
    run_for(job, clock, 60)
    run_for(start(manager, tmp_path, ALICE, clock, budget=JobBudget(), name="second"), clock, 1)
