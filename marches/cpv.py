"""The CPV 2008 nomenclature: installed by the user from the official file, never shipped.

``marches cpv install FICHIER`` reads the official list (CSV, XLSX or JSON, French or English
labels), checks that it looks like the nomenclature, and stores a normalised copy in the user
cache (``$MARCHES_CACHE_DIR``, else ``$XDG_CACHE_HOME/marches``, else ``~/.cache/marches``).
``marches validate --cpv FICHIER`` uses a file directly. Without either, CPV codes are checked
against their pattern only, and the report says so once.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from marches.errors import InputError

CODE = re.compile(r"^\s*(\d{8})(?:-(\d))?\s*$")
MIN_CODES = 1000  # the CPV 2008 main vocabulary has 9,454 codes; fewer than this is not the nomenclature
LABEL_HEADERS = ("fr", "label_fr", "libelle", "libellé", "intitule", "intitulé", "label", "en", "label_en", "name")
CACHE_NAME = "cpv2008.csv"


@dataclass(frozen=True, slots=True)
class Nomenclature:
    check_digits: dict[str, str]  # 8-digit code -> check digit
    labels: dict[str, str]  # 8-digit code -> label
    source: str

    def __len__(self) -> int:
        return len(self.check_digits)


def cache_dir() -> Path:
    if os.environ.get("MARCHES_CACHE_DIR"):
        return Path(os.environ["MARCHES_CACHE_DIR"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "marches"


def installed_path() -> Path:
    return cache_dir() / CACHE_NAME


def _from_pairs(pairs, source: str) -> Nomenclature:
    digits, labels = {}, {}
    for code, label, check in pairs:
        m = CODE.match(str(code))
        if not m:
            continue
        code8 = m.group(1)
        digit = m.group(2) or (str(check).strip() if check not in (None, "") else "")
        digits[code8] = digit
        labels[code8] = (label or "").strip()
    if len(digits) < MIN_CODES:
        raise InputError(
            source,
            f"{len(digits)} codes CPV reconnus seulement : ce fichier ne ressemble pas à la "
            "nomenclature CPV 2008 (9 454 codes)",
            hint="Utilisez le fichier officiel",
        )
    return Nomenclature(digits, labels, source)


def _label_column(header: list[str]) -> int | None:
    lowered = [h.strip().lower() for h in header]
    for wanted in LABEL_HEADERS:
        if wanted in lowered:
            return lowered.index(wanted)
    return None


def _rows_to_pairs(rows: list[list], source: str):
    if not rows:
        raise InputError(source, "fichier vide")
    header, body = [str(h or "") for h in rows[0]], rows[1:]
    sample = body[:50]
    code_col = next(
        (
            i
            for i in range(len(header))
            if sum(bool(CODE.match(str(r[i] if i < len(r) else ""))) for r in sample) > len(sample) // 2
        ),
        None,
    )
    if code_col is None:
        raise InputError(source, "aucune colonne de codes CPV (8 chiffres, tiret, chiffre de contrôle) trouvée")
    label_col = _label_column(header)
    lowered = [h.strip().lower() for h in header]
    check_col = lowered.index("check_digit") if "check_digit" in lowered else None
    for r in body:
        if code_col < len(r):
            label = r[label_col] if label_col is not None and label_col < len(r) else ""
            check = r[check_col] if check_col is not None and check_col < len(r) else None
            yield r[code_col], str(label or ""), check


def load(path: Path | str) -> Nomenclature:
    """Read the official CPV list from a CSV, XLSX or JSON file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "fichier de nomenclature CPV introuvable")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        try:
            import openpyxl
        except ImportError as exc:
            raise InputError(
                str(path),
                "lire un fichier XLSX demande openpyxl",
                hint="pip install openpyxl, ou exportez le fichier en CSV",
            ) from exc
        sheet = openpyxl.load_workbook(path, read_only=True).active
        return _from_pairs(_rows_to_pairs([list(r) for r in sheet.iter_rows(values_only=True)], str(path)), str(path))
    text = path.read_text(encoding="utf-8-sig")
    if suffix == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise InputError(str(path), f"JSON invalide : {exc}") from exc
        if isinstance(data, dict):
            pairs = (
                (k, v if isinstance(v, str) else (v or {}).get("name") or (v or {}).get("fr") or "", None)
                for k, v in data.items()
            )
        else:
            pairs = (
                (d.get("code") or d.get("id"), d.get("label") or d.get("name") or d.get("fr") or "", None)
                for d in data
                if isinstance(d, dict)
            )
        return _from_pairs(pairs, str(path))
    dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t") if text else csv.excel
    return _from_pairs(_rows_to_pairs(list(csv.reader(io.StringIO(text), dialect)), str(path)), str(path))


def install(path: Path | str) -> tuple[Path, Nomenclature]:
    """Check ``path`` is the nomenclature and store a normalised copy in the user cache."""
    nomenclature = load(path)
    target = installed_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["code", "code8", "check_digit", "label"])
        for code8, digit in sorted(nomenclature.check_digits.items()):
            writer.writerow([f"{code8}-{digit}" if digit else code8, code8, digit, nomenclature.labels[code8]])
    os.replace(tmp, target)
    return target, nomenclature


def resolve(explicit: Path | None) -> Nomenclature | None:
    """The nomenclature to validate with: ``--cpv``, else the installed one, else None (pattern only)."""
    if explicit is not None:
        return load(explicit)
    if installed_path().is_file():
        return load(installed_path())
    return None
