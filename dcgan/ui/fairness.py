"""Fair shares for anonymous visitors: a token bucket per client for the plain GET route, and a budget of
heavy work (projections, looks inside D, class vectors...) per visitor for the queued Gradio handlers.

Gradio's queue is FIFO per concurrency group, and a handler only runs when it is dequeued: eight
projections queued by one visitor would hold everyone queued behind them. So a heavy handler starts with
`heavy_turn`, which refuses at once, before any work, a visitor who has heavy work running already or
who used more than their share of the last minute; and the heavy events have two slots each, so while a
visitor's first request runs in one, their surplus is dequeued into the other one by one and refused in
a millisecond each: it leaves the queue instead of holding others. (Refusing on joining the queue, with
an event `validator`, would be earlier still, but Gradio then checks the inputs there and answers a bad
one with a bare HTTP 400 that loses its message.) Visitors are their browser session AND their client
address, so a script that opens many sessions from one address is bounded too: an address may have one
request of a kind running (of an event's HEAVY_SLOTS, the other slot serves other networks), a few in all.

A client's address is the peer of the connection, or, when that peer is one of the host's proxies
(DCGAN_TRUSTED_PROXIES; on a Hugging Face Space any private address), what X-Forwarded-For says; an IPv6
client is its /64, the block one subscriber gets.

The logic is plain Python with an injectable clock (tests/test_fairness.py); the
Gradio glue is the two functions at the bottom.
"""

from __future__ import annotations

import ipaddress
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import gradio as gr

Clock = Callable[[], float]


# ---- who is asking ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Visitor:
    session: str  # Gradio's session hash: one per page load (or gradio_client.Client)
    address: str  # the client's address, an IPv6 client's /64 (see client_address)


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
TRUSTED_PROXIES_VARIABLE = "DCGAN_TRUSTED_PROXIES"
IPV6_CLIENT_PREFIX = 64  # an ISP gives a subscriber a /64 (or more): its 2**64 addresses are one client


@dataclass(frozen=True)
class ProxyTrust:
    """The direct peers whose X-Forwarded-For we believe: the host's own proxies, and no one else (anyone can
    send the header, and on a LAN every visitor's peer is a private address)."""

    networks: tuple[IPNetwork, ...] = ()
    any_internal: bool = False  # a Hugging Face Space: its proxies are private addresses nobody can list

    def trusts(self, address: str) -> bool:
        ip = _parse_ip(address)
        if ip is None:
            return False
        return (self.any_internal and not ip.is_global) or any(ip in network for network in self.networks)


def trusted_proxies(environ: Mapping[str, str] | None = None) -> ProxyTrust:
    """The host's proxies: DCGAN_TRUSTED_PROXIES, comma-separated addresses or CIDR blocks ("private": any
    non-public peer); unset, on a Space (SPACE_ID set) any private peer, as Spaces' proxies are; elsewhere
    none, so X-Forwarded-For is ignored and the peer is the client. ValueError for an entry that is neither."""
    environ = os.environ if environ is None else environ
    raw = environ.get(TRUSTED_PROXIES_VARIABLE, "").strip()
    if not raw:
        return ProxyTrust(any_internal=bool(environ.get("SPACE_ID")))
    entries = [entry.strip() for entry in raw.split(",") if entry.strip()]
    networks = []
    for entry in entries:
        if entry.lower() == "private":
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(
                f"{TRUSTED_PROXIES_VARIABLE}: {entry!r} is not an address or a CIDR block (e.g. 10.0.0.5, 10.0.0.0/8)"
            ) from None
    return ProxyTrust(tuple(networks), any_internal="private" in (entry.lower() for entry in entries))


TRUSTED_PROXIES = trusted_proxies()  # read once, at import: the host sets it before launching


def client_address(peer: str | None, forwarded_for: str | None = None, trust: ProxyTrust | None = None) -> str:
    """The client to key limits on: an IPv4 address, an IPv6 client's /64, or the peer as given when it is not
    an address. `trust` (default: TRUSTED_PROXIES) says which peers are proxies whose X-Forwarded-For counts.

    That header is a list each proxy appends to, and its first entries are whatever the client itself sent:
    keying on the first entry would let a flood name a fresh address per request. So we read it from the
    right, past our own proxies' entries, to the first address that is not one of them: the one our edge
    appended. Only when every entry is a proxy of ours (a LAN behind a local proxy) the first one."""
    trust = TRUSTED_PROXIES if trust is None else trust
    peer = (peer or "").strip() or "unknown"
    client = peer
    if forwarded_for and trust.trusts(peer):
        client = _forwarded_client(forwarded_for, trust) or peer
    return _limit_key(client)


def _forwarded_client(forwarded_for: str, trust: ProxyTrust) -> str | None:
    """The rightmost entry that is not one of our proxies (see client_address); entries that are not
    addresses are skipped: nothing can be keyed on them."""
    addresses = [entry.strip() for entry in forwarded_for.split(",") if _parse_ip(entry.strip()) is not None]
    for entry in reversed(addresses):
        if not trust.trusts(entry):
            return entry
    return addresses[0] if addresses else None


def _parse_ip(address: str) -> IPAddress | None:
    """An address as a peer or a header writes it ("[2001:db8::1]" too); None when it is not one."""
    try:
        return ipaddress.ip_address(address.removeprefix("[").split("]")[0])
    except ValueError:
        return None


def _limit_key(address: str) -> str:
    """IPv4: the address. IPv6: its /64, since one subscriber has all of it (IPv4 written as IPv6 is IPv4)."""
    ip = _parse_ip(address)
    if ip is None:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((ip, IPV6_CLIENT_PREFIX), strict=False))
    return str(ip)


# ---- the GET route: a token bucket per client ----------------------------------------------------------

# The page asks for one preview per slider release: a burst of 8 and 4 a second is more than a hand on a
# mouse makes (and than tests/test_app.py's few bad queries in a row), and about 4% of a core per address.
PREVIEW_BURST = 8
PREVIEW_PER_SECOND = 4.0
PREVIEW_TARPIT = 0.25  # seconds a refused request is held before its 429: costs us nothing, slows a loop


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets, one per key: `burst` requests at once, refilled at `per_second`."""

    def __init__(self, burst: float, per_second: float, clock: Clock = time.monotonic, max_keys: int = 10_000):
        self.burst, self.per_second, self.clock, self.max_keys = burst, per_second, clock, max_keys
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def wait_time(self, key: str) -> float:
        """0.0 and one token taken when `key` may go ahead; else the seconds until its next token."""
        with self._lock:
            now = self.clock()
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= self.max_keys:
                    self._forget_full(now)
                bucket = self._buckets[key] = _Bucket(self.burst, now)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.per_second)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.per_second

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled (their client is idle): a new one starts full anyway."""
        idle = [key for key, b in self._buckets.items() if b.tokens + (now - b.updated) * self.per_second >= self.burst]
        for key in idle:
            del self._buckets[key]
        if len(self._buckets) >= self.max_keys:  # all busy: forget the oldest half rather than grow
            for key in sorted(self._buckets, key=lambda k: self._buckets[k].updated)[: self.max_keys // 2]:
                del self._buckets[key]


# ---- heavy handlers: one at a time per visitor, a share of each minute --------------------------------

HEAVY_SLOTS = 2  # per heavy event: one visitor's running request, and a slot where others are served


@dataclass(frozen=True)
class FairShare:
    """How much heavy work a visitor may have. Seconds are wall-clock seconds a heavy handler ran."""

    session_in_flight: int = 1  # running, per browser session
    # per address and kind of work (one event): fewer than its HEAVY_SLOTS, or one address's sessions fill
    # them all and its surplus waits in the queue, ahead of everyone else's requests, instead of being refused
    address_per_kind: int = HEAVY_SLOTS - 1
    # per address, all kinds: a class behind one school NAT shares an address, so a few at once, not one
    address_in_flight: int = 4
    session_seconds: float = 30.0  # per `window`: one 600-step projection (~20 s here), not two
    address_seconds: float = 90.0
    window: float = 60.0
    running_ttl: float = 900.0  # a handler that never returned (hung) stops blocking its visitor after this


class Refused(Exception):
    """A visitor's heavy request refused; the message says why and what to do."""


@dataclass(eq=False)  # tickets are compared by identity: two alike requests are two tickets
class _Ticket:
    visitor: Visitor
    what: str
    since: float


@dataclass
class _Usage:
    spent: deque[tuple[float, float]] = field(default_factory=deque)  # (finished at, seconds)


class HeavyWork:
    """Who has heavy work running, and how much each visitor used in the last `window`."""

    def __init__(self, share: FairShare | None = None, clock: Clock = time.monotonic):
        self.share, self.clock = share or FairShare(), clock
        self._tickets: list[_Ticket] = []
        self._usage: dict[str, _Usage] = {}
        self._swept = clock()  # when _forget_idle last looked at every entry
        self._lock = threading.Lock()

    def start(self, visitor: Visitor, what: str) -> _Ticket:
        """Before any work: a ticket for the running request, or Refused when the visitor (session or
        address) has heavy work running already or spent their share of the window."""
        with self._lock:
            now = self.clock()
            self._forget_hung(now)
            self._forget_idle(now)
            self._check_in_flight(visitor, what)
            self._check_budget(visitor, now)
            ticket = _Ticket(visitor, what, now)
            self._tickets.append(ticket)
            return ticket

    def finish(self, ticket: _Ticket) -> None:
        """The work is done (or failed, or was cancelled): charge its seconds to session and address."""
        with self._lock:
            now = self.clock()
            if ticket in self._tickets:
                self._tickets.remove(ticket)
            for key in self._keys(ticket.visitor):
                self._usage.setdefault(key, _Usage()).spent.append((now, now - ticket.since))
            self._forget_idle(now)

    @contextmanager
    def turn(self, visitor: Visitor, what: str) -> Iterator[None]:
        """`with work.turn(visitor, "projection"): ...`: start, the work, finish (also on errors)."""
        ticket = self.start(visitor, what)
        try:
            yield
        finally:
            self.finish(ticket)

    # ---- the rules

    def _check_in_flight(self, visitor: Visitor, what: str) -> None:
        mine = [t for t in self._tickets if t.visitor.session == visitor.session]
        if len(mine) >= self.share.session_in_flight:
            raise Refused(f"your previous {mine[0].what} is still running; wait for it (one heavy request at a time)")
        from_address = [t for t in self._tickets if t.visitor.address == visitor.address]
        if sum(t.what == what for t in from_address) >= self.share.address_per_kind:
            raise Refused(
                f"another {what} from your network is running; wait for it to finish (one at a time per "
                "network, so that other visitors are served meanwhile)"
            )
        if len(from_address) >= self.share.address_in_flight:
            raise Refused(
                f"{len(from_address)} heavy requests from your network are already running; "
                "wait for one of them to finish"
            )

    def _check_budget(self, visitor: Visitor, now: float) -> None:
        session_key, address_key = self._keys(visitor)
        for key, budget in ((session_key, self.share.session_seconds), (address_key, self.share.address_seconds)):
            used, wait = self._used(key, now, budget)
            if used >= budget:
                whose = "you have" if key == session_key else "your network has"
                raise Refused(
                    f"{whose} used this minute's share of heavy work ({used:.0f} s of {budget:.0f} s); "
                    f"try again in {max(1, round(wait))} s"
                )

    def _used(self, key: str, now: float, budget: float) -> tuple[float, float]:
        """(seconds spent in the window, seconds until the spending is back under `budget`)."""
        usage = self._usage.get(key)
        if usage is None:
            return 0.0, 0.0
        while usage.spent and usage.spent[0][0] <= now - self.share.window:
            usage.spent.popleft()
        if not usage.spent:
            del self._usage[key]
            return 0.0, 0.0
        used = sum(seconds for _, seconds in usage.spent)
        over, wait = used - budget, 0.0
        for finished, seconds in usage.spent:  # oldest first: when enough has left the window
            if over < 0:
                break
            over -= seconds
            wait = finished + self.share.window - now
        return used, wait

    def _forget_idle(self, now: float) -> None:
        """Drop the ledger entries whose last use left the window: a one-off visitor's two entries would
        otherwise stay for ever (~2 GB per million visitors). Once a window, so the ledger holds about two
        windows' visitors and a sweep costs little per request."""
        if now - self._swept < self.share.window:
            return
        self._swept = now
        cutoff = now - self.share.window
        idle = [key for key, usage in self._usage.items() if not usage.spent or usage.spent[-1][0] <= cutoff]
        for key in idle:
            del self._usage[key]

    def _forget_hung(self, now: float) -> None:
        """finish() ends every ticket, also on errors and cancels (Gradio closes a cancelled generator);
        only a handler that never returns would leave one, and it stops counting after running_ttl."""
        self._tickets = [t for t in self._tickets if now - t.since <= self.share.running_ttl]

    @staticmethod
    def _keys(visitor: Visitor) -> tuple[str, str]:
        return f"session {visitor.session}", f"address {visitor.address}"


HEAVY_WORK = HeavyWork()  # one per server: every tab's heavy handlers share the visitor's share
# The tabs' worked examples have their own share: computed once per model they cost milliseconds, but on an
# uploaded model seconds, and a visitor could upload many. Apart from HEAVY_WORK, so an example still being
# drawn never refuses the visitor's own click. Every page's start draws one: a class opening the app together
# behind one NAT may draw as many at once as address_in_flight, not one at a time.
EXAMPLE_WORK = HeavyWork(FairShare(address_per_kind=FairShare.address_in_flight))


# ---- Gradio glue -----------------------------------------------------------------------------------------


def visitor_of(request: gr.Request | None) -> Visitor:
    """The visitor behind a Gradio event: session hash and client address (see client_address)."""
    if request is None:
        return Visitor("unknown", "unknown")
    client = getattr(request, "client", None)
    headers = getattr(request, "headers", None) or {}
    forwarded = headers.get("x-forwarded-for") if hasattr(headers, "get") else None
    address = client_address(getattr(client, "host", None), forwarded, TRUSTED_PROXIES)
    return Visitor(str(request.session_hash or "unknown"), address)


@contextmanager
def heavy_turn(request: gr.Request | None, what: str, work: HeavyWork = HEAVY_WORK) -> Iterator[None]:
    """In a heavy handler: `with heavy_turn(request, "projection"): ...`. A refusal is a gr.Error, raised
    before any work, so a surplus request costs nothing when it is dequeued. Wire the event with
    HEAVY_SLOTS slots (concurrency_limit) so the surplus is dequeued while the first one runs."""
    try:
        ticket = work.start(visitor_of(request), what)
    except Refused as refusal:
        raise gr.Error(str(refusal), print_exception=False) from None  # expected: no traceback in the log
    try:
        yield
    finally:
        work.finish(ticket)
