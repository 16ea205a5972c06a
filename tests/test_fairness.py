"""Fair shares for anonymous visitors (dcgan/ui/fairness.py): the limiter with a fake clock (one address with many
sessions, IPv6 clients keyed on their /64, X-Forwarded-For only from trusted proxies, a ledger that forgets
one-off visitors), then the app
launched in-process: a flood of walk-preview GETs is refused while other visitors are served, and a
visitor's second heavy request is refused at once while another visitor's is served."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from urllib.error import HTTPError
from urllib.request import urlopen

import pytest
from PIL import Image

pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

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


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ---- the token bucket ------------------------------------------------------------------------------------


def test_a_bucket_allows_a_burst_then_refills_at_its_rate():
    clock = FakeClock()
    limiter = RateLimiter(burst=3, per_second=2.0, clock=clock)
    assert [limiter.wait_time("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.wait_time("a") == pytest.approx(0.5)  # empty: one token every 0.5 s
    clock.now += 0.5
    assert limiter.wait_time("a") == 0.0
    assert limiter.wait_time("a") > 0
    clock.now += 10  # refills up to the burst, not beyond
    assert [limiter.wait_time("a") for _ in range(4)][-1] > 0


def test_each_client_has_its_own_bucket():
    limiter = RateLimiter(burst=1, per_second=1.0, clock=FakeClock())
    assert limiter.wait_time("a") == 0.0 and limiter.wait_time("a") > 0
    assert limiter.wait_time("b") == 0.0


def test_idle_buckets_are_forgotten_rather_than_grow_without_bound():
    clock = FakeClock()
    limiter = RateLimiter(burst=2, per_second=1.0, clock=clock, max_keys=10)
    for i in range(100):
        limiter.wait_time(f"client {i}")
        clock.now += 0.1
    assert len(limiter._buckets) <= 10


# ---- whose address (more below: which proxies are trusted, IPv6) -------------------------------------------

SPACE = trusted_proxies({"SPACE_ID": "someone/dcgan"})  # on a Space: any private peer is its proxy


def test_a_public_peer_is_the_client_whatever_it_claims():
    assert client_address("93.184.216.34", "1.2.3.4", SPACE) == "93.184.216.34"
    assert client_address("93.184.216.34", trust=ProxyTrust()) == "93.184.216.34"
    assert client_address(None, trust=ProxyTrust()) == "unknown"


def test_behind_a_private_proxy_the_forwarded_client_counts():
    assert client_address("10.0.0.5", "151.101.1.9", SPACE) == "151.101.1.9"
    assert client_address("127.0.0.1", "151.101.1.9, 10.0.0.2", SPACE) == "151.101.1.9"  # an internal hop after it
    assert client_address("127.0.0.1", None, SPACE) == "127.0.0.1"  # no proxy: loopback is the client


def test_entries_a_client_wrote_itself_are_not_trusted():
    # a flood writing a fresh first entry per request still lands in the bucket of its real address
    assert client_address("10.0.0.5", "6.6.6.1, 151.101.1.9", SPACE) == "151.101.1.9"
    assert client_address("10.0.0.5", "6.6.6.2, 151.101.1.9", SPACE) == "151.101.1.9"
    assert client_address("10.0.0.5", "not-an-ip, 151.101.1.9", SPACE) == "151.101.1.9"


def test_a_lan_behind_a_local_proxy_keys_on_the_first_entry():
    assert client_address("127.0.0.1", "192.168.1.20, 10.0.0.1", SPACE) == "192.168.1.20"


# ---- heavy work --------------------------------------------------------------------------------------------

ALICE, ALICE_TAB2 = Visitor("alice", "151.101.1.1"), Visitor("alice-2", "151.101.1.1")
BOB = Visitor("bob", "151.101.1.2")


def work(clock: FakeClock, **share) -> HeavyWork:
    return HeavyWork(FairShare(**share), clock=clock)


def test_a_second_heavy_request_is_refused_while_the_first_is_running():
    heavy = work(FakeClock())
    ticket = heavy.start(ALICE, "projection")
    with pytest.raises(Refused, match="your previous projection is still running; wait for it"):
        heavy.start(ALICE, "projection")
    with pytest.raises(Refused, match="your previous projection is still running"):
        heavy.start(ALICE, "look inside D")  # any heavy handler: the share is the visitor's
    heavy.finish(heavy.start(BOB, "projection"))  # someone else is not held up
    heavy.finish(ticket)
    heavy.finish(heavy.start(ALICE, "look inside D"))


def test_many_sessions_from_one_address_are_bounded_too():
    heavy = work(FakeClock(), address_in_flight=2)
    heavy.start(ALICE, "projection")
    heavy.start(ALICE_TAB2, "look inside D")  # one of each kind (below)
    with pytest.raises(Refused, match="2 heavy requests from your network are already running"):
        heavy.start(Visitor("alice-3", ALICE.address), "ablation")
    heavy.start(BOB, "projection")


def test_a_visitor_over_their_share_is_refused_until_it_leaves_the_window():
    clock = FakeClock()
    heavy = work(clock, session_seconds=30, window=60)
    with heavy.turn(ALICE, "projection"):
        clock.now += 35  # a long projection
    with pytest.raises(Refused, match=r"you have used this minute's share of heavy work \(35 s of 30 s\); try again"):
        heavy.start(ALICE, "projection")
    heavy.start(BOB, "projection")
    clock.now += 61
    heavy.start(ALICE, "projection")


def test_the_wait_names_when_enough_work_leaves_the_window():
    clock = FakeClock()
    heavy = work(clock, session_seconds=30, window=60)
    for _ in range(2):
        with heavy.turn(ALICE, "look inside D"):
            clock.now += 20  # ends at +20 and +40
    clock.now += 10  # +50: 40 s used; under 30 once the first 20 s leave, at +80
    with pytest.raises(Refused, match="try again in 30 s"):
        heavy.start(ALICE, "projection")


def test_a_refused_request_and_a_failed_one_leave_nothing_running():
    clock = FakeClock()
    heavy = work(clock, session_seconds=30, address_seconds=50)
    with pytest.raises(ValueError), heavy.turn(ALICE, "projection"):
        clock.now += 35
        raise ValueError("the handler failed")
    with pytest.raises(Refused):
        heavy.start(ALICE, "projection")
    assert heavy._tickets == []


def test_the_network_share_bounds_a_script_with_many_sessions():
    clock = FakeClock()
    heavy = work(clock, session_seconds=30, address_seconds=50, address_in_flight=10)
    for tab in range(3):
        with heavy.turn(Visitor(f"script-{tab}", "151.101.1.66"), "projection"):
            clock.now += 20
    with pytest.raises(Refused, match="your network has used"):
        heavy.start(Visitor("script-4", "151.101.1.66"), "projection")


def test_a_handler_that_never_returned_stops_blocking_its_visitor():
    clock = FakeClock()
    heavy = work(clock, running_ttl=900)
    heavy.start(ALICE, "projection")
    clock.now += 901
    heavy.start(ALICE, "projection")


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


# ---- against the app ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    from browser.app_server import running_app

    with running_app(tmp_path_factory.mktemp("limits-app")) as url:
        yield url


def preview_status(url: str) -> tuple[int, str | None]:
    try:
        with urlopen(url, timeout=10) as response:
            response.read()
            return response.status, None
    except HTTPError as error:
        return error.code, error.headers.get("Retry-After")


def test_a_preview_flood_gets_429s_while_other_visitors_are_served(app_url):
    visitor = gradio_client.Client(app_url, verbose=False)
    query = visitor.predict(5, api_name="/walk_seed")[-1]
    preview = f"{app_url}walk-preview.png?{query}&move=dim:0:1.5"
    stop, answers = threading.Event(), []

    def flood() -> None:
        while not stop.is_set():
            answers.append(preview_status(preview))

    with ThreadPoolExecutor(8) as pool:
        for _ in range(8):
            pool.submit(flood)
        time.sleep(1.0)
        started = time.perf_counter()
        image = visitor.predict(6, api_name="/walk_seed")[1]
        answered_in = time.perf_counter() - started
        stop.set()
    codes = [code for code, _ in answers]
    assert Image.open(image).size == (256, 256)
    assert answered_in < 1.0, f"a visitor's request took {answered_in:.2f} s during the flood"
    assert codes.count(200) <= 8 + 4 * 3  # the burst, then about the refill rate over the flood's ~2 s
    assert codes.count(429) >= len(codes) // 2
    assert all(retry and int(retry) >= 1 for code, retry in answers if code in (429, 503))
    assert set(codes) <= {200, 429, 503}


def test_a_second_heavy_request_is_refused_at_once_and_another_visitor_is_served(app_url, tmp_path, monkeypatch):
    from dcgan.ui import fairness

    Image.new("L", (64, 64), 200).save(tmp_path / "light.png")
    image = gradio_client.handle_file(str(tmp_path / "light.png"))
    # Alice and Bob from two networks, behind the host's proxy (here 127.0.0.1): one network has one
    # projection running at a time (below)
    monkeypatch.setattr(fairness, "TRUSTED_PROXIES", trusted_proxies({"DCGAN_TRUSTED_PROXIES": "127.0.0.1"}))
    alice, bob = (
        gradio_client.Client(app_url, verbose=False, headers={"X-Forwarded-For": address})
        for address in ("151.101.1.1", "151.101.1.2")
    )
    long_one = alice.submit(image, False, 600, api_name="/project")
    deadline = time.time() + 30
    while long_one.status().code.name not in ("PROCESSING", "ITERATING") and time.time() < deadline:
        time.sleep(0.05)
    # Refused at once, not queued behind the projection: each refusal comes back while it still runs
    # (a wall-clock bound here failed on a loaded CI machine; this holds however busy the CPU is)
    with pytest.raises(Exception, match="your previous projection is still running; wait for it"):
        alice.predict(image, False, 50, api_name="/project")
    assert not long_one.done()
    with pytest.raises(Exception, match="your previous projection is still running"):
        alice.predict("generated", 3, None, api_name="/inside_look")  # any heavy work counts
    assert not long_one.done()
    verdict = bob.predict("generated", 3, None, api_name="/inside_look")[0]
    assert "% real" in verdict
    *_, status, _ = bob.predict(image, False, 50, api_name="/project")  # queued behind alice's, then served
    assert "step 50/50" in status
    long_one.cancel()
