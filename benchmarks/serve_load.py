"""`faceprint serve` under load, on 127.0.0.1 only, with a bounded async httpx client.

    python benchmarks/serve_load.py --data ../shared/data/lfw [--requests 2000] [--clients 32]

1. Reads beside writes: 8 clients enrol 200 LFW people (one photo each) while 16 clients
   identify; every enrolment answered 201 must be in the gallery afterwards, with no 5xx.
2. Mixed load: 32 clients send 2000 requests, half verify (two photos) and half identify,
   first with batching on (the default 5 ms wait), then with --batch-wait 0, on the same
   gallery: throughput, p50/p95/p99 latency, 5xx and connection errors, and the ratio.
3. Hostile requests (no key, wrong key, 50 MB declared body, decompression bomb, path-like
   name, URL in a form field), 50 rounds: their statuses, and the server's RSS before and
   after.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, cpu_path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from faceprint.gallery.store import GalleryStore  # noqa: E402
from faceprint.serve.keys import KeyFile  # noqa: E402
from faceprint.serve.process import spawn_server  # noqa: E402
from tests.serve.test_hostile import png_declaring  # noqa: E402


async def drive(url: str, key: str, requests: list, clients: int) -> dict:
    """Send ``requests`` (method, path, files) with ``clients`` concurrent connections."""
    latencies, statuses, errors = [], Counter(), Counter()
    pending = iter(requests)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(
        base_url=url, headers=headers, limits=limits, timeout=300
    ) as client:

        async def worker():
            for method, path, files in pending:
                started = time.perf_counter()
                try:
                    answer = await client.request(method, path, files=files)
                except httpx.HTTPError as e:
                    errors[type(e).__name__] += 1
                    continue
                latencies.append(time.perf_counter() - started)
                statuses[answer.status_code] += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - started
    ms = np.array(latencies) * 1000
    return {
        "requests": len(requests),
        "seconds": wall,
        "throughput": len(latencies) / wall,
        "p50": float(np.percentile(ms, 50)),
        "p95": float(np.percentile(ms, 95)),
        "p99": float(np.percentile(ms, 99)),
        "statuses": dict(statuses),
        "errors": dict(errors),
    }


def mean_batch(url: str, admin: str) -> float:
    text = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {admin}"}).text
    total = float(re.search(r"^faceprint_batch_images_sum (\S+)", text, re.M).group(1))
    count = float(re.search(r"^faceprint_batch_images_count (\S+)", text, re.M).group(1))
    return total / max(count, 1.0)


async def reads_beside_writes(url: str, write: str, read: str, people, probes) -> dict:
    acknowledged, statuses = {}, Counter()
    queue = list(people)
    done = asyncio.Event()
    async with httpx.AsyncClient(base_url=url, timeout=300) as client:

        async def writer():
            while queue:
                name, data = queue.pop()
                answer = await client.post(
                    f"/v1/identities/{name}/faces",
                    files={"image": data},
                    headers={"Authorization": f"Bearer {write}"},
                )
                statuses[answer.status_code] += 1
                if answer.status_code == 201:
                    acknowledged[name] = answer.json()["face_id"]

        async def reader(offset: int):
            i = offset
            while not done.is_set():
                answer = await client.post(
                    "/v1/identify",
                    files={"image": probes[i % len(probes)]},
                    headers={"Authorization": f"Bearer {read}"},
                )
                statuses[answer.status_code] += 1
                i += 16

        readers = [asyncio.create_task(reader(i)) for i in range(16)]
        started = time.perf_counter()
        await asyncio.gather(*(writer() for _ in range(8)))
        wall = time.perf_counter() - started
        done.set()
        await asyncio.gather(*readers)
    return {"acknowledged": acknowledged, "statuses": dict(statuses), "seconds": wall}


async def declared_body(url: str, key: str, size: int) -> int:
    """Status of a POST whose head declares ``size`` bytes, sent without its body."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"POST /v1/detect HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {size}\r\n\r\n".encode()
    )
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    writer.close()
    return status


async def hostile_rounds(server, key: dict, rounds: int) -> dict:
    """Every kind of hostile request ``rounds`` times; statuses by kind, RSS before and after."""
    bomb = {"image": ("bomb.png", png_declaring(40000, 40000), "image/png")}
    statuses: dict[str, Counter] = {}
    before = server.rss_mib()
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        for _ in range(rounds):
            answers = {
                "no key": await client.get("/v1/identities"),
                "wrong key": await client.get(
                    "/v1/identities", headers={"Authorization": "Bearer fpk_0_wrong"}
                ),
                "revoked key": await client.get(
                    "/v1/identities", headers={"Authorization": f"Bearer {key['revoked']}"}
                ),
                "read key, write endpoint": await client.delete(
                    "/v1/identities/x", headers={"Authorization": f"Bearer {key['read']}"}
                ),
                "40000x40000 PNG": await client.post(
                    "/v1/detect", files=bomb, headers={"Authorization": f"Bearer {key['read']}"}
                ),
                "path-like name": await client.post(
                    "/v1/identities/..%2F..%2Fetc/faces",
                    files=bomb,
                    headers={"Authorization": f"Bearer {key['write']}"},
                ),
                "URL in a form field": await client.post(
                    "/v1/detect",
                    data={"image": "http://example.com/a.jpg"},
                    headers={"Authorization": f"Bearer {key['read']}"},
                ),
            }
            for kind, answer in answers.items():
                statuses.setdefault(kind, Counter())[answer.status_code] += 1
            declared = await declared_body(server.url, key["read"], 50_000_000)
            statuses.setdefault("50 MB body", Counter())[declared] += 1
    after = server.rss_mib()
    total = sum(sum(c.values()) for c in statuses.values())
    return {
        "statuses": {k: dict(v) for k, v in statuses.items()},
        "rss": (before, after),
        "requests": total,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA / "lfw")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--enrol", type=int, default=200)
    parser.add_argument("--batch-size", default="32", help="the server's --batch-size")
    parser.add_argument(
        "--batch-wait", default="5", help="the server's --batch-wait (ms), batching on"
    )
    args = parser.parse_args()
    print(cpu_path())
    images = args.data / "images"
    people = sorted(p for p in images.iterdir() if len(list(p.iterdir())) >= 2)
    enrolled = people[: args.enrol]
    strangers = people[args.enrol : args.enrol + 200]

    def photo(person: Path, i: int) -> bytes:
        return (person / f"{person.name}_{i:04d}.jpg").read_bytes()

    tmp = Path(tempfile.mkdtemp(prefix="serve-load-"))
    keys = KeyFile(tmp / "keys.json")
    key = {scope: keys.create(scope, scope) for scope in ("read", "write", "admin")}
    key["revoked"] = keys.create("revoked", "admin")
    keys.revoke("revoked")
    gallery = tmp / "faces.gallery"
    common = ["--gallery", str(gallery), "--keys", str(keys.path), "--batch-size", args.batch_size]

    server = spawn_server(common + ["--batch-wait", args.batch_wait], tmp / "on.log")
    probes = [photo(p, 2) for p in enrolled]
    rbw = asyncio.run(
        reads_beside_writes(
            server.url, key["write"], key["read"], [(p.name, photo(p, 1)) for p in enrolled], probes
        )
    )
    store = GalleryStore(gallery, create=False)
    stored = {f.id: f.identity for f in store.faces()}
    store.close()
    missing = [n for n, i in rbw["acknowledged"].items() if stored.get(i) != n]
    fivexx = sum(v for s, v in rbw["statuses"].items() if s >= 500)
    print(
        f"\nreads beside writes: 8 writers enrolled {len(rbw['acknowledged'])} of {len(enrolled)} "
        f"(201) while 16 readers identified, in {rbw['seconds']:.1f} s; statuses "
        f"{rbw['statuses']}; 5xx {fivexx}; acknowledged but missing from the gallery: "
        f"{len(missing)}"
    )

    rng = np.random.default_rng(0)
    requests = []
    for i in range(args.requests):
        if i % 2 == 0:
            a = enrolled[rng.integers(len(enrolled))]
            b = a if rng.random() < 0.5 else strangers[rng.integers(len(strangers))]
            files = {"image_a": photo(a, 1), "image_b": photo(b, 2 if b is a else 1)}
            requests.append(("POST", "/v1/verify", files))
        else:
            who = (enrolled if rng.random() < 0.5 else strangers)[rng.integers(len(enrolled))]
            requests.append(("POST", "/v1/identify", {"image": photo(who, 2)}))

    results = {}
    batching = ["--batch-wait", args.batch_wait]
    for mode, options in (("batching on", batching), ("batching off", ["--batch-wait", "0"])):
        if mode != "batching on":
            server.stop()
            server = spawn_server(common + options, tmp / "off.log")
        asyncio.run(drive(server.url, key["read"], requests[:64], args.clients))  # warm-up
        before = server.rss_mib()
        results[mode] = asyncio.run(drive(server.url, key["read"], requests, args.clients))
        results[mode]["batch"] = mean_batch(server.url, key["admin"])
        results[mode]["rss"] = (before, server.rss_mib())
    print(f"\nmixed load: {args.requests} requests (verify/identify 50/50), {args.clients} clients")
    print(
        f"{'mode':<13} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
        f"{'images/batch':>13} {'RSS MiB':>12}  statuses, errors"
    )
    for mode, r in results.items():
        rss = f"{r['rss'][0]:.0f}->{r['rss'][1]:.0f}"
        print(
            f"{mode:<13} {r['throughput']:7.2f} {r['p50']:8.0f} {r['p95']:8.0f} {r['p99']:8.0f} "
            f"{r['batch']:13.1f} {rss:>12}  {r['statuses']} {r['errors'] or 'none'}"
        )
    ratio = results["batching on"]["throughput"] / results["batching off"]["throughput"]
    print(f"batching on / off: {ratio:.2f}x throughput")

    server.stop()
    server = spawn_server(common, tmp / "hostile.log")
    hostile = asyncio.run(hostile_rounds(server, key, 50))
    pair = {"image_a": photo(enrolled[0], 1), "image_b": photo(enrolled[0], 2)}
    after = httpx.post(
        f"{server.url}/v1/verify", files=pair, headers={"Authorization": f"Bearer {key['read']}"}
    )
    print(f"\nhostile: {hostile['requests']} requests, by kind: status -> count")
    for kind, counts in hostile["statuses"].items():
        print(f"  {kind:<26} {counts}")
    print(
        f"server RSS {hostile['rss'][0]:.0f} -> {hostile['rss'][1]:.0f} MiB; then a verify: "
        f"{after.status_code}, same={after.json().get('same')}"
    )
    server.stop()


if __name__ == "__main__":
    main()
