"""`make bench`: what check.lua costs inside Redis per call and per number, and what its
`INFO server` (the run_id check that refuses a mirror restored from a snapshot) adds, next to
the same script without it (an HGET of the run_id instead), on a private redis-server; what
two named lists and 50 prefix rules add to a call of 1,000 numbers, next to the org-wide list
alone; and what a subscription adds: the organization's call then looks its exemptions up, and
a second call asks the shared list (sent together in one pipeline, as ``ScriptCheck`` does)."""

import time
from typing import Any, cast
from uuid import UUID, uuid4

import redis

from infra.redis.layout import (
    bucket_count_for,
    check_keys,
    exemptions_key,
    list_bucket_key,
    list_meta_key,
    locate,
    shared_check_keys,
    shared_owner,
)
from infra.redis.mirror import LUA
from tests.support.bench import Row
from tests.support.servers import PrivateRedis

CALLS = 2000
NAMED_SIZE = 10_000
RUN_ID_LINE = "local run_id = string.match(call('INFO', 'server'), 'run_id:(%w+)')"
SHARED_SIZE = 1_000_000


def subscribed_cost(client: redis.Redis, org: UUID, numbers: list[int], run_id: str) -> float:
    """Microseconds inside Redis of a check of ``numbers`` for an organization that subscribes
    to a registry of 1,000,000 numbers holding a quarter of them, fresh for a day, a tenth of
    them exempted: its call (the exemptions looked up) and the registry's, in one pipeline as
    ``ScriptCheck`` sends them."""
    registry, buckets = "sl_bench", bucket_count_for(SHARED_SIZE)
    for number in numbers[::4]:
        bucket, member = locate(number, buckets)
        client.sadd(list_bucket_key("bench", shared_owner(registry), "default", "g", bucket),
                    member)  # fmt: skip
    shared_keys = shared_check_keys("bench", [registry])
    client.hset(shared_keys[0], mapping={"ready3": "1", "gen": "g", "buckets": buckets,
                "run_id": run_id, "fresh_until": int(time.time()) + 86_400})  # fmt: skip
    client.hset(exemptions_key("bench", org), mapping={str(n): "0" for n in numbers[::10]})
    keys = check_keys("bench", org)
    client.hset(keys[0], mapping={"prefixes": "", "shared": registry})
    script = client.register_script((LUA / "check.lua").read_text())
    joined = ",".join(str(n) for n in numbers)
    own, theirs = (
        script(keys=keys, args=["o", joined]),
        script(keys=shared_keys, args=["s", joined]),
    )
    assert own[2] == registry.encode(), own[:3]
    assert own[3].count(b"5") == len(numbers[::10]), own[3][:40]  # listed, exempted: looked up
    assert theirs[:2] == [1, 0], theirs[:2]
    assert theirs[2].count(b"1") == len(numbers[::4]), theirs[2][:40]
    client.config_resetstat()
    for _ in range(CALLS // 10):
        pipe = client.pipeline(transaction=False)
        pipe.evalsha(script.sha, len(keys), *keys, "o", joined)
        pipe.evalsha(script.sha, len(shared_keys), *shared_keys, "s", joined)
        pipe.execute()
    stats = cast(dict[str, dict[str, float]], client.info("commandstats"))
    return 2 * stats["cmdstat_evalsha"]["usec_per_call"]


def test_check_lua_cost(private_redis: PrivateRedis, report: list[Row]) -> None:
    client = redis.Redis(port=private_redis.port)
    source = (LUA / "check.lua").read_text()
    assert RUN_ID_LINE in source
    without_info = source.replace(RUN_ID_LINE, "local run_id = call('HGET', KEYS[1], 'run_id')")
    org, listed = uuid4(), 1_000_000
    buckets = bucket_count_for(listed)
    keys = check_keys("bench", org)
    meta = keys[0]
    run_id = cast(dict[str, Any], client.info("server"))["run_id"]
    client.hset(meta, mapping={"ready3": "1", "enabled": "1", "gen": "g", "buckets": buckets,
                               "run_id": run_id, "prefixes": "", "shared": ""})  # fmt: skip
    numbers = [12_000_000_000 + n * 7_919 for n in range(1000)]
    for number in numbers[::2]:  # half of them listed
        bucket, member = locate(number, buckets)
        client.sadd(list_bucket_key("bench", org, "default", "g", bucket), member)
    # two campaign lists of 10,000 numbers each, half of the numbers asked among them
    named, named_buckets = ["campaign1", "campaign2"], bucket_count_for(NAMED_SIZE)
    campaign = numbers[1::2] + [13_000_000_000 + n for n in range(NAMED_SIZE - 500)]
    for list_id in named:
        for number in campaign:
            bucket, member = locate(number, named_buckets)
            client.sadd(list_bucket_key("bench", org, list_id, "g", bucket), member)
        client.hset(list_meta_key("bench", org, list_id), mapping={
            "ready3": "1", "gen": "g", "buckets": named_buckets, "run_id": run_id})  # fmt: skip

    rows = []
    for batch in (1, 1000):
        args = ["o", ",".join(str(n) for n in numbers[:batch])]
        timings = {}
        for name, text in (("check.lua", source), ("without INFO", without_info)):
            script = client.register_script(text)
            script(keys=keys, args=args)
            client.config_resetstat()
            for _ in range(CALLS if batch == 1 else CALLS // 10):
                script(keys=keys, args=args)
            stats = cast(dict[str, dict[str, float]], client.info("commandstats"))
            timings[name] = stats["cmdstat_evalsha"]["usec_per_call"]
        rows.append((batch, timings["check.lua"], timings["without INFO"]))
    rules = ",".join(str(19_000 + 13 * i) for i in range(50))  # 50 rules none of them match
    args = ["o", ",".join(str(n) for n in numbers)]
    script = client.register_script(source)
    timings = {}
    for name, keys_asked, prefixes in (
        ("alone", keys, ""),
        ("lists", check_keys("bench", org, named), rules),
    ):
        client.hset(meta, "prefixes", prefixes)
        script(keys=keys_asked, args=args)
        client.config_resetstat()
        for _ in range(CALLS // 10):
            script(keys=keys_asked, args=args)
        stats = cast(dict[str, dict[str, float]], client.info("commandstats"))
        timings[name] = stats["cmdstat_evalsha"]["usec_per_call"]
    timings["subscribed"] = subscribed_cost(client, org, numbers, run_id)
    client.close()
    report.append(
        Row("check.lua, 1,000 numbers: org-wide list, a subscription to a registry of "
            "1,000,000, 100 exemptions (two calls)", f"{timings['subscribed']:,.1f} us a check",
            "the org-wide list alone", f"{timings['alone']:,.1f} us a call",
            timings["alone"] / timings["subscribed"])
    )  # fmt: skip
    report.append(
        Row("check.lua, 1,000 numbers: org-wide list, 2 named lists of 10,000, 50 prefix rules",
            f"{timings['lists']:,.1f} us a call", "the org-wide list alone",
            f"{timings['alone']:,.1f} us a call", timings["alone"] / timings["lists"])
    )  # fmt: skip

    for batch, ours, reference in rows:
        report.append(
            Row(f"check.lua in Redis, {batch:,} number(s) a call", f"{ours:,.1f} us a call",
                "the same without INFO server", f"{reference:,.1f} us a call", ours / reference)
        )  # fmt: skip
