"""The validation report: findings counted by rule, first examples kept, the rest streamed.

A Report never holds every finding: it counts them, keeps the first examples of each rule for
the text summary, and hands each finding to an optional sink (the JSON, CSV or GitHub
renderers write them out as they come), so memory stays bounded at national scale.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any, ClassVar

from marches import __version__
from marches.findings import FINDINGS, STRUCTURE_FINDINGS, Finding

REPORT_VERSION = "2.0"
SEVERITIES = ("error", "warning", "info")
CSV_DELIMITER = ";"  # what French Excel expects; « , » with --csv-separator
SEVERITY_LABELS = {"error": "Erreurs", "warning": "Avertissements", "info": "Informations"}
CSV_COLUMNS = (
    "code",
    "severity",
    "message",
    "file",
    "position",
    "record_key",
    "uid",
    "id",
    "path",
    "line",
    "table",
    "field",
    "value",
)


@dataclass(frozen=True, slots=True)
class RuleInfo:
    code: str
    severity: str
    title: str
    reason: str
    kind: str  # "format", "rule" or "reading" (see marches.findings)


STRUCTURE = {code: RuleInfo(t.code, t.severity, t.title, t.reason, t.kind) for code, t in STRUCTURE_FINDINGS.items()}


def catalogue() -> dict[str, RuleInfo]:
    """Every finding code marches can produce, with its severity, title, reason and kind."""
    from marches.rules import all_rules

    out = {code: RuleInfo(code, t.severity, t.title, t.reason, t.kind) for code, t in FINDINGS.items()}
    for r in all_rules():
        out.setdefault(r.code, RuleInfo(r.code, r.severity, r.title, r.reason, "rule"))
    return out


@dataclass
class Report:
    """Counts, examples and context of one validation run."""

    examples_per_rule: int = 5
    sink: Callable[[Finding], None] | None = None
    as_of: dt.date | None = None
    sources: list[dict[str, Any]] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    records: Counter = field(default_factory=Counter)
    counts: Counter = field(default_factory=Counter)
    severities: Counter = field(default_factory=Counter)
    examples: dict[str, list[Finding]] = field(default_factory=dict)

    def add(self, finding: Finding) -> None:
        self.counts[finding.code] += 1
        self.severities[finding.severity] += 1
        kept = self.examples.setdefault(finding.code, [])
        if len(kept) < self.examples_per_rule:
            kept.append(finding)
        if self.sink is not None:
            self.sink(finding)

    def extend(self, findings) -> None:
        for f in findings:
            self.add(f)

    @property
    def errors(self) -> int:
        return self.severities["error"]

    @property
    def warnings(self) -> int:
        return self.severities["warning"]

    def passed(self, strict: bool = False) -> bool:
        return self.errors == 0 and (not strict or self.warnings == 0)

    def summary(self, strict: bool = False) -> dict[str, Any]:
        rules = catalogue()
        return {
            "valid": self.passed(strict),
            "strict": strict,
            "records": dict(self.records),
            "findings": {s: self.severities[s] for s in SEVERITIES},
            "rules": {
                code: {
                    "severity": severity_of(code, rules),
                    "kind": rules[code].kind if code in rules else "format",
                    "title": rules[code].title if code in rules else code,
                    "count": count,
                }
                for code, count in self.counts.most_common()
            },
        }


# -- renderers -----------------------------------------------------------------------------------------


def _where(f: Finding) -> str:
    parts = [f.file or "?"]
    if f.path:
        parts.append(f.path)
    if f.line:
        parts.append(f"ligne {f.line}")
    who = f" (uid {f.uid})" if f.uid else ""
    return ", ".join(parts) + who


def _n(number: int) -> str:
    return f"{number:,}".replace(",", "\u202f")


def severity_of(code: str, rules: dict[str, RuleInfo]) -> str:
    return rules[code].severity if code in rules else "error"


def rule_groups(report: Report) -> list[tuple[str, list[tuple[str, int]]]]:
    """(severity, [(code, count), ...]) for each severity that has findings, rules most frequent first."""
    rules = catalogue()
    groups = []
    for severity in SEVERITIES:
        codes = [(c, n) for c, n in report.counts.most_common() if severity_of(c, rules) == severity]
        if codes:
            groups.append((severity, codes))
    return groups


def verdict(report: Report, strict: bool) -> tuple[bool, str]:
    """Whether the files pass, and the French line that says so: « Verdict : NON CONFORME — 8 erreur(s)… »."""
    counts = (
        f"{_n(report.errors)} erreur(s), {_n(report.warnings)} avertissement(s), "
        f"{_n(report.severities['info'])} information(s)"
    )
    if report.passed(strict):
        return True, f"Verdict : CONFORME — {counts}."
    reason = " (--strict : les avertissements comptent)" if report.errors == 0 else ""
    return False, f"Verdict : NON CONFORME — {counts}{reason}."


def render_text(report: Report, strict: bool, style: Callable[..., str]) -> str:
    """The French summary: the verdict first, the sources, the findings grouped by severity and rule, and the
    verdict again at the end (the last line a terminal shows)."""
    rules = catalogue()
    total = sum(report.records.values())
    passed, verdict_line = verdict(report, strict)
    verdict_line = style(verdict_line, fg="green" if passed else "red", bold=True)
    lines = [
        verdict_line,
        f"Validation de {len(report.sources)} fichier(s) : {_n(total)} enregistrement(s) "
        f"({_n(report.records['marche'])} marché(s), {_n(report.records['concession'])} concession(s)).",
    ]
    lines += [f"Note : {notice}" for notice in report.notices]
    for severity, codes in rule_groups(report):
        colour = {"error": "red", "warning": "yellow", "info": "blue"}[severity]
        lines.append("")
        lines.append(
            style(
                f"{SEVERITY_LABELS[severity]} : {_n(report.severities[severity])} constat(s), {len(codes)} règle(s)",
                fg=colour,
                bold=True,
            )
        )
        for code, count in codes:
            title = rules[code].title if code in rules else code
            lines.append(style(f"  {code} — {title} : {_n(count)}", fg=colour))
            for f in report.examples.get(code, []):
                lines.append(f"      {_where(f)} : {f.message}")
            if count > len(report.examples.get(code, [])):
                lines.append(f"      … et {_n(count - len(report.examples.get(code, [])))} autre(s)")
    if report.counts:
        lines += ["", verdict_line]
    return "\n".join(lines)


class JsonSink:
    """Streams ``{"version", "tool", ..., "findings": [...], "summary": ...}`` to a text stream."""

    def __init__(self, out: IO[str]):
        self.out, self.first = out, True
        self.encode = json.JSONEncoder(ensure_ascii=False).encode  # json.dumps would build one per finding
        header = {
            "version": REPORT_VERSION,
            "tool": {"name": "marches", "version": __version__},
            "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        out.write(json.dumps(header, ensure_ascii=False)[:-1] + ', "findings": [')

    def __call__(self, finding: Finding) -> None:
        self.out.write(("\n  " if self.first else ",\n  ") + self.encode(finding.to_dict()))
        self.first = False

    def close(self, report: Report, strict: bool) -> None:
        tail = {
            "as_of": report.as_of.isoformat() if report.as_of else None,
            "sources": report.sources,
            "notices": report.notices,
            "summary": report.summary(strict),
        }
        self.out.write(("\n" if not self.first else "") + "], " + json.dumps(tail, ensure_ascii=False)[1:] + "\n")


class CsvSink:
    """One row per finding, for French Excel by default: a UTF-8 byte order mark (without it Excel reads the
    accents as Windows-1252) and « ; » between columns (the list separator of French Windows settings)."""

    def __init__(self, out: IO[str], delimiter: str = CSV_DELIMITER, bom: bool = True):
        if bom:
            out.write("\ufeff")
        self.writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
        self.writer.writerow(CSV_COLUMNS)

    def __call__(self, finding: Finding) -> None:
        d = finding.to_dict()
        self.writer.writerow(["" if d[c] is None else d[c] for c in CSV_COLUMNS])

    def close(self, report: Report, strict: bool) -> None:
        pass


class GithubSink:
    """GitHub Actions workflow commands: one annotation per finding, a notice with the verdict."""

    LEVELS: ClassVar[dict[str, str]] = {"error": "error", "warning": "warning", "info": "notice"}

    def __init__(self, out: IO[str]):
        self.out = out

    @staticmethod
    def _escape(text: str, property_: bool = False) -> str:
        text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        return text.replace(":", "%3A").replace(",", "%2C") if property_ else text

    def __call__(self, finding: Finding) -> None:
        props = [f"file={self._escape(finding.file or '', True)}"]
        if finding.line:
            props.append(f"line={finding.line}")
        props.append(f"title={self._escape(finding.code, True)}")
        where = f"{finding.path} : " if finding.path else ""
        self.out.write(
            f"::{self.LEVELS[finding.severity]} {','.join(props)}::{self._escape(where + finding.message)}\n"
        )

    def close(self, report: Report, strict: bool) -> None:
        verdict = "conforme" if report.passed(strict) else "non conforme"
        self.out.write(
            f"::notice title=marches::Validation {verdict} : {report.errors} erreur(s), "
            f"{report.warnings} avertissement(s)\n"
        )


SINKS = {"json": JsonSink, "csv": CsvSink, "github": GithubSink}
