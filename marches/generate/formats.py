"""Streaming writers of the three generated shapes: JSON 2022, XML 2022 and JSON 2019."""

from __future__ import annotations

from typing import IO, Any, ClassVar
from xml.sax.saxutils import escape

import orjson

from marches.flatten import V2_MARKERS

FORMATS = ("json-2022", "xml-2022", "json-2019")

NATURE_2019 = {"Accord-cadre": "Accord-cadre", "Marchés subséquents": "Marché subséquent"}
FORME_PRIX_2019 = {
    "Définitif ferme": "Ferme",
    "Définitif actualisable": "Ferme et actualisable",
    "Définitif révisable": "Révisable",
    "Provisoire": "Révisable",
}
TOWN_OF_CODE = "Commune {code}"


def _unwrapped(items: list | None, key: str) -> list:
    return [item.get(key, item) if isinstance(item, dict) else item for item in items or []]


def to_2019(record: dict, kind: str, names: dict[str, str]) -> dict[str, Any]:
    """The 2019 (schema 1.5.0) form of a generated 2022 contract: names back, 2022-only data gone."""
    out = dict(record)
    for key in V2_MARKERS:
        out.pop(key, None)
    place = record.get("lieuExecution") or {"code": "75056", "typeCode": "Code commune"}
    out["lieuExecution"] = {**place, "nom": TOWN_OF_CODE.format(code=place.get("code"))}
    if kind == "marche":
        techniques = (record.get("techniques") or {}).get("technique", [])
        modalites = (record.get("modalitesExecution") or {}).get("modaliteExecution", [])
        nature = record.get("nature")
        if nature in ("Marché", "Marché de défense ou de sécurité"):
            nature = "Marché"
            for marker in ("Accord-cadre", "Marchés subséquents"):
                if marker in techniques or marker in modalites:
                    nature = NATURE_2019[marker]
        buyer = dict(record["acheteur"])
        buyer["nom"] = names.get(str(buyer.get("id")), "Acheteur public")
        types = (record.get("typesPrix") or {}).get("typePrix") or ["Définitif ferme"]
        out = {
            "id": out.pop("id"),
            "uid": f"{buyer.get('id')}{record.get('id')}",
            "_type": "Marché",
            "acheteur": buyer,
            "nature": nature,
            **{k: v for k, v in out.items() if k not in ("acheteur", "nature")},
        }
        out["formePrix"] = FORME_PRIX_2019[types[0]]
        out["titulaires"] = [_holder_2019(h, names) for h in _unwrapped(record.get("titulaires"), "titulaire")]
        out["modifications"] = [
            _modification_2019(m, names) for m in _unwrapped(record.get("modifications"), "modification")
        ]
    else:
        authority = dict(record["autoriteConcedante"])
        authority["nom"] = names.get(str(authority.get("id")), "Autorité concédante")
        out["autoriteConcedante"] = authority
        out = {
            "id": out.pop("id"),
            "uid": f"{authority.get('id')}{record.get('id')}",
            "_type": "Contrat de concession",
            **out,
        }
        out["concessionnaires"] = [
            _holder_2019(h, names) for h in _unwrapped(record.get("concessionnaires"), "concessionnaire")
        ]
        out["donneesExecution"] = [
            {**d, "tarifs": _unwrapped(d.get("tarifs"), "tarif")}
            for d in _unwrapped(record.get("donneesExecution"), "donneesAnnuelles")
        ]
        out["modifications"] = [
            {
                "objetModification": "Avenant : prolongation et révision de la valeur globale",
                **{k: v for k, v in m.items() if k != "id"},
            }
            for m in _unwrapped(record.get("modifications"), "modification")
        ]
    return out


def _holder_2019(holder: dict, names: dict[str, str]) -> dict:
    return {**holder, "denominationSociale": names.get(str(holder.get("id")), "Entreprise")}


def _modification_2019(modification: dict, names: dict[str, str]) -> dict:
    out = {"objetModification": _modification_subject(modification)}
    out.update({k: v for k, v in modification.items() if k not in ("id", "titulaires")})
    if "titulaires" in modification:
        out["titulaires"] = [_holder_2019(h, names) for h in _unwrapped(modification["titulaires"], "titulaire")]
    return out


def _modification_subject(modification: dict) -> str:
    parts = []
    if "montant" in modification:
        parts.append("révision du montant")
    if "dureeMois" in modification:
        parts.append("prolongation de la durée")
    if "titulaires" in modification:
        parts.append("changement de titulaire")
    return "Avenant : " + (", ".join(parts) or "modification")


class JsonWriter:
    """``{"marches": {"marche": [...], "contrat-concession": [...]}}`` (2022) or ``{"marches": [...]}`` (2019)."""

    def __init__(self, fh: IO[bytes], fmt: str):
        self.fh, self.object_shape = fh, fmt == "json-2022"
        self.list: str | None = None
        self.first = True
        fh.write(b'{"marches": ' + (b"{" if self.object_shape else b"["))

    def write(self, record: dict, kind: str) -> None:
        if self.object_shape:
            name = "marche" if kind == "marche" else "contrat-concession"
            if name != self.list:
                self.fh.write((b"],\n" if self.list else b"\n") + f'"{name}": [\n'.encode())
                self.list, self.first = name, True
        self.fh.write((b"" if self.first else b",\n") + orjson.dumps(record))
        self.first = False

    def close(self) -> None:
        if self.object_shape:
            self.fh.write(b"]}}\n" if self.list else b"}}\n")
        else:
            self.fh.write(b"\n]}\n")


class XmlWriter:
    """``<marches>`` of ``<marche>`` and ``<contrat-concession>`` elements, in the XSD's vocabulary."""

    RENAME: ClassVar[dict[str, str]] = {
        "modificationActeSousTraitance": "modificationActesSousTraitance"
    }  # XSD spelling

    def __init__(self, fh: IO[bytes], fmt: str):
        self.fh = fh
        fh.write(b'<?xml version="1.0" encoding="UTF-8"?>\n<marches>\n')

    def write(self, record: dict, kind: str) -> None:
        tag = "marche" if kind == "marche" else "contrat-concession"
        parts: list[str] = [f"  <{tag}>"]
        for key, value in record.items():
            self._element(parts, key, value)
        parts.append(f"</{tag}>\n")
        self.fh.write("".join(parts).encode())

    def _element(self, parts: list[str], key: str, value: Any) -> None:
        key = self.RENAME.get(key, key)
        if isinstance(value, dict):
            parts.append(f"<{key}>")
            for k, v in value.items():
                self._element(parts, k, v)
            parts.append(f"</{key}>")
        elif isinstance(value, list):
            if all(isinstance(item, dict) and len(item) == 1 for item in value):  # wrapped items
                parts.append(f"<{key}>")
                for item in value:
                    for k, v in item.items():
                        self._element(parts, k, v)
                parts.append(f"</{key}>")
            else:  # a closed-list value: the element repeats
                for item in value:
                    self._element(parts, key, item)
        elif isinstance(value, bool):
            parts.append(f"<{key}>{'true' if value else 'false'}</{key}>")
        elif value is None:
            return
        else:
            parts.append(f"<{key}>{escape(str(value))}</{key}>")

    def close(self) -> None:
        self.fh.write(b"</marches>\n")


def writer_for(fmt: str, fh: IO[bytes]):
    return XmlWriter(fh, fmt) if fmt.startswith("xml") else JsonWriter(fh, fmt)
