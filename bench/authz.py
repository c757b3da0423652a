"""Authorization benchmark: `python -m bench.authz [--runs R] [--requests N] [--smoke]`.

What is measured
----------------
1. One authorization decision with N = 10, 1,000 and 10,000 rules in the organization
   (roles of 10 rules each: exact paths "/v1/admin/r<i>", a "/v1/admin/r<i>/*" wildcard and
   a deny per role, over GET/PUT/POST/DELETE), plus the built-in rules of
   policies/builtin.csv. The principal is an end user ("user") holding one custom role. Two
   decisions: an allowed one (a GET its custom role grants) and a denied one (GET
   /v1/admin/nodes, which nothing grants it). Per decision, the median over R runs of the mean
   per call of many calls (time.perf_counter_ns):

   * ``uncached``  ``CasbinAuthorizer.decide_uncached``: Casbin's enforce on the per-(org,
     subjects) enforcer (already built), without the decision cache;
   * ``cached``    ``CasbinAuthorizer.allowed``: the steady state, with the decision cache;
   * ``cold``      the first ``allowed`` after ``load()``: builds the per-subject enforcer;
   * ``pycasbin``  the baseline: one plain pycasbin enforcer holding every rule
     (``new_enforcer``), whose enforce scans all of them.

2. The share of a GraphQL ``nodes(first: 100)`` request spent authorizing. The real app runs
   in-process (httpx.ASGITransport) on a fresh, migrated SQLite file; an end user of the org
   "bench" holds 100 nodes (rows written straight into the tables) and one custom role, and
   the org has N rules in casbin_rule. The same request goes alternately to that app and to a
   second app on the same database whose Authorizer is a pass-through (allows everything);
   medians of the request times give the measured difference. The real Authorizer's
   ``authorize`` is wrapped to count decisions per request; decisions x uncached decision
   latency / request time is the worst case (decision cache cold, enforcer warm).

Limits: the apps run with request rate limiting off (Settings(rate_limits=False)): with the
default 600 requests per user per minute the share measurement answered 429 after 600
requests. The output says so.

Why ratios
----------
Absolute times depend on the machine. The denied decision at 10,000 rules / at 10 rules shows
how a decision grows with the organization's rules (1 = constant, 1,000 = linear): the target
is <= 3x for the Authorizer; the plain pycasbin baseline shows what indexing by (org,
subject) avoids. The share of the request time shows whether authorization matters to the
API at all: the target is < 5% at 1,000 rules.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import LIMITS_OFF, add_smoke_flag, print_summary, rounded, say_limits

RULE_COUNTS = (10, 1_000, 10_000)
SMOKE_RULE_COUNTS = (10, 100)
RULES_PER_ROLE = 10
ROLE = "role0000"  # the custom role the benchmark user holds
ACTIONS = ("GET", "PUT", "POST", "DELETE")
PASSWORD = "Secret-pass1"
NODES = 100
QUERY = "{ nodes(first: 100) { edges { node { id } } } }"
RATIO_TARGET = 3.0
SHARE_TARGET = 0.05
SHARE_AT = 1_000
BUDGET_NS = 15_000_000  # per measured run of one decision
_budget_ns = BUDGET_NS  # smoke runs use less
DECISIONS = ("allowed", "denied")
KINDS = ("uncached", "cached", "cold", "pycasbin")


# ------------------------------------------------------------------------------------ rules


def build_rules(org_id: str, count: int) -> list[Any]:
    """`count` rules of `org_id` over roles of RULES_PER_ROLE rules (two policies each):
    exact admin paths, one wildcard and one deny per role, actions cycling over ACTIONS."""
    from domain.access.rbac.model import ALLOW, DENY, Rule

    rules = []
    for i in range(count):
        role, j = divmod(i, RULES_PER_ROLE)
        resource = f"/v1/admin/r{i}/*" if j == RULES_PER_ROLE - 1 else f"/v1/admin/r{i}"
        rules.append(Rule(subject=f"role{role:04d}", domain=org_id, resource=resource,
                          action=ACTIONS[j % len(ACTIONS)],
                          effect=DENY if j == RULES_PER_ROLE - 2 else ALLOW,
                          policy=f"policy{role:04d}-{j * 2 // RULES_PER_ROLE}"))
    return rules


def permissions() -> dict[str, Any]:
    from domain.access.model import Permission

    return {"allowed": Permission("/v1/admin/r0", "GET"),  # role0000's first rule
            "denied": Permission("/v1/admin/nodes", "GET")}  # nothing grants it to "user"


def builtin_rows() -> list[list[str]]:
    from adapters.sql.policy_store import read_rule_file
    from fleetgate.container import POLICY_DIR

    return read_rule_file(POLICY_DIR / "builtin.csv")


# ------------------------------------------------------------------------------ measuring


def per_call_ns(call: Callable[[], object], runs: int) -> float:
    """Median over `runs` of the mean time of one call, each run ~BUDGET_NS long."""
    gc.collect()
    started = time.perf_counter_ns()
    call()
    once = max(time.perf_counter_ns() - started, 1)
    iterations = max(5, min(200_000, _budget_ns // once))
    means = []
    for _ in range(runs):
        started = time.perf_counter_ns()
        for _ in range(iterations):
            call()
        means.append((time.perf_counter_ns() - started) / iterations)
    return statistics.median(means)


def measure_decisions(count: int, runs: int) -> dict[str, dict[str, float]]:
    """{decision: {kind: ns per decision}} at `count` org rules."""
    from adapters.authz.casbin_authorizer import CasbinAuthorizer, new_enforcer
    from domain.access.model import Principal, PrincipalKind
    from domain.accounts.model import END_USER
    from fleetgate.container import POLICY_DIR

    org_id = str(uuid.uuid4())
    rows = builtin_rows() + [r.row() for r in build_rules(org_id, count)]
    authorizer = CasbinAuthorizer(POLICY_DIR / "model.conf", store=None)  # type: ignore[arg-type]
    authorizer.load(rows, filters={})
    principal = Principal(kind=PrincipalKind.USER, org_id=org_id, user_id="u1",
                          roles=frozenset({END_USER, ROLE}))
    subjects = authorizer._subjects(principal)
    out: dict[str, dict[str, float]] = {}
    for decision, permission in permissions().items():
        expected = decision == "allowed"
        assert authorizer.decide_uncached(subjects, org_id, permission) is expected, decision
        colds = []
        for _ in range(max(runs * 4, 10)):
            authorizer.load(rows, filters={})
            started = time.perf_counter_ns()
            authorizer.allowed(principal, permission)
            colds.append(time.perf_counter_ns() - started)
        out[decision] = {
            "uncached": per_call_ns(
                lambda p=permission: authorizer.decide_uncached(subjects, org_id, p), runs),
            "cached": per_call_ns(lambda p=permission: authorizer.allowed(principal, p), runs),
            "cold": statistics.median(colds),
        }
    # the baseline afterwards, so its 10k rules do not weigh on the Authorizer's measures
    plain = new_enforcer(POLICY_DIR / "model.conf", rows)
    joined = ",".join(subjects)
    for decision, permission in permissions().items():
        expected = decision == "allowed"
        assert plain.enforce(joined, org_id, permission.resource, permission.action) is expected
        out[decision]["pycasbin"] = per_call_ns(lambda p=permission: plain.enforce(
            joined, org_id, p.resource, p.action), runs)
    return out


# ------------------------------------------------------------------ the request share (app)


class PassThrough:
    """An Authorizer allowing everything: the app without authorization."""

    async def authorize(self, principal: Any, permission: Any) -> None:
        return None

    def allowed(self, principal: Any, permission: Any) -> bool:
        return True

    def explain(self, principal: Any, permission: Any) -> tuple[list[Any], list[Any], bool]:
        return [], [], True

    def node_reach(self, principal: Any, permission: Any) -> None:
        return None

    async def reload(self) -> None:
        return None


class Counting:
    """Wraps the real Authorizer's authorize (and node_reach) on the instance, recording
    the decisions one request makes."""

    def __init__(self, authorizer: Any) -> None:
        self.authorizer = authorizer
        self.decisions: list[tuple[Any, Any]] = []
        self.reaches = 0
        self._authorize, self._node_reach = authorizer.authorize, authorizer.node_reach

    async def _counting_authorize(self, principal: Any, permission: Any) -> None:
        self.decisions.append((principal, permission))
        await self._authorize(principal, permission)

    def _counting_reach(self, principal: Any, permission: Any) -> Any:
        self.reaches += 1
        return self._node_reach(principal, permission)

    @contextlib.contextmanager
    def active(self) -> Any:
        self.decisions, self.reaches = [], 0
        self.authorizer.authorize = self._counting_authorize
        self.authorizer.node_reach = self._counting_reach
        try:
            yield self
        finally:
            del self.authorizer.authorize, self.authorizer.node_reach


@dataclass(frozen=True)
class Share:
    rules: int
    real_ms: float
    bare_ms: float
    decisions: int
    reaches: int
    uncached_us: float  # summed over the request's decisions
    noise: float  # the real app's median, first half of the requests vs second half

    @property
    def measured(self) -> float:
        return (self.real_ms - self.bare_ms) / self.real_ms

    @property
    def worst(self) -> float:
        return self.uncached_us / 1000 / self.real_ms


@dataclass
class Apps:
    real: Any  # httpx.AsyncClient
    bare: Any
    container: Any
    org_id: str
    user_id: str


@contextlib.asynccontextmanager
async def running_apps(database_url: str) -> AsyncIterator[Apps]:
    import httpx
    from dependency_injector import providers

    from fleetgate.app import create_app
    from fleetgate.bootstrap import migrate
    from fleetgate.container import Container
    from fleetgate.settings import Settings

    settings = Settings(database_url=database_url, secret=secrets.token_urlsafe(48),
                        log_level="WARNING", rate_limits=False)
    real = Container(settings=settings)
    await migrate(real)
    bare = Container(settings=settings)
    bare.authorizer.override(providers.Object(PassThrough()))
    real_app = create_app(settings, container=real)
    bare_app = create_app(settings, container=bare)
    try:
        async with real_app.router.lifespan_context(real_app), \
                bare_app.router.lifespan_context(bare_app):
            registration = real.registration()
            admin = await registration.provision_user(
                user_name="admin@bench.example.com", password=PASSWORD, org_name="bench")
            user = await registration.provision_user(
                user_name="user@bench.example.com", password=PASSWORD, org_name="bench")
            assert user.org_id == admin.org_id
            await give_nodes(real, user.org_id, user.id)
            clients = [httpx.AsyncClient(transport=httpx.ASGITransport(
                app=app, client=("203.0.113.7", 5000)), base_url="http://testserver")
                for app in (real_app, bare_app)]
            async with clients[0] as real_client, clients[1] as bare_client:
                yield Apps(real=real_client, bare=bare_client, container=real,
                           org_id=user.org_id, user_id=user.id)
    finally:
        await real.engine().dispose()
        await bare.engine().dispose()


async def give_nodes(container: Any, org_id: str, user_id: str) -> None:
    """NODES nodes held by the user (primary), and the custom role ROLE."""
    from sqlalchemy import insert

    from adapters.sql.tables.accounts import user_roles
    from adapters.sql.tables.devices import nodes
    from adapters.sql.tables.sharing import node_memberships
    from domain.devices.model import PRIMARY

    now = datetime.now(UTC)
    run = uuid.uuid4().hex[:8]
    node_ids = [f"bauthz{run}{i:04d}" for i in range(NODES)]
    async with container.uow()(org_id) as uow:
        conn = await uow.connection()
        await conn.execute(insert(nodes), [{
            "id": node_id, "org_id": org_id, "name": f"Lamp {i}", "type": "Lightbulb",
            "model": "bench", "fw_version": "1.0", "config_version": "",
            "config": {"node_id": node_id, "info": {"type": "Lightbulb"}},
            "reported": {"Light": {"power": i % 2 == 0}}, "desired": {},
            "params_version": 1, "connected": True, "connection_ts": 1_700_000_000_000,
            "tags": [f"room:{i % 7}"], "metadata": None, "active": True, "created_at": now}
            for i, node_id in enumerate(node_ids)])
        await conn.execute(insert(node_memberships), [{
            "node_id": node_id, "user_id": user_id, "org_id": org_id, "role": PRIMARY,
            "source": "NODE", "created_at": now} for node_id in node_ids])
        await conn.execute(insert(user_roles), [{"org_id": org_id, "user_id": user_id,
                                                 "role": ROLE}])
        await uow.commit()


async def set_rules(apps: Apps, count: int) -> None:
    async with apps.container.uow()(apps.org_id) as uow:
        await uow.access.replace_rules(build_rules(apps.org_id, count))
        await uow.commit()
    await apps.container.authorizer().reload()


async def timed_post(client: Any, headers: dict[str, str]) -> int:
    started = time.perf_counter_ns()
    response = await client.post("/graphql", json={"query": QUERY}, headers=headers)
    elapsed = time.perf_counter_ns() - started
    assert response.status_code == 200, response.text[:300]
    return elapsed


async def measure_share(apps: Apps, count: int, requests: int, warmup: int,
                        runs: int) -> Share:
    await set_rules(apps, count)
    authorizer = apps.container.authorizer()
    assert authorizer.rule_count >= count, authorizer.rule_count
    login = await apps.real.post("/v1/login2", json={"user_name": "user@bench.example.com",
                                                      "password": PASSWORD})
    assert login.status_code == 200, login.text[:300]
    headers = {"Authorization": f"Bearer {login.json()['accesstoken']}"}
    for client in (apps.real, apps.bare):
        response = await client.post("/graphql", json={"query": QUERY}, headers=headers)
        body = response.json()
        assert response.status_code == 200 and "errors" not in body, response.text[:300]
        assert len(body["data"]["nodes"]["edges"]) == NODES, body
    counting = Counting(authorizer)
    with counting.active():
        await timed_post(apps.real, headers)
    for _ in range(warmup):
        await timed_post(apps.real, headers)
        await timed_post(apps.bare, headers)
    real, bare = [], []
    for i in range(requests):  # alternate, so drift hits both alike
        order = ((apps.real, real), (apps.bare, bare))
        for client, times in order if i % 2 == 0 else order[::-1]:
            times.append(await timed_post(client, headers))
    half = len(real) // 2
    uncached_ns = sum(per_call_ns(
        lambda p=principal, q=permission: authorizer.decide_uncached(
            authorizer._subjects(p), p.org_id, q), runs)
        for principal, permission in counting.decisions)
    return Share(rules=count, real_ms=statistics.median(real) / 1e6,
                 bare_ms=statistics.median(bare) / 1e6, decisions=len(counting.decisions),
                 reaches=counting.reaches, uncached_us=uncached_ns / 1000,
                 noise=abs(statistics.median(real[:half]) - statistics.median(real[half:]))
                 / statistics.median(real))


# -------------------------------------------------------------------------------------- output


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def decision_table(results: dict[int, dict[str, dict[str, float]]]) -> str:
    head = (f"{'org rules':>9} {'decision':<8} {'uncached us':>11} {'cached us':>9} "
            f"{'cold us':>9} {'pycasbin us':>11}")
    lines = [head, "-" * len(head)]
    counts = sorted(results)
    for count in counts:
        for decision in DECISIONS:
            m = results[count][decision]
            lines.append(f"{count:>9,} {decision:<8} {m['uncached'] / 1e3:>11.1f} "
                         f"{m['cached'] / 1e3:>9.2f} {m['cold'] / 1e3:>9.1f} "
                         f"{m['pycasbin'] / 1e3:>11.1f}")
    small, large = results[counts[0]]["denied"], results[counts[-1]]["denied"]
    lines.append("")
    lines.append(f"denied decision, {counts[-1]:,} / {counts[0]:,} org rules "
                 f"(target <= {RATIO_TARGET:.0f}x for the Authorizer):")
    ours = large["uncached"] / small["uncached"]
    lines.append(f"  Authorizer uncached  {ours:>7.2f}x  {verdict(ours <= RATIO_TARGET)}")
    lines.append(f"  Authorizer cached    {large['cached'] / small['cached']:>7.2f}x")
    lines.append(f"  Authorizer cold      {large['cold'] / small['cold']:>7.2f}x")
    lines.append(f"  plain pycasbin       {large['pycasbin'] / small['pycasbin']:>7.2f}x")
    return "\n".join(lines)


def share_table(shares: list[Share]) -> str:
    head = (f"{'org rules':>9} {'real ms':>8} {'no-authz ms':>11} {'measured':>9} {'noise':>6} "
            f"{'decisions':>9} {'uncached us':>11} {'worst case':>10}")
    lines = [head, "-" * len(head)]
    for s in shares:
        mark = f"  (target < {SHARE_TARGET:.0%}) {verdict(s.worst < SHARE_TARGET)}" \
            if s.rules == SHARE_AT else ""
        lines.append(f"{s.rules:>9,} {s.real_ms:>8.3f} {s.bare_ms:>11.3f} {s.measured:>9.2%} "
                     f"{s.noise:>6.1%} {s.decisions:>9} {s.uncached_us:>11.1f} "
                     f"{s.worst:>10.3%}{mark}")
    if any(s.reaches for s in shares):
        lines.append(f"node_reach calls per request: {sorted({s.reaches for s in shares})}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------- main


async def run_shares(args: argparse.Namespace) -> list[Share]:
    shares = []
    with tempfile.TemporaryDirectory(prefix="fleetgate-bench-authz-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'authz.db'}"
        async with running_apps(url) as apps:
            for count in args.rule_counts:
                print(f"  request share: {count:,} org rules", file=sys.stderr)
                shares.append(await measure_share(apps, count, args.requests, args.warmup,
                                                  args.runs))
    return shares


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.authz", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=None,
                        help="measured runs per decision (median of their per-call means; 7)")
    parser.add_argument("--requests", type=int, default=None,
                        help="measured GraphQL requests per app and rule count (200)")
    parser.add_argument("--warmup", type=int, default=None,
                        help="unmeasured GraphQL requests per app and rule count (30)")
    add_smoke_flag(parser)
    args = parser.parse_args(argv)
    small = args.smoke
    args.runs = args.runs or (1 if small else 7)
    args.requests = args.requests or (4 if small else 200)
    args.warmup = args.warmup if args.warmup is not None else (1 if small else 30)
    args.rule_counts = SMOKE_RULE_COUNTS if small else RULE_COUNTS
    return args


def summary(args: argparse.Namespace, decisions: dict[int, dict[str, dict[str, float]]],
            shares: list[Share]) -> dict[str, Any]:
    counts = sorted(decisions)
    small, large = decisions[counts[0]]["denied"], decisions[counts[-1]]["denied"]
    growth = large["uncached"] / small["uncached"]
    at = next((s for s in shares if s.rules == SHARE_AT), None)
    return {
        "limits": LIMITS_OFF, "smoke": args.smoke, "runs": args.runs,
        "requests": args.requests,
        "decisions_us": {str(count): {decision: {kind: round(ns / 1000, 3)
                                                 for kind, ns in by_kind.items()}
                                      for decision, by_kind in by_decision.items()}
                         for count, by_decision in decisions.items()},
        "denied_growth": {"rules": [counts[0], counts[-1]],
                          "authorizer_uncached": round(growth, 3),
                          "pycasbin": round(large["pycasbin"] / small["pycasbin"], 3),
                          "target": None if args.smoke else RATIO_TARGET,
                          "pass": None if args.smoke else growth <= RATIO_TARGET},
        "graphql_share": {str(s.rules): {"real_ms": round(s.real_ms, 3),
                                         "no_authz_ms": round(s.bare_ms, 3),
                                         "measured": round(s.measured, 4),
                                         "noise": round(s.noise, 4), "decisions": s.decisions,
                                         "worst_case": round(s.worst, 4)} for s in shares},
        "share_target": None if args.smoke or at is None else {
            "rules": SHARE_AT, "target": SHARE_TARGET, "pass": at.worst < SHARE_TARGET},
        "worst_share": rounded(max((s.worst for s in shares), default=None), 4),
    }


def run(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Measures, prints the tables, and returns the numbers."""
    global _budget_ns
    args = parse_args(argv)
    _budget_ns = BUDGET_NS // 30 if args.smoke else BUDGET_NS
    say_limits(LIMITS_OFF)
    decisions: dict[int, dict[str, dict[str, float]]] = {}
    for count in args.rule_counts:
        print(f"  decisions: {count:,} org rules", file=sys.stderr)
        decisions[count] = measure_decisions(count, args.runs)
    shares = asyncio.run(run_shares(args))
    builtin = len(builtin_rows())
    if args.smoke:
        print("SMOKE run: tiny counts, no targets")
    print(f"server limits: {LIMITS_OFF}")
    print(f"1. one authorization decision (+ {builtin} built-in rules; principal: roles "
          f"user + {ROLE}; allowed = GET /v1/admin/r0, denied = GET /v1/admin/nodes);")
    print(f"   median of {args.runs} runs of the mean per call; cold = first decision after "
          f"load(), median of {max(args.runs * 4, 10)}; us = microseconds")
    print(decision_table(decisions))
    print()
    print(f"2. GraphQL nodes(first: {NODES}) as an end user with {NODES} nodes; median of "
          f"{args.requests} requests per app after {args.warmup} warm-up, in-process ASGI;")
    print("   measured = (real - no-authz) / real; noise = the real app's median, first half of "
          "the requests vs second half")
    print("   (a measured share within the noise is indistinguishable from 0); worst case = "
          "decisions x uncached decision latency / real request time")
    print(share_table(shares))
    return summary(args, decisions, shares)


def main(argv: Sequence[str] | None = None) -> int:
    print_summary(run(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
