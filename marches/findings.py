"""Findings: data problems as values, located and explained in French.

Readers and the flattener emit findings for every oddity they meet in published data
(wrong JSON types, placeholders, flat keys...). The validator adds its own. Each finding
code is declared once here with its severity and a French explanation, so that reports
and documentation stay in step.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True, slots=True)
class FindingType:
    code: str
    severity: Severity
    title: str
    reason: str


READER_FINDINGS: dict[str, FindingType] = {
    t.code: t
    for t in [
        FindingType(
            "bom",
            "warning",
            "Marque d'ordre d'octets (BOM) en tête de fichier",
            "Le format impose de l'UTF-8 ; le BOM gêne de nombreux outils. Il est ignoré.",
        ),
        FindingType(
            "nan-literal",
            "error",
            "Valeur NaN ou Infinity",
            "NaN et Infinity ne sont pas du JSON valide ; la valeur est traitée comme absente.",
        ),
        FindingType(
            "placeholder",
            "error",
            "Valeur de remplissage (« NC », chaîne vide…)",
            "Une valeur de remplissage n'est pas une donnée ; elle est traitée comme absente.",
        ),
        FindingType(
            "number-as-string",
            "warning",
            "Nombre publié en texte",
            "Le format attend un nombre JSON ; la valeur a été convertie.",
        ),
        FindingType(
            "boolean-as-string",
            "warning",
            "Booléen publié en texte",
            "Le format JSON attend true ou false ; la valeur a été convertie.",
        ),
        FindingType(
            "id-as-number",
            "warning",
            "Identifiant publié en nombre",
            "Un identifiant est du texte : publié en nombre, il perd ses zéros initiaux.",
        ),
        FindingType(
            "wrong-type",
            "error",
            "Valeur d'un type inattendu",
            "La valeur n'a pas le type prévu par le format ; elle est conservée telle quelle.",
        ),
        FindingType(
            "nested-list", "warning", "Liste imbriquée dans une liste", "Une liste de listes ([[…]]) a été aplatie."
        ),
        FindingType(
            "flat-key",
            "warning",
            "Clé « à plat » (par ex. « acheteur.id »)",
            "Le format attend des objets imbriqués ; la clé a été dépliée.",
        ),
        FindingType(
            "single-object",
            "warning",
            "Objet isolé à la place d'une liste",
            "Le format attend une liste ; l'objet a été lu comme une liste d'un élément.",
        ),
        FindingType(
            "empty-list",
            "info",
            "Liste vide",
            "Une liste vide équivaut à une donnée absente ; le format 2022 demande d'omettre les listes vides.",
        ),
        FindingType(
            "enum-normalized",
            "warning",
            "Valeur de liste fermée mal orthographiée",
            "La casse, les accents ou la ponctuation diffèrent de la valeur officielle ; elle a été corrigée.",
        ),
        FindingType(
            "enum-legacy",
            "info",
            "Intitulé d'une ancienne version du format",
            "Un intitulé d'une version antérieure du format a été converti en son équivalent actuel.",
        ),
        FindingType(
            "date-timezone", "info", "Date avec fuseau horaire", "Une date n'a pas de fuseau horaire ; il a été ignoré."
        ),
        FindingType(
            "unknown-field",
            "warning",
            "Champ non prévu par le format",
            "Le champ n'existe pas dans le format ; il est conservé dans la colonne extra_fields.",
        ),
        FindingType(
            "unknown-record-type",
            "error",
            "Type d'enregistrement inconnu",
            "Impossible de savoir s'il s'agit d'un marché ou d'une concession ; lu comme un marché.",
        ),
        FindingType(
            "not-an-object",
            "error",
            "Enregistrement qui n'est pas un objet",
            "Un enregistrement doit être un objet ; la valeur est conservée dans extra_fields.",
        ),
        FindingType(
            "uid-mismatch",
            "warning",
            "uid publié différent de SIRET de l'acheteur + id",
            "L'uid est recalculé ; la valeur publiée est conservée dans original_values.",
        ),
    ]
}


@dataclass(slots=True)
class Finding:
    """One located data problem."""

    code: str
    severity: Severity
    message: str
    file: str | None = None
    position: int | None = None
    record_key: str | None = None
    uid: str | None = None
    id: str | None = None
    path: str | None = None
    line: int | None = None
    table: str | None = None
    field: str | None = None
    value: str | None = None

    @classmethod
    def of(cls, code: str, message: str, value=None, **where) -> Finding:
        """A finding of a declared code, its severity taken from the catalogue."""
        return cls(
            code=code,
            severity=READER_FINDINGS[code].severity,
            message=message,
            value=None if value is None else str(value),
            **where,
        )

    def to_dict(self) -> dict:
        return asdict(self)
