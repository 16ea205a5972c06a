"""Many visitors at once, plus clients flooding the walk preview: what each kind of request costs, side by
side without the flood, with it, and with it while a training job runs (one run, one app: this machine is noisy).

    python bench/load.py                            # 30 visitors (think 5 s) + 10 flooders, 60 s per condition
    python bench/load.py --visitors 10 --seconds 15 --flooders 0

Starts `python app.py --model checkpoints/fashion-mnist-32` on a free loopback port. Each visitor is its
own gradio_client.Client (its own session) looping over a mix of slider releases (/walk_dim_0), seeds
(/walk_seed), interpolations (/interpolate), arithmetic picks (/arithmetic_pick) and, now and then, a
projection (/project), with a think time between. The flooders (another process, so their loops don't
share the visitors' GIL) GET walk-preview.png as fast as they can, in the second condition. Then a training
job is started through the Train tab's /train_start (the fast CPU recipe) and the flooded run is repeated.
Reported per condition: requests, errors, refusals (a 429 or a "wait for it" is the limiter working, not
an error), p50/p95 per kind, and the app's peak resident memory (sampled from /proc).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from pathlib import Path

from procs import free_port, resident_mb  # bench/procs.py (this script's folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
# What the limiter says when it refuses (dcgan/ui/fairness.py): counted apart from errors.
REFUSAL_WORDS = ("wait for it", "share of heavy work", "from your network")
MIX = [("walk_dim_0", 0.40), ("walk_seed", 0.20), ("interpolate", 0.20), ("arithmetic_pick", 0.17), ("project", 0.03)]


def start_app(port: int, model: str) -> subprocess.Popen:
    env = os.environ | {"DCGAN_RUNS": tempfile.mkdtemp(prefix="load-runs-")}  # the training run goes here
    command = [sys.executable, "app.py", "--port", str(port), "--model", model]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1):
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the app did not start within 120 s")


# ---- visitors ---------------------------------------------------------------------------------------------


def visitor_call(client, kind: str, picture: str) -> None:
    """One request of `kind`, as the page would send it (random values: no two visitors alike)."""
    from gradio_client import handle_file

    if kind == "walk_dim_0":
        client.predict(round(random.uniform(-3, 3), 2), api_name="/walk_dim_0")
    elif kind == "walk_seed":
        client.predict(random.randrange(10_000), api_name="/walk_seed")
    elif kind == "interpolate":
        client.predict(random.randrange(1000), random.randrange(1000), "seed", "seed", 9, 4, api_name="/interpolate")
    elif kind == "arithmetic_pick":
        client.predict(random.choice("ABC"), random.randrange(24), api_name="/arithmetic_pick")
    else:
        client.predict(handle_file(picture), False, 100, api_name="/project")


def run_visitor(client, stop: threading.Event, think: float, picture: str, log: list) -> None:
    kinds, weights = zip(*MIX, strict=True)
    while not stop.is_set():
        kind = random.choices(kinds, weights)[0]
        started = time.perf_counter()
        try:
            visitor_call(client, kind, picture)
            outcome = "ok"
        except Exception as error:  # the bench counts failures; it does not stop on them
            outcome = "refused" if any(word in str(error) for word in REFUSAL_WORDS) else f"error: {error}"[:200]
        log.append((kind, outcome, time.perf_counter() - started))
        stop.wait(random.uniform(0.5, 1.5) * think)


# ---- flooders (another process) -----------------------------------------------------------------------------


def flood(url: str, threads: int, seconds: float, results) -> None:
    """`threads` loops GETting `url` as fast as each answer comes; puts [(status, seconds)] on `results`."""
    log: list[tuple[int, float]] = []
    deadline = time.time() + seconds

    def loop() -> None:
        while time.time() < deadline:
            started = time.perf_counter()
            try:
                with urllib.request.urlopen(url, timeout=30) as response:
                    response.read()
                    status = response.status
            except urllib.error.HTTPError as error:
                status = error.code
            except OSError:
                status = 0
            log.append((status, time.perf_counter() - started))

    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    results.put(log)


# ---- one condition -----------------------------------------------------------------------------------------


def measure(clients, app_pid: int, preview_url: str, args, picture: str, flooders: int) -> dict:
    """Run every visitor (and `flooders` flooding clients) for args.seconds; the log per kind and the app's peak RSS."""
    stop, log, peak = threading.Event(), [], [resident_mb(app_pid)]

    def sample_memory() -> None:
        while not stop.wait(0.5):
            peak.append(resident_mb(app_pid))

    flood_results = multiprocessing.Queue()
    flooder = None
    if flooders:
        flooder = multiprocessing.Process(target=flood, args=(preview_url, flooders, args.seconds, flood_results))
        flooder.start()
    threads = [threading.Thread(target=sample_memory)]
    threads += [threading.Thread(target=run_visitor, args=(c, stop, args.think, picture, log)) for c in clients]
    for thread in threads:
        thread.start()
    time.sleep(args.seconds)
    stop.set()
    for thread in threads:
        thread.join()
    flood_log = flood_results.get() if flooder else []
    if flooder:
        flooder.join()
    return {"log": log, "flood": flood_log, "peak_mb": max(peak)}


def start_training(client) -> str:
    """Start a job through the Train tab's /train_start with its defaults and the fast CPU recipe."""
    info = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/train_start"]
    wanted = {"kind": "fashion-mnist", "batch_size": 32, "lr_g": 3e-4, "lr_d": 3e-4, "ema": 0.999, "epochs": 1}
    values = {}
    for parameter in info["parameters"]:
        name = parameter["parameter_name"]
        values[name] = wanted.get(name, parameter.get("parameter_default"))
    result = client.predict(**values, api_name="/train_start")
    return str(result[0] if isinstance(result, (list, tuple)) else result)[:160]


# ---- the report ---------------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def kind_rows(result: dict) -> dict[str, str]:
    """Per kind: 'requests / errors / refused / p50 / p95' (times of answered requests, in seconds)."""
    by_kind = defaultdict(list)
    for kind, outcome, seconds in result["log"]:
        by_kind[kind].append((outcome, seconds))
    rows = {}
    for kind, _ in MIX:
        entries = by_kind.get(kind, [])
        ok = [seconds for outcome, seconds in entries if outcome == "ok"]
        errors = sum(outcome.startswith("error") for outcome, _ in entries)
        refused = sum(outcome == "refused" for outcome, _ in entries)
        rows[kind] = f"{len(entries)} | {errors} | {refused} | {percentile(ok, 50):.2f} | {percentile(ok, 95):.2f}"
    flood = result["flood"]
    served = [seconds for status, seconds in flood if status == 200]
    refused = sum(status in (429, 503) for status, _ in flood)
    errors = len(flood) - len(served) - refused
    name = "walk-preview.png flood"
    rows[name] = f"{len(flood)} | {errors} | {refused} | {percentile(served, 50):.3f} | {percentile(served, 95):.3f}"
    rows["(200 / 429 / 503)"] = (
        f"{len(served)} / {sum(s == 429 for s, _ in flood)} / {sum(s == 503 for s, _ in flood)} | | | |"
    )
    return rows


def print_report(conditions: dict[str, dict], args) -> None:
    names = list(conditions)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"\n{time.strftime('%Y-%m-%d %H:%M')}: {args.visitors} visitors + {args.flooders} flooders, ", end="")
    print(f"{args.seconds:.0f} s per condition, think {args.think} s, {Path(args.model).name}; load after {load}")
    header = " | ".join(f"{n}: requests | errors | refused | p50 s | p95 s" for n in names)
    print(f"| kind | {header} |")
    print("|---|" + "---|" * (5 * len(names)))
    rows = {name: kind_rows(result) for name, result in conditions.items()}
    for kind in rows[names[0]]:
        print(f"| {kind} | " + " | ".join(rows[name][kind] for name in names) + " |")
    peaks = " | ".join(f"{conditions[n]['peak_mb']:.0f} MB | | | |" for n in names)
    print(f"| app peak RSS | {peaks} |")
    errors = {n: [o for _, o, _ in conditions[n]["log"] if o.startswith("error")] for n in names}
    for name, messages in errors.items():
        for message in sorted(set(messages))[:5]:
            print(f"  {name} error x{messages.count(message)}: {message}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--visitors", type=int, default=30)
    parser.add_argument("--flooders", type=int, default=10, help="clients GETting walk-preview.png non-stop")
    parser.add_argument("--seconds", type=float, default=60.0, help="per condition")
    parser.add_argument(
        "--think", type=float, default=5.0, help="mean pause between a visitor's requests (s): a student looking"
    )
    parser.add_argument("--model", default="checkpoints/fashion-mnist-32")
    parser.add_argument("--skip-training", action="store_true", help="only the condition without a job")
    args = parser.parse_args(argv)

    from gradio_client import Client
    from PIL import Image

    picture = str(Path(tempfile.mkdtemp(prefix="load-")) / "shirt.png")
    image = Image.new("L", (28, 28), 0)
    image.paste(200, (8, 6, 20, 24))  # a light block on black: something to project
    image.save(picture)
    port = free_port()
    app = start_app(port, args.model)
    url = f"http://127.0.0.1:{port}/"
    try:
        clients = [Client(url, verbose=False) for _ in range(max(1, args.visitors))]
        query = clients[0].predict(5, api_name="/walk_seed")[-1]
        preview_url = f"{url}walk-preview.png?{query}&move=dim:0:1.0"
        visitors = clients[: args.visitors]
        # Without the flood first: what the visitors alone cost, the baseline the flood must not move much.
        conditions = {"no flood": measure(visitors, app.pid, preview_url, args, picture, flooders=0)}
        if args.flooders:
            conditions["flood"] = measure(visitors, app.pid, preview_url, args, picture, args.flooders)
        if not args.skip_training:
            print("training job:", start_training(clients[0]), flush=True)
            time.sleep(5)  # the job's first steps (data loading) are behind it
            conditions["flood + training"] = measure(visitors, app.pid, preview_url, args, picture, args.flooders)
    finally:
        app.terminate()
        app.wait(30)
    print_report(conditions, args)


if __name__ == "__main__":
    main()
