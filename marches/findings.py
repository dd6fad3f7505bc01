"""Findings: data problems as values, located and explained in French.

Readers, the flattener and the structural validation emit findings for every deviation from
the official format they meet; business rules (``marches.rules``) add theirs. Each finding code
is declared once, here or as a rule, with its severity, a French title, its reason and its kind:

* ``format``: the official schema of the record's own generation rejects what the finding
  reports (JSON Schema 1.5.0 for 2019 records, 2.0.3 for 2022 JSON, XSD 2.0.2 for 2022 XML).
  The value may still be read leniently for packaging; the message says how.
* ``rule``: a documented business rule, stricter than the schema or beyond it.
* ``reading``: about the file as a whole or the way it could be read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from marches.french import MESSAGE_LIMIT, short_message, short_path

Severity = Literal["error", "warning", "info"]
Kind = Literal["format", "rule", "reading"]


@dataclass(frozen=True, slots=True)
class FindingType:
    code: str
    severity: Severity
    title: str
    reason: str
    kind: Kind = "format"
    consumes: bool = False  # the value is unusable and read as absent: checks of the same place stay silent


def _catalogue(*types: FindingType) -> dict[str, FindingType]:
    return {t.code: t for t in types}


SCHEMA = "le schéma officiel du format de l'enregistrement le refuse"

READER_FINDINGS: dict[str, FindingType] = _catalogue(
    # -- the file ----------------------------------------------------------------------------------------
    FindingType(
        "bom",
        "warning",
        "Marque d'ordre d'octets (BOM) en tête de fichier",
        "Le format impose de l'UTF-8 ; le BOM gêne de nombreux outils. Il est ignoré.",
        "reading",
    ),
    FindingType(
        "unreadable",
        "error",
        "Fichier illisible",
        "Le fichier n'a pas pu être lu jusqu'au bout (JSON ou XML invalide, encodage, fichier vide…) : la "
        "validation s'arrête là (code de sortie 3) ; les constats qui précèdent restent valables.",
        "reading",
    ),
    FindingType(
        "no-record",
        "error",
        "Aucun contrat lu dans le fichier",
        "Un fichier de données essentielles publie au moins un marché ou un contrat de concession ; un fichier "
        "sans contrat ne peut pas être conforme (le schéma 1.5.0 le refuse ; le 2.0.3 admet une liste vide).",
        "rule",
    ),
    FindingType(
        "file-shape",
        "error",
        "Forme de fichier différente de celle du format",
        'Format 2019 : {"marches": [...]} ; format 2022 (schéma 2.0.3) : {"marches": {"marche": [...], '
        '"contrat-concession": [...]}}. Les enregistrements sont lus, mais le fichier n\'a pas la forme que '
        "décrivent les arrêtés et leur documentation : le schéma 1.5.0 le refuse, et si le schéma 2.0.3, qui ne "
        "déclare pas le type de sa racine, laisse passer une liste, aucun outil du format ne la lit.",
        "rule",
    ),
    FindingType(
        "unknown-container",
        "error",
        "Conteneur inconnu sous « marches »",
        "Sous « marches », le format 2022 ne connaît que « marche » et « contrat-concession » : ce qui est "
        "ailleurs n'est lu par aucun outil conforme. Son contenu est lu et signalé.",
        "rule",
    ),
    FindingType(
        "xml-mixed-text",
        "warning",
        "Texte libre entre les éléments d'« acheteur » (XML)",
        "Les XSD déclarent « acheteur » mixte : du texte peut y figurer entre ses éléments, et le fichier reste "
        "valide. Mais ce texte n'est aucune donnée du format et aucun outil ne le lit ; il est conservé dans "
        "extra_fields.",
        "reading",
    ),
    FindingType(
        "ignored-key",
        "warning",
        "Clé ignorée hors des contrats",
        "Le format ne prévoit rien d'autre que « marches » à la racine du fichier, ni, au format 2022, que "
        "« marche » et « contrat-concession » sous « marches » : une autre clé ne contient aucun contrat, elle "
        "est ignorée. Les schémas JSON l'admettent (le XSD, non : en XML, c'est une erreur).",
        "reading",
    ),
    FindingType(
        "control-character",
        "error",
        "Caractère de contrôle interdit en XML",
        "XML 1.0 interdit les caractères de contrôle (sauf tabulation et fins de ligne) : le fichier n'est pas du "
        "XML bien formé. Ils sont remplacés par une espace pour lire le reste du fichier.",
    ),
    FindingType(
        "encoding-mismatch",
        "error",
        "Encodage déclaré contredit par le contenu",
        "Le fichier XML déclare un encodage (ou n'en déclare pas, ce qui vaut UTF-8) mais ses octets en suivent "
        "un autre : un lecteur conforme le refuse ou y lit des caractères faux (« MarchÃ© » pour « Marché »). "
        "marches le lit dans son encodage réel pour le paquet. Déclarez l'encodage réel (UTF-8).",
        "rule",
    ),
    FindingType(
        "xml-attribute",
        "error",
        "Attribut XML hors du format",
        "Le format DECP n'a aucun attribut (le XSD 2.0.2 n'en déclare pas ; seuls xsi:schemaLocation et "
        "xsi:noNamespaceSchemaLocation sont admis) : un outil conforme refuse le fichier et n'en lit pas la valeur. "
        "La valeur est conservée dans extra_fields (« élément@attribut »).",
    ),
    FindingType(
        "nested-record",
        "error",
        "Contrat enveloppé dans un autre",
        "Un <marche> (ou <contrat-concession>) publié dans un autre : le XSD refuse le contrat. Le contrat "
        "intérieur est lu.",
    ),
    FindingType(
        "duplicate-element",
        "error",
        "Élément XML répété",
        "Un élément que le format n'admet qu'une fois (hors des listes : titulaires, modifications, valeurs des "
        "listes fermées) figure plusieurs fois dans le même élément : le XSD refuse le contrat. Le premier est lu, "
        "les copies sont conservées dans extra_fields.",
    ),
    FindingType(
        "xml-order",
        "error",
        "Éléments XML dans le désordre",
        "Le XSD fixe l'ordre des éléments de certains objets (xs:sequence) : au format 2019, <id> puis <nom> dans "
        "<acheteur>. Dans un autre ordre, le fichier n'est pas valide ; les valeurs sont lues quand même.",
    ),
    FindingType(
        "xml-namespace",
        "error",
        "Espace de noms XML hors du format",
        "Les éléments du format DECP n'ont pas d'espace de noms (le XSD 2.0.2 n'a pas de targetNamespace) : un "
        "outil conforme ne reconnaît aucun élément placé dans un espace de noms. marches les lit par leur nom local.",
    ),
    FindingType(
        "damaged-text",
        "warning",
        "Texte abîmé par une conversion d'encodage",
        "Des caractères remplacés par « \ufffd » ou transformés (« Ã© » pour « é ») : le texte a été mal "
        "converti en amont et la recherche ne le trouve plus. Republiez-le depuis la source en UTF-8.",
        "rule",
    ),
    # -- a record and its values -------------------------------------------------------------------------
    FindingType(
        "not-an-object",
        "error",
        "Enregistrement qui n'est pas un objet",
        "Un enregistrement est un objet JSON (ou un élément XML) ; la valeur est conservée dans extra_fields.",
        consumes=True,
    ),
    FindingType(
        "object-expected",
        "error",
        "Valeur à la place d'un objet",
        "Un acheteur (format 2019) ou un titulaire, un concessionnaire (format 2022) est un objet ; le schéma "
        "officiel ne vérifie pas leur type, mais sans objet le contrat perd son acheteur, son titulaire ou son "
        "concessionnaire. "
        "La valeur est conservée dans extra_fields.",
        "rule",
        consumes=True,
    ),
    FindingType(
        "unknown-record-type",
        "error",
        "Type d'enregistrement inconnu",
        "Impossible de savoir s'il s'agit d'un marché ou d'une concession ; lu comme un marché.",
    ),
    FindingType(
        "unknown-field",
        "error",
        "Champ non prévu par le format",
        "Le schéma 2.0.3 n'admet aucun champ inconnu au niveau du contrat, et le XSD 2.0.2 nulle part. "
        "Le champ est conservé dans la colonne extra_fields (ou lu, s'il existe dans l'autre format).",
    ),
    FindingType(
        "null-value",
        "error",
        "Valeur null",
        "Les schémas officiels n'admettent null pour aucun champ : un champ facultatif sans valeur s'omet. "
        "La valeur est lue comme absente.",
        consumes=True,
    ),
    FindingType(
        "nan-literal",
        "error",
        "Nombre impossible (NaN, Infinity, 1e400)",
        "NaN et Infinity ne sont pas du JSON valide, et un nombre au-delà de 1,8 × 10^308 ne tient dans aucun "
        "lecteur ; la valeur est lue comme absente, gardée telle que publiée dans original_values.",
        consumes=True,
    ),
    FindingType(
        "placeholder",
        "error",
        "Valeur de remplissage (« NC », chaîne vide…)",
        "Une valeur de remplissage n'est pas une donnée ; elle est lue comme absente.",
        "rule",
        consumes=True,
    ),
    FindingType(
        "wrong-type",
        "error",
        "Valeur d'un type inattendu",
        "La valeur n'a pas le type prévu par le format ; elle est conservée telle quelle.",
        consumes=True,
    ),
    FindingType(
        "number-as-string",
        "error",
        "Nombre publié en texte",
        "Le format attend un nombre JSON (sans guillemets) ; la valeur est lue comme nombre.",
    ),
    FindingType(
        "number-format",
        "error",
        "Nombre mal écrit",
        "Le XSD attend un nombre décimal écrit avec un point, sans exposant ni espace (xs:decimal) ; "
        "la valeur est lue comme nombre.",
    ),
    FindingType(
        "boolean-as-string",
        "error",
        "Booléen mal écrit",
        "JSON : true ou false sans guillemets ; XML : oui, non, true, false, 1 ou 0. La valeur est lue comme booléen.",
    ),
    FindingType(
        "id-as-number",
        "error",
        "Identifiant publié en nombre",
        "Un identifiant est du texte : publié en nombre, il perd ses zéros initiaux. Il est lu comme texte.",
    ),
    FindingType(
        "date-format",
        "error",
        "Date mal écrite",
        "Les dates s'écrivent AAAA-MM-JJ (le format 2019 admet un fuseau horaire « +01:00 », le XML aussi). "
        "La date est lue quand elle est reconnaissable.",
    ),
    FindingType(
        "date-invalid",
        "error",
        "Date inexistante",
        "Une date au bon format mais qui n'existe pas au calendrier (« 2024-02-30 ») ; elle est lue comme absente.",
        "rule",
        consumes=True,
    ),
    FindingType(
        "enum-normalized",
        "error",
        "Valeur de liste fermée mal orthographiée",
        "La casse, les accents ou la ponctuation diffèrent de la valeur officielle ; elle est lue comme la "
        "valeur officielle.",
    ),
    FindingType(
        "enum-legacy",
        "error",
        "Intitulé d'une ancienne version du format",
        "Un intitulé d'une version antérieure du format n'est plus une valeur autorisée ; il est lu comme son "
        "équivalent actuel.",
    ),
    FindingType(
        "flat-key",
        "error",
        "Clé « à plat » (par ex. « acheteur.id »)",
        "Le format attend des objets imbriqués ; la clé est lue comme l'objet imbriqué. Une clé à points à côté "
        "de l'objet, ou là où le format n'a pas d'objet de ce nom, est un simple champ supplémentaire.",
    ),
    FindingType(
        "nested-list",
        "error",
        "Liste imbriquée dans une liste",
        "Une liste de listes ([[…]]) n'est pas la forme du format ; elle est aplatie.",
    ),
    FindingType(
        "list-shape",
        "error",
        "Liste qui n'a pas la forme du format",
        'Format 2022 : chaque élément est enveloppé ([{"titulaire": {…}}]) et les listes de valeurs sont des '
        'objets ({"technique": [...]}) ; format 2019 : éléments non enveloppés. Lue quand même.',
    ),
    FindingType(
        "empty-list",
        "error",
        "Liste vide",
        "Le format demande au moins un élément dans cette liste (minItems) ; une liste sans élément s'omet "
        "quand elle est facultative.",
        consumes=True,
    ),
    FindingType(
        "duplicate-item",
        "error",
        "Élément répété dans une liste",
        "Chaque titulaire, modification, acte ou valeur ne figure qu'une fois dans sa liste (uniqueItems des "
        "schémas JSON) : un titulaire répété compte le contrat deux fois. L'élément répété est conservé, sans "
        "être jugé une seconde fois.",
        "rule",
        consumes=True,
    ),
    FindingType(
        "duplicate-key",
        "error",
        "Clé répétée dans un objet",
        "Une clé présente deux fois dans le même objet JSON : tout lecteur ne garde que la dernière valeur, la "
        "première est perdue (les schémas ne peuvent pas le voir). Le message montre la valeur perdue.",
        "rule",
    ),
    FindingType(
        "uid-mismatch",
        "warning",
        "uid publié différent du SIRET de l'acheteur (ou de l'autorité concédante) suivi de l'id",
        "L'uid est recalculé ; la valeur publiée est conservée dans original_values.",
        "rule",
    ),
)

STRUCTURE_FINDINGS: dict[str, FindingType] = _catalogue(
    FindingType(
        "type-error",
        "error",
        "Valeur d'un type inattendu",
        "Chaque donnée a un type (nombre, entier, date AAAA-MM-JJ, booléen, liste) dans le schéma officiel et "
        "dans la Table Schema de sa colonne.",
    ),
    FindingType(
        "required",
        "error",
        "Donnée obligatoire absente",
        "Donnée obligatoire dans le format de l'enregistrement (schémas 1.5.0 et 2.0.3, Table Schemas, x-format).",
    ),
    FindingType(
        "enum",
        "error",
        "Valeur hors de la liste fermée",
        "La donnée prend une des valeurs de la liste officielle de son format.",
    ),
    FindingType(
        "pattern",
        "error",
        "Format non respecté",
        "La donnée suit un motif (SIRET à 14 chiffres, code CPV à 8 chiffres…).",
    ),
    FindingType(
        "minimum",
        "error",
        "Valeur sous le minimum",
        "Borne minimale du format (montant ≥ 1 € en 2022, durée ≥ 1 mois…).",
    ),
    FindingType("maximum", "error", "Valeur au-dessus du maximum", "Borne maximale du format (taux ≤ 1…)."),
    FindingType("minLength", "error", "Valeur trop courte", "Longueur minimale (identifiant 2019 : 7 caractères)."),
    FindingType(
        "maxLength",
        "error",
        "Valeur trop longue",
        "Longueur maximale (objet ≤ 256 caractères en 2019, ≤ 1000 en 2022 ; identifiant ≤ 16).",
    ),
    FindingType(
        "primary-key", "error", "Clé en double", "Table Schema : la clé primaire d'une ligne est unique.", "reading"
    ),
    FindingType(
        "foreign-key",
        "error",
        "Ligne sans parent",
        "Table Schema : chaque ligne d'une table enfant se rattache à une ligne de sa table parente.",
        "reading",
    ),
    FindingType(
        "cpv-nomenclature-absent",
        "info",
        "Nomenclature CPV non installée",
        "Sans la nomenclature CPV officielle, seul le format des codes CPV est vérifié.",
        "reading",
    ),
)
FINDINGS = {**READER_FINDINGS, **STRUCTURE_FINDINGS}


@dataclass(slots=True)
class Finding:
    """One located data problem.

    ``path`` is the place in the published file, in one style for every format: dotted names as
    published (wrappers included) with 0-based indices (``marches.marche[0].titulaires[1].titulaire.id``,
    ``marches[3].montant``, for XML ``marches.marche[0].titulaires.titulaire[1].id``); ``line`` is the
    line of the XML element itself; ``field`` the column of the tabular model.
    """

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

    def __post_init__(self) -> None:
        """Messages and paths stay readable whatever was published (a key of 10 MB is not echoed whole);
        the published value itself is kept whole in ``value``."""
        if len(self.message) > MESSAGE_LIMIT:
            self.message = short_message(self.message)
        if self.path is not None and len(self.path) > MESSAGE_LIMIT:
            self.path = short_path(self.path)

    @classmethod
    def of(cls, code: str, message: str, value=None, **where) -> Finding:
        """A finding of a declared code, its severity taken from the catalogue."""
        return cls(
            code=code,
            severity=FINDINGS[code].severity,
            message=message,
            value=None if value is None else str(value),
            **where,
        )

    def to_dict(self) -> dict:
        """The fields in their declared order (``dataclasses.asdict`` would copy each value, for nothing)."""
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "file": self.file,
            "position": self.position,
            "record_key": self.record_key,
            "uid": self.uid,
            "id": self.id,
            "path": self.path,
            "line": self.line,
            "table": self.table,
            "field": self.field,
            "value": self.value,
        }


def within(path: str | None, ancestor: str) -> bool:
    """Whether ``path`` is ``ancestor`` or lies inside it (``a.b[0].c`` is within ``a.b[0]`` and ``a``)."""
    if path is None:
        return False
    return path == ancestor or (path.startswith(ancestor) and path[len(ancestor)] in ".[")
