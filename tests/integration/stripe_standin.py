"""A local stand-in for the Stripe API endpoints StripeBilling uses, for tests without network.

`async with StripeStandIn() as stripe_api:` serves a small in-memory Stripe on a free
loopback port (uvicorn in the test's event loop); point a StripeClient at
`stripe_api.base_url`. It parses Stripe's form encoding (`items[0][price]`, `expand[]`),
answers Stripe-shaped JSON and errors (404 resource_missing), replays requests like Stripe's
idempotency layer (same key + same parameters: the first response; same key + other
parameters: 400 idempotency_error), records every request, and can fail or delay the next
one. `sign_stripe_payload` and `stripe_event` build signed webhook fixtures.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import re
import socket
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

MONTH = 30 * 86400
YEAR = 365 * 86400


def sign_stripe_payload(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A Stripe-Signature header for payload, exactly as Stripe signs: HMAC-SHA256 with the
    endpoint secret over "<t>.<raw body>"."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def stripe_event(event_id: str, type: str, obj: dict[str, Any], created: int) -> bytes:
    """A Stripe event payload (snapshot event) carrying obj as data.object."""
    return json.dumps({
        "id": event_id, "object": "event", "api_version": "2025-03-31.basil",
        "created": created, "type": type, "livemode": False, "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "data": {"object": obj}}).encode()


def parse_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's bracket form encoding as nested dicts and lists: `a[b][0][c]=v`,
    `a[]=v`, `a[0]=v`."""
    root: dict[str, Any] = {}
    for raw_key, value in pairs:
        match = re.fullmatch(r"([^\[\]]+)((?:\[[^\[\]]*\])*)", raw_key)
        if match is None:
            root[raw_key] = value
            continue
        parts = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node: dict[str, Any] = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":  # a[] appends
                part = str(sum(1 for k in node if k.isdigit()))
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    nested: dict[str, Any] = _listify(root)
    return nested


def _listify(value: Any) -> Any:
    if isinstance(value, dict):
        value = {k: _listify(v) for k, v in value.items()}
        if value and all(k.isdigit() for k in value):
            return [value[k] for k in sorted(value, key=int)]
    return value


def _truthy(value: Any) -> bool:
    return str(value).lower() in ("true", "1")


@dataclass
class Recorded:
    method: str
    path: str
    params: dict[str, Any]
    headers: dict[str, str]

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("idempotency-key")


class StripeError(Exception):
    def __init__(self, status: int, type: str, message: str, code: str | None = None,
                 param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.type, self.message, self.code, self.param = (
            status, type, message, code, param)

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            body["code"] = self.code
        if self.param:
            body["param"] = self.param
        return JSONResponse({"error": body}, status_code=self.status)


def _missing(kind: str, object_id: str, param: str = "id") -> StripeError:
    return StripeError(404, "invalid_request_error", f"No such {kind}: '{object_id}'",
                       code="resource_missing", param=param)


@dataclass
class _Failure:
    status: int
    error_type: str
    code: str | None
    message: str


@dataclass
class StripeStandIn:
    """The in-memory Stripe. `period_on_items` (the default, API versions from 2025-03-31 on)
    puts current_period_* on subscription items only; False puts them on the subscription."""

    period_on_items: bool = True
    now: int = 1_767_225_600  # 2026-01-01T00:00:00Z, the `created` of new objects
    requests: list[Recorded] = field(default_factory=list)
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    prices: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    payment_methods: dict[str, dict[str, Any]] = field(default_factory=dict)
    setup_intents: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        self._idempotent: dict[str, tuple[str, int, Any]] = {}
        self._failures: list[_Failure] = []
        self._delays: list[float] = []
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.port = 0
        self.app = Starlette(routes=[Route("/{path:path}", self._endpoint,
                                           methods=["GET", "POST", "DELETE"])])

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> StripeStandIn:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(self.app, log_level="error", log_config=None,
                                lifespan="off", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        deadline = time.monotonic() + 5
        while not self._server.started:
            if self._task.done() or time.monotonic() > deadline:
                raise RuntimeError("the Stripe stand-in did not start")
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        assert self._server is not None and self._task is not None
        self._server.should_exit = True
        await asyncio.wait_for(self._task, 5)

    # ------------------------------------------------------------------- controls

    def fail_next(self, status: int, error_type: str, code: str | None = None,
                  message: str = "Something went wrong") -> None:
        """The next request is answered with this Stripe error (and has no effect)."""
        self._failures.append(_Failure(status, error_type, code, message))

    def delay_next(self, seconds: float) -> None:
        """The next request is carried out, then answered `seconds` late."""
        self._delays.append(seconds)

    def add_invoice(self, customer_id: str, *, amount_cents: int = 1900,
                    status: str = "paid", currency: str = "usd",
                    subscription_id: str | None = None,
                    lines: list[tuple[str, int, int]] | None = None) -> str:
        """An invoice for the customer; lines are (description, amount, quantity)."""
        inv_id = self._id("in")
        created = self.now + next(self._ids)  # newest first in lists
        line_items = lines if lines is not None else [("Fleetgate Pro", amount_cents, 1)]
        self.invoices[inv_id] = {
            "id": inv_id, "object": "invoice", "customer": customer_id,
            "number": f"FG-{len(self.invoices) + 1:04d}", "status": status,
            "currency": currency, "amount_due": amount_cents,
            "amount_paid": amount_cents if status == "paid" else 0, "created": created,
            "period_start": self.now, "period_end": self.now + MONTH,
            "hosted_invoice_url": f"https://invoice.stripe.test/{inv_id}",
            "invoice_pdf": f"https://invoice.stripe.test/{inv_id}.pdf",
            "parent": {"type": "subscription_details", "subscription_details": {
                "subscription": subscription_id}} if subscription_id else None,
            "lines": {"object": "list", "has_more": False, "url": f"/v1/invoices/{inv_id}/lines",
                      "data": [{"id": self._id("il"), "object": "line_item",
                                "description": d, "amount": a, "quantity": q,
                                "currency": currency} for d, a, q in line_items]}}
        return inv_id

    def add_payment_method(self, customer_id: str, *, brand: str = "visa",
                           last4: str = "4242", exp_month: int = 12, exp_year: int = 2030,
                           default: bool = False) -> str:
        """A card attached to the customer (its invoice default when default=True)."""
        pm_id = self._id("pm")
        self.payment_methods[pm_id] = {
            "id": pm_id, "object": "payment_method", "type": "card",
            "customer": customer_id, "created": self.now,
            "card": {"brand": brand, "last4": last4, "exp_month": exp_month,
                     "exp_year": exp_year}}
        if default:
            self.customers[customer_id]["invoice_settings"]["default_payment_method"] = pm_id
        return pm_id

    def set_subscription_status(self, subscription_id: str, status: str) -> None:
        self.subscriptions[subscription_id]["status"] = status

    def count(self, method: str, path: str) -> int:
        """How many recorded requests had this method and path."""
        return sum(1 for r in self.requests if r.method == method and r.path == path)

    # ------------------------------------------------------------------ the server

    def _id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):06d}{hashlib.sha1(prefix.encode()).hexdigest()[:8]}"

    async def _endpoint(self, request: Request) -> Response:
        body = (await request.body()).decode()
        query = parse_qsl(request.url.query, keep_blank_values=True)
        pairs = parse_qsl(body, keep_blank_values=True) if request.method == "POST" else query
        params = parse_form(pairs)
        path = request.url.path
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append(Recorded(request.method, path, params, headers))
        delay = self._delays.pop(0) if self._delays else 0.0
        if self._failures:
            failure = self._failures.pop(0)
            await asyncio.sleep(delay)
            return StripeError(failure.status, failure.error_type, failure.message,
                               code=failure.code).response()
        key = headers.get("idempotency-key") if request.method == "POST" else None
        fingerprint = json.dumps([request.method, path, params], sort_keys=True)
        if key is not None and key in self._idempotent:
            seen, status, payload = self._idempotent[key]
            if seen != fingerprint:
                response = StripeError(
                    400, "idempotency_error", "Keys for idempotent requests can only be used "
                    "with the same parameters they were first used with.").response()
            else:
                response = JSONResponse(payload, status_code=status,
                                        headers={"idempotent-replayed": "true"})
        else:
            try:
                payload = json.loads(json.dumps(self._route(request.method, path, params)))
                response = JSONResponse(payload)
                if key is not None:
                    self._idempotent[key] = (fingerprint, 200, payload)
            except StripeError as exc:
                response = exc.response()
        await asyncio.sleep(delay)
        return response

    def _route(self, method: str, path: str, p: dict[str, Any]) -> Any:
        parts = path.strip("/").split("/")
        if parts[0] != "v1" or len(parts) < 2:
            raise StripeError(404, "invalid_request_error", f"Unrecognized request URL {path}")
        resource, rest = parts[1], parts[2:]
        handler = getattr(self, f"_{method.lower()}_{resource}", None)
        if handler is None:
            raise StripeError(404, "invalid_request_error", f"Unrecognized request URL {path}")
        return handler(rest, p)

    def _get(self, store: dict[str, dict[str, Any]], kind: str, object_id: str,
             param: str = "id") -> dict[str, Any]:
        if object_id not in store:
            raise _missing(kind, object_id, param)
        return store[object_id]

    @staticmethod
    def _page(items: list[dict[str, Any]], p: dict[str, Any], url: str) -> dict[str, Any]:
        limit = int(p.get("limit", 10))
        after = p.get("starting_after")
        if after:
            ids = [item["id"] for item in items]
            items = items[ids.index(after) + 1:] if after in ids else []
        return {"object": "list", "url": url, "has_more": len(items) > limit,
                "data": items[:limit]}

    # customers
    def _post_customers(self, rest: list[str], p: dict[str, Any]) -> Any:
        if rest:
            raise StripeError(404, "invalid_request_error", "Unrecognized request URL")
        cus_id = self._id("cus")
        self.customers[cus_id] = {
            "id": cus_id, "object": "customer", "name": p.get("name"),
            "email": p.get("email"), "metadata": p.get("metadata", {}), "created": self.now,
            "invoice_settings": {"default_payment_method": None}}
        return self.customers[cus_id]

    def _get_customers(self, rest: list[str], p: dict[str, Any]) -> Any:
        return self._get(self.customers, "customer", rest[0] if rest else "")

    # products and prices
    def _post_products(self, rest: list[str], p: dict[str, Any]) -> Any:
        prod_id = p.get("id") or self._id("prod")
        if prod_id in self.products:
            raise StripeError(400, "invalid_request_error", "Product already exists.",
                              code="resource_already_exists", param="id")
        self.products[prod_id] = {"id": prod_id, "object": "product", "name": p.get("name"),
                                  "active": True, "metadata": p.get("metadata", {})}
        return self.products[prod_id]

    def _get_prices(self, rest: list[str], p: dict[str, Any]) -> Any:
        if rest:
            return self._get(self.prices, "price", rest[0])
        keys = p.get("lookup_keys", [])
        found = [price for price in self.prices.values()
                 if price["active"] and (not keys or price["lookup_key"] in keys)]
        return self._page(found, p, "/v1/prices")

    def _post_prices(self, rest: list[str], p: dict[str, Any]) -> Any:
        self._get(self.products, "product", str(p.get("product")), "product")
        key = p.get("lookup_key")
        holders = [price for price in self.prices.values() if key and price["lookup_key"] == key]
        if holders and not _truthy(p.get("transfer_lookup_key")):
            raise StripeError(400, "invalid_request_error",
                              f"A price with lookup key {key} already exists.",
                              param="lookup_key")
        for holder in holders:
            holder["lookup_key"] = None
        price_id = self._id("price")
        self.prices[price_id] = {
            "id": price_id, "object": "price", "active": True, "product": p["product"],
            "unit_amount": int(p["unit_amount"]), "currency": p["currency"],
            "recurring": {"interval": p["recurring"]["interval"], "interval_count": 1},
            "lookup_key": key, "type": "recurring", "metadata": p.get("metadata", {})}
        return self.prices[price_id]

    # subscriptions
    def _period(self, price: dict[str, Any]) -> tuple[int, int]:
        length = YEAR if price["recurring"]["interval"] == "year" else MONTH
        return self.now, self.now + length

    def _item(self, sub_id: str, price: dict[str, Any]) -> dict[str, Any]:
        start, end = self._period(price)
        item: dict[str, Any] = {"id": self._id("si"), "object": "subscription_item",
                                "subscription": sub_id, "price": price, "quantity": 1}
        if self.period_on_items:
            item.update(current_period_start=start, current_period_end=end)
        return item

    def _shape(self, sub: dict[str, Any]) -> dict[str, Any]:
        if not self.period_on_items and sub["items"]["data"]:
            start, end = self._period(sub["items"]["data"][0]["price"])
            sub.update(current_period_start=start, current_period_end=end)
        return sub

    def _post_subscriptions(self, rest: list[str], p: dict[str, Any]) -> Any:
        if rest:
            return self._update_subscription(rest[0], p)
        self._get(self.customers, "customer", str(p.get("customer")), "customer")
        sub_id = self._id("sub")
        items = [self._item(sub_id, self._get(self.prices, "price", str(i.get("price")),
                                              "items"))
                 for i in p.get("items", [])]
        trial = int(p.get("trial_period_days", 0))
        sub = {"id": sub_id, "object": "subscription", "customer": p["customer"],
               "status": "trialing" if trial else "incomplete",
               "cancel_at_period_end": False, "created": self.now,
               "trial_end": self.now + trial * 86400 if trial else None,
               "payment_behavior": p.get("payment_behavior"),
               "metadata": p.get("metadata", {}),
               "items": {"object": "list", "has_more": False, "data": items,
                         "url": f"/v1/subscription_items?subscription={sub_id}"}}
        self.subscriptions[sub_id] = self._shape(sub)
        return sub

    def _update_subscription(self, sub_id: str, p: dict[str, Any]) -> Any:
        sub = self._get(self.subscriptions, "subscription", sub_id)
        for change in p.get("items", []):
            price = self._get(self.prices, "price", str(change.get("price")), "items")
            matching = [i for i in sub["items"]["data"] if i["id"] == change.get("id")]
            if not matching:
                raise _missing("subscription item", str(change.get("id")), "items")
            matching[0]["price"] = price
        if "cancel_at_period_end" in p:
            sub["cancel_at_period_end"] = _truthy(p["cancel_at_period_end"])
        sub["metadata"].update(p.get("metadata", {}))
        return self._shape(sub)

    def _get_subscriptions(self, rest: list[str], p: dict[str, Any]) -> Any:
        return self._get(self.subscriptions, "subscription", rest[0] if rest else "")

    def _delete_subscriptions(self, rest: list[str], p: dict[str, Any]) -> Any:
        sub = self._get(self.subscriptions, "subscription", rest[0] if rest else "")
        sub["status"] = "canceled"
        return sub

    # invoices
    def _get_invoices(self, rest: list[str], p: dict[str, Any]) -> Any:
        if rest:
            return self._get(self.invoices, "invoice", rest[0])
        found = sorted((inv for inv in self.invoices.values()
                        if not p.get("customer") or inv["customer"] == p["customer"]),
                       key=lambda inv: -inv["created"])
        return self._page(found, p, "/v1/invoices")

    # setup intents
    def _post_setup_intents(self, rest: list[str], p: dict[str, Any]) -> Any:
        self._get(self.customers, "customer", str(p.get("customer")), "customer")
        seti_id = self._id("seti")
        self.setup_intents[seti_id] = {
            "id": seti_id, "object": "setup_intent", "customer": p["customer"],
            "usage": p.get("usage", "off_session"), "status": "requires_payment_method",
            "client_secret": f"{seti_id}_secret_{hashlib.sha1(seti_id.encode()).hexdigest()}"}
        return self.setup_intents[seti_id]

    # payment methods
    def _get_payment_methods(self, rest: list[str], p: dict[str, Any]) -> Any:
        if rest:
            return self._get(self.payment_methods, "PaymentMethod", rest[0])
        found = [pm for pm in self.payment_methods.values()
                 if pm["customer"] is not None and pm["customer"] == p.get("customer")
                 and pm["type"] == p.get("type", pm["type"])]
        return self._page(found, p, "/v1/payment_methods")

    def _post_payment_methods(self, rest: list[str], p: dict[str, Any]) -> Any:
        if len(rest) != 2 or rest[1] != "detach":
            raise StripeError(404, "invalid_request_error", "Unrecognized request URL")
        pm = self._get(self.payment_methods, "PaymentMethod", rest[0])
        if pm["customer"] is None:
            raise StripeError(400, "invalid_request_error",
                              "The payment method is not attached to a customer.")
        for customer in self.customers.values():
            if customer["invoice_settings"]["default_payment_method"] == pm["id"]:
                customer["invoice_settings"]["default_payment_method"] = None
        pm["customer"] = None
        return pm
