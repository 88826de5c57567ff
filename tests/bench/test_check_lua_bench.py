"""`make bench`: what check.lua costs inside Redis per call and per number, and what its
`INFO server` (the run_id check that refuses a mirror restored from a snapshot) adds, next to
the same script without it, on a private redis-server; and what two named lists and 50
prefix rules add to a call of 1,000 numbers, next to the org-wide list alone."""

from typing import Any, cast
from uuid import uuid4

import redis

from infra.redis.layout import (
    bucket_count_for,
    check_keys,
    list_bucket_key,
    locate,
    script_keys,
)
from infra.redis.mirror import LUA
from tests.support.bench import Row
from tests.support.servers import PrivateRedis

CALLS = 2000
NAMED_SIZE = 10_000
RUN_ID_LINE = "local run_id = string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')"


def test_check_lua_cost(private_redis: PrivateRedis, report: list[Row]) -> None:
    client = redis.Redis(port=private_redis.port)
    source = (LUA / "check.lua").read_text()
    assert RUN_ID_LINE in source
    without_info = source.replace(RUN_ID_LINE, "local run_id = meta[5]")
    org, listed = uuid4(), 1_000_000
    buckets = bucket_count_for(listed)
    keys = script_keys("bench", org)
    meta = keys[0]
    run_id = cast(dict[str, Any], client.info("server"))["run_id"]
    client.hset(meta, mapping={"ready3": "1", "enabled": "1", "gen": "g", "buckets": buckets,
                               "run_id": run_id, "prefixes": ""})  # fmt: skip
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
        client.hset(check_keys("bench", org, [list_id])[2], mapping={
            "ready3": "1", "gen": "g", "buckets": named_buckets, "run_id": run_id})  # fmt: skip

    rows = []
    for batch in (1, 1000):
        args = ["@", ",".join(str(n) for n in numbers[:batch])]
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
    args = ["@", ",".join(str(n) for n in numbers)]
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
    client.close()
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
