"""bench/ingest's phases, its verdict on the load generator, and its table and summary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.common import LIMITS_OFF, rounded

TARGET = 0.50
OUTRUN = 1.5  # the generator must be this much faster than ingest for the ratio to count


@dataclass
class Phase:
    consumer: str
    seconds: float | None = None
    published_in: float | None = None
    received: int | None = None
    note: str = ""

    def rate(self, total: int) -> float | None:
        got = total if self.received is None else self.received
        return got / self.seconds if self.seconds else None

    def generator_rate(self, total: int) -> float | None:
        return total / self.published_in if self.published_in else None


@dataclass(frozen=True)
class Verdict:
    """Whether the generator outran ingest, and so whether ingest / generator means much."""

    generator_rate: float | None
    measured_against: str | None
    ingest_rate: float | None

    @property
    def headroom(self) -> float | None:
        if not self.generator_rate or not self.ingest_rate:
            return None
        return self.generator_rate / self.ingest_rate

    @property
    def meaningful(self) -> bool:
        return self.headroom is not None and self.headroom >= OUTRUN

    def line(self) -> str:
        if self.headroom is None:
            return "ingest / generator = - (no rate)"
        ratio = 1 / self.headroom
        if self.meaningful:
            return (f"ingest / generator = {ratio:.2f}: the generator outran ingest "
                    f"({self.headroom:.1f}x its rate, >= {OUTRUN}x): ingest is the limit at "
                    f"this load")
        return (f"ingest / generator = {ratio:.2f}: NOT MEANINGFUL, the generator is only "
                f"{self.headroom:.2f}x ingest's rate (< {OUTRUN}x): it, not ingest, may have "
                f"set the pace; ingest may be faster than measured")


def verdict(phases: list[Phase], total: int) -> Verdict:
    """The generator's rate from the first counting phase that ran (without ingest)."""
    by_name = {p.consumer: p for p in phases}
    counting = next((p for p in (by_name["mosquitto_sub"], by_name["aiomqtt_count"])
                     if p.published_in), None)
    return Verdict(generator_rate=counting.generator_rate(total) if counting else None,
                   measured_against=counting.consumer if counting else None,
                   ingest_rate=by_name["ingest"].rate(total))


def report(phases: list[Phase], total: int, *, broker: str, generator: str, smoke: bool
           ) -> tuple[str, dict[str, Any], bool]:
    by_name = {p.consumer: p for p in phases}
    ingest = by_name["ingest"].rate(total)
    same_lib = by_name["aiomqtt_count"].rate(total)
    c_client = by_name["mosquitto_sub"].rate(total)
    ratio_lib = ingest / same_lib if ingest and same_lib else None
    ratio_c = ingest / c_client if ingest and c_client else None
    judged = verdict(phases, total)
    lines = [f"broker: {broker}; generator: {generator}; {total:,} messages per consumer; "
             f"server limits: {LIMITS_OFF}" + ("; SMOKE run: tiny counts, no targets"
                                               if smoke else ""),
             f"{'consumer':<15} {'msgs/s':>9} {'generator msgs/s':>16} {'publish s':>9}  note"]
    for p in phases:
        rate, gen = p.rate(total), p.generator_rate(total)
        lines.append(f"{p.consumer:<15} {rate or 0:>9,.0f} {gen or 0:>16,.0f} "
                     f"{p.published_in or 0:>9.2f}  {p.note}")
    lines.append(f"generator rate (against {judged.measured_against or '-'}, without ingest): "
                 f"{judged.generator_rate or 0:,.0f} msgs/s; ingest: {ingest or 0:,.0f} msgs/s")
    lines.append(judged.line())
    delivered = max((r for r in (c_client, same_lib) if r), default=None)
    if delivered and judged.generator_rate and delivered < judged.generator_rate / OUTRUN:
        lines.append(f"note: the broker delivered to the fastest counting subscriber at only "
                     f"{delivered:,.0f} msgs/s ({delivered / judged.generator_rate:.2f} of what "
                     f"it acknowledged): the broker's delivery is a limit too; ingest / that "
                     f"= {(ingest or 0) / delivered:.2f}")
    passed = ratio_lib is not None and ratio_lib >= TARGET
    lines.append(f"ingest / aiomqtt_count = {ratio_lib:.2f} (target >= {TARGET:.2f}: "
                 f"{'PASS' if passed else 'BELOW'})" if ratio_lib is not None
                 else "ingest / aiomqtt_count = -")
    lines.append(f"ingest / mosquitto_sub = {ratio_c:.2f}" if ratio_c is not None
                 else "ingest / mosquitto_sub = -")
    summary = {"messages": total, "broker": broker, "generator": generator,
               "limits": LIMITS_OFF, "smoke": smoke,
               "rates": {p.consumer: rounded(p.rate(total), 1) for p in phases},
               "generator_rates": {p.consumer: rounded(p.generator_rate(total), 1)
                                   for p in phases},
               "generator_rate": rounded(judged.generator_rate, 1),
               "generator_measured_against": judged.measured_against,
               "ingest_rate": rounded(ingest, 1),
               "ratio_ingest_to_generator": rounded(1 / judged.headroom
                                                    if judged.headroom else None),
               "generator_outran_ingest": judged.meaningful,
               "ratio_to_aiomqtt_count": rounded(ratio_lib),
               "ratio_to_mosquitto_sub": rounded(ratio_c),
               "complete": all(not p.note.startswith("INCOMPLETE") for p in phases),
               "target": None if smoke else TARGET, "pass": None if smoke else passed}
    return "\n".join(lines), summary, passed
