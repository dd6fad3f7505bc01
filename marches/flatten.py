"""Nested DECP records -> rows of the tabular model. Pure functions, no I/O.

Both generations land in the same tables. Where a 2019 value means the same thing as a 2022
one it is mapped (documented in the README, "Modèle de données"); where the meaning differs the
published value keeps its own column (``nature_2019``, ``formePrix_2019``, names of 2019).
Every representation oddity met on the way is a finding of the record's context.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from marches import normalize as n
from marches.findings import Finding
from marches.model import CONCESSION_TABLES, MARCHE_TABLES, enum_values
from marches.normalize import Enum, RecordContext
from marches.readers.base import RawRecord

# -- closed lists -------------------------------------------------------------------------------------

NATURE_2019 = ("Accord-cadre", "Marché subséquent")
E_NATURE = Enum(enum_values("marches", "nature") + NATURE_2019)
E_NATURE_CONCESSION = Enum(enum_values("concessions", "nature"))
E_PROCEDURE = Enum(
    enum_values("marches", "procedure"),
    legacy={
        "Procédure concurrentielle avec négociation": "Procédure avec négociation",
        "Procédure négociée avec mise en concurrence préalable": "Procédure avec négociation",
        "Marché négocié sans publicité ni mise en concurrence préalable": "Marché passé sans publicité ni mise en concurrence préalable",
    },
)
E_PROCEDURE_CONCESSION = Enum(enum_values("concessions", "procedure"))
E_TYPE_CODE = Enum(enum_values("marches", "lieuExecution_typeCode"))
E_TECHNIQUE = Enum(enum_values("marches", "techniques"))
E_MODALITE = Enum(
    enum_values("marches", "modalitesExecution"),
    legacy={  # schema 2.0.0 labels
        "Marché à tranches": "Tranches",
        "Bon de commande": "Bons de commande",
        "Marché subséquent": "Marchés subséquents",
        "Mixte": ("Bons de commande", "Marchés subséquents"),
    },
)
E_CCAG = Enum(enum_values("marches", "ccag"))
E_GROUPEMENT = Enum(enum_values("marches", "typeGroupementOperateurs"))
E_TYPE_PRIX = Enum(enum_values("marches", "typesPrix"))
E_FORME_PRIX = Enum(enum_values("marches", "formePrix"))
FORME_PRIX_2019 = {
    "Ferme": "Définitif ferme",
    "Ferme et actualisable": "Définitif actualisable",
    "Révisable": "Définitif révisable",
}
E_FORME_PRIX_2019 = Enum(tuple(FORME_PRIX_2019))
E_CONS_SOC = Enum(enum_values("marches", "considerationsSociales"))
E_CONS_SOC_CONCESSION = Enum(enum_values("concessions", "considerationsSociales"))
E_CONS_ENV = Enum(enum_values("marches", "considerationsEnvironnementales"))
E_TYPE_ID = Enum(
    enum_values("marches_titulaires", "typeIdentifiant"),
    legacy={"TVA intracommunautaire": "TVA", "FRW": "FRWF"},
)
E_VARIATION = Enum(enum_values("marches_actes_sous_traitance", "variationPrix"))

# -- the keys each object of the format may carry (anything else is kept in extra_fields) -------------

MARCHE_KEYS = frozenset(
    {
        "id",
        "uid",
        "_type",
        "acheteur",
        "nature",
        "objet",
        "codeCPV",
        "techniques",
        "technique",
        "modalitesExecution",
        "modaliteExecution",
        "idAccordCadre",
        "marcheInnovant",
        "ccag",
        "offresRecues",
        "attributionAvance",
        "tauxAvance",
        "typeGroupementOperateurs",
        "sousTraitanceDeclaree",
        "procedure",
        "lieuExecution",
        "dureeMois",
        "dateNotification",
        "datePublicationDonnees",
        "montant",
        "typesPrix",
        "typePrix",
        "formePrix",
        "origineUE",
        "origineFrance",
        "titulaires",
        "considerationsSociales",
        "considerationsEnvironnementales",
        "actesSousTraitance",
        "modificationsActesSousTraitance",
        "modifications",
    }
)
CONCESSION_KEYS = frozenset(
    {
        "id",
        "uid",
        "_type",
        "autoriteConcedante",
        "nature",
        "objet",
        "procedure",
        "lieuExecution",
        "dureeMois",
        "dateSignature",
        "datePublicationDonnees",
        "dateDebutExecution",
        "valeurGlobale",
        "montantSubventionPublique",
        "concessionnaires",
        "considerationsSociales",
        "considerationsEnvironnementales",
        "donneesExecution",
        "modifications",
    }
)
BUYER_KEYS = frozenset({"id", "nom"})
PLACE_KEYS = frozenset({"code", "typeCode", "nom"})
HOLDER_KEYS = frozenset({"typeIdentifiant", "id", "denominationSociale"})
SUBCONTRACTOR_KEYS = frozenset({"typeIdentifiant", "id"})
MODIFICATION_KEYS = frozenset(
    {
        "id",
        "objetModification",
        "dateNotificationModification",
        "datePublicationDonneesModification",
        "dureeMois",
        "montant",
        "titulaires",
    }
)
ACT_KEYS = frozenset(
    {
        "id",
        "sousTraitant",
        "dureeMois",
        "dateNotification",
        "datePublicationDonnees",
        "montant",
        "variationPrix",
    }
)
ACT_MODIFICATION_KEYS = frozenset(
    {
        "id",
        "dateNotificationModificationSousTraitance",
        "datePublicationDonnees",
        "dureeMois",
        "montant",
    }
)
CONCESSION_MODIFICATION_KEYS = frozenset(
    {
        "id",
        "objetModification",
        "dateSignatureModification",
        "datePublicationDonneesModification",
        "dureeMois",
        "valeurGlobale",
    }
)
EXECUTION_KEYS = frozenset({"datePublicationDonneesExecution", "depensesInvestissement", "tarifs"})
TARIFF_KEYS = frozenset({"intituleTarif", "tarif"})

# keys whose presence marks a 2022 record
V2_MARKERS = frozenset(
    {
        "techniques",
        "technique",
        "modalitesExecution",
        "modaliteExecution",
        "typesPrix",
        "typePrix",
        "ccag",
        "offresRecues",
        "marcheInnovant",
        "attributionAvance",
        "sousTraitanceDeclaree",
        "typeGroupementOperateurs",
        "considerationsSociales",
        "considerationsEnvironnementales",
        "actesSousTraitance",
        "modificationsActesSousTraitance",
        "idAccordCadre",
        "tauxAvance",
        "origineUE",
        "origineFrance",
    }
)
CONCESSION_MARKERS = frozenset(
    {
        "autoriteConcedante",
        "concessionnaires",
        "valeurGlobale",
        "dateSignature",
        "donneesExecution",
        "montantSubventionPublique",
    }
)


@dataclass(slots=True)
class FlatRecord:
    kind: str
    generation: str
    record_key: str
    uid: str | None
    id: str | None
    rows: dict[str, list[dict[str, Any]]]
    findings: list[Finding]


# -- structure ---------------------------------------------------------------------------------------


def _expand_flat_keys(ctx: RecordContext, obj: dict, rel: str) -> dict:
    """``{"acheteur.id": "1"}`` -> ``{"acheteur": {"id": "1"}}``, noted."""
    if "." not in "".join(obj):
        return obj
    out: dict = {}
    for k, v in obj.items():
        if "." not in k:
            out.setdefault(k, v) if not isinstance(v, dict) else out.setdefault(k, {}).update(v)
            continue
        ctx.note(
            "flat-key",
            f"{rel}.{k}" if rel else k,
            None,
            f"Clé à plat « {k} » : le format attend des objets imbriqués ; lue comme telle.",
        )
        head, _, tail = k.partition(".")
        target = out.setdefault(head, {})
        if isinstance(target, dict):
            target.update(_expand_flat_keys(ctx, {tail: v}, rel))
        else:
            ctx.extra[f"{rel}.{k}" if rel else k] = v
    return out


def _object(ctx: RecordContext, value: Any, rel: str, known: frozenset[str]) -> dict:
    """A nested object of the format; unknown keys go to extra_fields."""
    if value is None:
        return {}
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
        if ctx.origin == "json":
            ctx.note("wrong-type", rel, None, f"« {rel} » : objet attendu, liste d'un objet reçue ; lue comme l'objet.")
        value = value[0]
    if not isinstance(value, dict):
        ctx.note(
            "wrong-type",
            rel,
            value,
            f"« {rel} » : objet attendu, reçu « {n._show(value)} » ; conservé dans extra_fields.",
        )
        ctx.extra[rel] = value
        return {}
    value = _expand_flat_keys(ctx, value, rel)
    for k in value.keys() - known:
        ctx.extra[f"{rel}.{k}"] = value[k]
        ctx.note(
            "unknown-field",
            f"{rel}.{k}",
            None,
            f"Champ « {k} » non prévu par le format dans « {rel} » ; conservé dans extra_fields.",
        )
    return value


def _items(ctx: RecordContext, container: Any, wrapper: str, rel: str) -> list[tuple[str, Any]]:
    """The items of a list of objects, whatever the way it was published, each with its exact path.

    2022 JSON wraps every item (``[{"titulaire": {...}}]``), 2019 JSON does not, XML gives
    ``{"titulaire": [...]}`` or ``{"titulaire": {...}}``; real files add ``[[...]]``, a single
    object for a list, or an empty list.
    """
    if container is None or (container == "" and ctx.origin != "json"):
        return []
    json = ctx.origin == "json"
    if isinstance(container, dict):
        if set(container) == {wrapper}:  # XML container, or a JSON list written as an object
            inner = container[wrapper]
            if json:
                ctx.note(
                    "single-object",
                    rel,
                    None,
                    f"« {rel} » : liste attendue, objet {{« {wrapper} » : …}} reçu ; lu comme une liste.",
                )
            if not isinstance(inner, list):
                return [] if inner is None else [(f"{rel}.{wrapper}", inner)]
            return [(f"{rel}.{wrapper}[{k}]", item) for k, item in enumerate(inner) if item is not None]
        if json:
            ctx.note(
                "single-object",
                rel,
                None,
                f"« {rel} » : liste attendue, objet isolé reçu ; lu comme une liste d'un élément.",
            )
        return [(rel, _unwrap(container, wrapper)[1])]
    if not isinstance(container, list):
        ctx.note(
            "wrong-type",
            rel,
            container,
            f"« {rel} » : liste attendue, reçu « {n._show(container)} » ; conservé dans extra_fields.",
        )
        ctx.extra[rel] = container
        return []
    if not container:
        if ctx.generation != "2019":  # the 2019 format asks for [] when there is nothing to publish
            ctx.note(
                "empty-list", rel, None, f"« {rel} » : liste vide ; omettez le champ quand il n'y a rien à publier."
            )
        return []
    items = []
    for i, item in enumerate(container):
        if isinstance(item, list):
            ctx.note("nested-list", f"{rel}[{i}]", None, f"« {rel} » : liste imbriquée dans une liste ; aplatie.")
            for k, x in enumerate(item):
                suffix, value = _unwrap(x, wrapper)
                items.append((f"{rel}[{i}][{k}]{suffix}", value))
        else:
            suffix, value = _unwrap(item, wrapper)
            items.append((f"{rel}[{i}]{suffix}", value))
    return items


def _unwrap(item: Any, wrapper: str) -> tuple[str, Any]:
    """``{"titulaire": {...}}`` -> (".titulaire", {...}); an unwrapped item -> ("", item)."""
    if isinstance(item, dict) and len(item) == 1 and wrapper in item:
        return f".{wrapper}", item[wrapper]
    return "", item


def _value_list(ctx: RecordContext, container: Any, wrapper: str, rel: str) -> list:
    """The values of a closed-list field: ``{"technique": [...]}`` (2022), a bare list (2.0.0), XML, or one string."""
    if container is None or (container == "" and ctx.origin != "json"):
        return []
    if isinstance(container, dict):
        if set(container) != {wrapper}:
            ctx.note(
                "wrong-type",
                rel,
                container,
                f"« {rel} » : objet {{« {wrapper} » : [...]}} attendu ; conservé dans extra_fields.",
            )
            ctx.extra[rel] = container
            return []
        container = container[wrapper]
    if container is None:
        return []
    if not isinstance(container, list):
        return [container]
    flat: list = []
    for i, item in enumerate(container):
        if isinstance(item, list):
            ctx.note("nested-list", f"{rel}[{i}]", None, f"« {rel} » : liste imbriquée dans une liste ; aplatie.")
            flat.extend(item)
        else:
            flat.append(item)
    return flat


def _holder(ctx: RecordContext, item: Any, rel: str, table: str, keys: frozenset[str] = HOLDER_KEYS) -> dict:
    obj = _object(ctx, item, rel, keys)
    return {
        "typeIdentifiant": n.enum(
            ctx, obj.get("typeIdentifiant"), f"{rel}.typeIdentifiant", table, "typeIdentifiant", E_TYPE_ID
        ),
        "id": n.text(ctx, obj.get("id"), f"{rel}.id", table, "id"),
        "denominationSociale": n.text(
            ctx, obj.get("denominationSociale"), f"{rel}.denominationSociale", table, "denominationSociale"
        ),
    }


def detect_kind(data: dict) -> str | None:
    kind = data.get("_type")
    if isinstance(kind, str):
        folded = n.fold(kind)
        if folded.startswith("marche"):
            return "marche"
        if "concession" in folded:
            return "concession"
    keys = data.keys()
    if keys & CONCESSION_MARKERS:
        return "concession"
    if keys & {"acheteur", "acheteur.id", "titulaires", "codeCPV", "montant", "dateNotification"}:
        return "marche"
    return None


def detect_generation(data: dict) -> str:
    if data.keys() & V2_MARKERS:
        return "2022"
    return "2019"


def _closed_list(ctx: RecordContext, d: dict, key: str, item: str, table: str, spec: Enum, alias: str | None = None):
    """A closed-list column (``techniques``…), also read under its schema 2.0.0 name ``alias``."""
    published = d.get(key, d.get(alias)) if alias else d.get(key)
    return n.enum_list(ctx, _value_list(ctx, published, item, key), key, table, key, spec)


def _place(ctx: RecordContext, d: dict, table: str) -> dict:
    place = _object(ctx, d.get("lieuExecution"), "lieuExecution", PLACE_KEYS)
    return {
        "lieuExecution_code": n.text(ctx, place.get("code"), "lieuExecution.code", table, "lieuExecution_code"),
        "lieuExecution_typeCode": n.enum(
            ctx, place.get("typeCode"), "lieuExecution.typeCode", table, "lieuExecution_typeCode", E_TYPE_CODE
        ),
        "lieuExecution_nom": n.text(ctx, place.get("nom"), "lieuExecution.nom", table, "lieuExecution_nom"),
    }


def _unknown_top_level(ctx: RecordContext, d: dict, known: frozenset[str]) -> None:
    for k in d.keys() - known:
        ctx.extra[k] = d[k]
        ctx.note("unknown-field", k, None, f"Champ « {k} » non prévu par le format ; conservé dans extra_fields.")


# -- marchés -----------------------------------------------------------------------------------------


def _marche(ctx: RecordContext, d: dict, generation: str) -> dict[str, list[dict]]:
    t = "marches"
    _unknown_top_level(ctx, d, MARCHE_KEYS)
    buyer = _object(ctx, d.get("acheteur"), "acheteur", BUYER_KEYS)
    techniques = _closed_list(ctx, d, "techniques", "technique", t, E_TECHNIQUE, "technique") or []
    modalites = (
        _closed_list(ctx, d, "modalitesExecution", "modaliteExecution", t, E_MODALITE, "modaliteExecution") or []
    )
    types_prix = _closed_list(ctx, d, "typesPrix", "typePrix", t, E_TYPE_PRIX, "typePrix") or []

    nature = n.enum(ctx, d.get("nature"), "nature", t, "nature", E_NATURE)
    nature_2019 = None
    if nature in NATURE_2019:
        if generation == "2019":
            nature_2019 = nature
        else:
            ctx.note(
                "enum-legacy",
                "nature",
                nature,
                f"« nature » : « {nature} » est une nature du format 2019 ; convertie en « Marché » "
                f"avec {'la technique Accord-cadre' if nature == 'Accord-cadre' else 'la modalité Marchés subséquents'}.",
                t,
                "nature",
            )
            ctx.original.setdefault("nature", d.get("nature"))
        if nature == "Accord-cadre" and "Accord-cadre" not in techniques:
            techniques.append("Accord-cadre")
        if nature == "Marché subséquent" and "Marchés subséquents" not in modalites:
            modalites.append("Marchés subséquents")
        nature = "Marché"
    elif generation == "2019":
        nature_2019 = nature

    forme_prix = forme_prix_2019 = None
    raw_forme = d.get("formePrix")
    if raw_forme is not None:
        as_2022 = n.fold(str(raw_forme)) in E_FORME_PRIX.folded
        if as_2022 or generation == "2022":
            forme_prix = n.enum(ctx, raw_forme, "formePrix", t, "formePrix", E_FORME_PRIX)
        else:
            forme_prix_2019 = n.enum(ctx, raw_forme, "formePrix", t, "formePrix_2019", E_FORME_PRIX_2019)
            mapped = FORME_PRIX_2019.get(forme_prix_2019)
            if mapped and mapped not in types_prix:
                types_prix.append(mapped)

    row = {
        "id": n.text(ctx, d.get("id"), "id", t, "id"),
        "acheteur_id": n.text(ctx, buyer.get("id"), "acheteur.id", t, "acheteur_id"),
        "acheteur_nom": n.text(ctx, buyer.get("nom"), "acheteur.nom", t, "acheteur_nom"),
        "nature": nature,
        "nature_2019": nature_2019,
        "objet": n.text(ctx, d.get("objet"), "objet", t, "objet"),
        "codeCPV": n.text(ctx, d.get("codeCPV"), "codeCPV", t, "codeCPV"),
        "techniques": techniques or None,
        "modalitesExecution": modalites or None,
        "idAccordCadre": n.text(ctx, d.get("idAccordCadre"), "idAccordCadre", t, "idAccordCadre"),
        "marcheInnovant": n.boolean(ctx, d.get("marcheInnovant"), "marcheInnovant", t, "marcheInnovant"),
        "ccag": n.enum(ctx, d.get("ccag"), "ccag", t, "ccag", E_CCAG),
        "offresRecues": n.integer(ctx, d.get("offresRecues"), "offresRecues", t, "offresRecues"),
        "attributionAvance": n.boolean(ctx, d.get("attributionAvance"), "attributionAvance", t, "attributionAvance"),
        "tauxAvance": n.number(ctx, d.get("tauxAvance"), "tauxAvance", t, "tauxAvance"),
        "typeGroupementOperateurs": n.enum(
            ctx,
            d.get("typeGroupementOperateurs"),
            "typeGroupementOperateurs",
            t,
            "typeGroupementOperateurs",
            E_GROUPEMENT,
        ),
        "sousTraitanceDeclaree": n.boolean(
            ctx, d.get("sousTraitanceDeclaree"), "sousTraitanceDeclaree", t, "sousTraitanceDeclaree"
        ),
        "procedure": n.enum(ctx, d.get("procedure"), "procedure", t, "procedure", E_PROCEDURE),
        **_place(ctx, d, t),
        "dureeMois": n.integer(ctx, d.get("dureeMois"), "dureeMois", t, "dureeMois"),
        "dateNotification": n.date(ctx, d.get("dateNotification"), "dateNotification", t, "dateNotification"),
        "datePublicationDonnees": n.date(
            ctx, d.get("datePublicationDonnees"), "datePublicationDonnees", t, "datePublicationDonnees"
        ),
        "montant": n.number(ctx, d.get("montant"), "montant", t, "montant"),
        "typesPrix": types_prix or None,
        "formePrix": forme_prix,
        "formePrix_2019": forme_prix_2019,
        "origineUE": n.number(ctx, d.get("origineUE"), "origineUE", t, "origineUE"),
        "origineFrance": n.number(ctx, d.get("origineFrance"), "origineFrance", t, "origineFrance"),
        "considerationsSociales": _closed_list(ctx, d, "considerationsSociales", "considerationSociale", t, E_CONS_SOC),
        "considerationsEnvironnementales": _closed_list(
            ctx, d, "considerationsEnvironnementales", "considerationEnvironnementale", t, E_CONS_ENV
        ),
    }
    rows: dict[str, list[dict]] = {"marches": [row]}

    tt = "marches_titulaires"
    rows[tt] = [
        {"position": i, **_holder(ctx, item, path, tt)}
        for i, (path, item) in enumerate(_items(ctx, d.get("titulaires"), "titulaire", "titulaires"))
    ]

    tm, tmt = "marches_modifications", "marches_modifications_titulaires"
    rows[tm], rows[tmt] = [], []
    for i, (rel, item) in enumerate(_items(ctx, d.get("modifications"), "modification", "modifications")):
        m = _object(ctx, item, rel, MODIFICATION_KEYS)
        rows[tm].append(
            {
                "position": i,
                "id": n.integer(ctx, m.get("id"), f"{rel}.id", tm, "id"),
                "objetModification": n.text(
                    ctx, m.get("objetModification"), f"{rel}.objetModification", tm, "objetModification"
                ),
                "dateNotificationModification": n.date(
                    ctx,
                    m.get("dateNotificationModification"),
                    f"{rel}.dateNotificationModification",
                    tm,
                    "dateNotificationModification",
                ),
                "datePublicationDonneesModification": n.date(
                    ctx,
                    m.get("datePublicationDonneesModification"),
                    f"{rel}.datePublicationDonneesModification",
                    tm,
                    "datePublicationDonneesModification",
                ),
                "dureeMois": n.integer(ctx, m.get("dureeMois"), f"{rel}.dureeMois", tm, "dureeMois"),
                "montant": n.number(ctx, m.get("montant"), f"{rel}.montant", tm, "montant"),
            }
        )
        rows[tmt].extend(
            {"modification_position": i, "position": j, **_holder(ctx, h, hrel, tmt)}
            for j, (hrel, h) in enumerate(_items(ctx, m.get("titulaires"), "titulaire", f"{rel}.titulaires"))
        )

    ta = "marches_actes_sous_traitance"
    rows[ta] = []
    for i, (rel, item) in enumerate(
        _items(ctx, d.get("actesSousTraitance"), "acteSousTraitance", "actesSousTraitance")
    ):
        a = _object(ctx, item, rel, ACT_KEYS)
        sub = _holder(ctx, a.get("sousTraitant"), f"{rel}.sousTraitant", ta, SUBCONTRACTOR_KEYS)
        rows[ta].append(
            {
                "position": i,
                "id": n.integer(ctx, a.get("id"), f"{rel}.id", ta, "id"),
                "sousTraitant_typeIdentifiant": sub["typeIdentifiant"],
                "sousTraitant_id": sub["id"],
                "dureeMois": n.integer(ctx, a.get("dureeMois"), f"{rel}.dureeMois", ta, "dureeMois"),
                "dateNotification": n.date(
                    ctx, a.get("dateNotification"), f"{rel}.dateNotification", ta, "dateNotification"
                ),
                "datePublicationDonnees": n.date(
                    ctx, a.get("datePublicationDonnees"), f"{rel}.datePublicationDonnees", ta, "datePublicationDonnees"
                ),
                "montant": n.number(ctx, a.get("montant"), f"{rel}.montant", ta, "montant"),
                "variationPrix": n.enum(
                    ctx, a.get("variationPrix"), f"{rel}.variationPrix", ta, "variationPrix", E_VARIATION
                ),
            }
        )

    tma = "marches_modifications_actes_sous_traitance"
    rows[tma] = []
    # the XSD spells the item modificationActesSousTraitance, the JSON Schema modificationActeSousTraitance
    container = d.get("modificationsActesSousTraitance")
    wrapper = "modificationActeSousTraitance"
    if (isinstance(container, dict) and set(container) == {"modificationActesSousTraitance"}) or (
        isinstance(container, list)
        and container
        and isinstance(container[0], dict)
        and set(container[0]) == {"modificationActesSousTraitance"}
    ):
        wrapper = "modificationActesSousTraitance"
    for i, (rel, item) in enumerate(_items(ctx, container, wrapper, "modificationsActesSousTraitance")):
        a = _object(ctx, item, rel, ACT_MODIFICATION_KEYS)
        rows[tma].append(
            {
                "position": i,
                "id": n.integer(ctx, a.get("id"), f"{rel}.id", tma, "id"),
                "dateNotificationModificationSousTraitance": n.date(
                    ctx,
                    a.get("dateNotificationModificationSousTraitance"),
                    f"{rel}.dateNotificationModificationSousTraitance",
                    tma,
                    "dateNotificationModificationSousTraitance",
                ),
                "datePublicationDonnees": n.date(
                    ctx, a.get("datePublicationDonnees"), f"{rel}.datePublicationDonnees", tma, "datePublicationDonnees"
                ),
                "dureeMois": n.integer(ctx, a.get("dureeMois"), f"{rel}.dureeMois", tma, "dureeMois"),
                "montant": n.number(ctx, a.get("montant"), f"{rel}.montant", tma, "montant"),
            }
        )
    return rows


# -- concessions -------------------------------------------------------------------------------------


def _concession(ctx: RecordContext, d: dict, generation: str) -> dict[str, list[dict]]:
    t = "concessions"
    _unknown_top_level(ctx, d, CONCESSION_KEYS)
    authority = _object(ctx, d.get("autoriteConcedante"), "autoriteConcedante", BUYER_KEYS)
    row = {
        "id": n.text(ctx, d.get("id"), "id", t, "id"),
        "autoriteConcedante_id": n.text(ctx, authority.get("id"), "autoriteConcedante.id", t, "autoriteConcedante_id"),
        "autoriteConcedante_nom": n.text(
            ctx, authority.get("nom"), "autoriteConcedante.nom", t, "autoriteConcedante_nom"
        ),
        "nature": n.enum(ctx, d.get("nature"), "nature", t, "nature", E_NATURE_CONCESSION),
        "objet": n.text(ctx, d.get("objet"), "objet", t, "objet"),
        "procedure": n.enum(ctx, d.get("procedure"), "procedure", t, "procedure", E_PROCEDURE_CONCESSION),
        **_place(ctx, d, t),
        "dureeMois": n.integer(ctx, d.get("dureeMois"), "dureeMois", t, "dureeMois"),
        "dateSignature": n.date(ctx, d.get("dateSignature"), "dateSignature", t, "dateSignature"),
        "datePublicationDonnees": n.date(
            ctx, d.get("datePublicationDonnees"), "datePublicationDonnees", t, "datePublicationDonnees"
        ),
        "dateDebutExecution": n.date(ctx, d.get("dateDebutExecution"), "dateDebutExecution", t, "dateDebutExecution"),
        "valeurGlobale": n.number(ctx, d.get("valeurGlobale"), "valeurGlobale", t, "valeurGlobale"),
        "montantSubventionPublique": n.number(
            ctx, d.get("montantSubventionPublique"), "montantSubventionPublique", t, "montantSubventionPublique"
        ),
        "considerationsSociales": _closed_list(
            ctx, d, "considerationsSociales", "considerationSociale", t, E_CONS_SOC_CONCESSION
        ),
        "considerationsEnvironnementales": _closed_list(
            ctx, d, "considerationsEnvironnementales", "considerationEnvironnementale", t, E_CONS_ENV
        ),
    }
    rows: dict[str, list[dict]] = {"concessions": [row]}

    tc = "concessions_concessionnaires"
    rows[tc] = [
        {"position": i, **_holder(ctx, item, path, tc)}
        for i, (path, item) in enumerate(_items(ctx, d.get("concessionnaires"), "concessionnaire", "concessionnaires"))
    ]

    tm = "concessions_modifications"
    rows[tm] = []
    for i, (rel, item) in enumerate(_items(ctx, d.get("modifications"), "modification", "modifications")):
        m = _object(ctx, item, rel, CONCESSION_MODIFICATION_KEYS)
        rows[tm].append(
            {
                "position": i,
                "id": n.integer(ctx, m.get("id"), f"{rel}.id", tm, "id"),
                "objetModification": n.text(
                    ctx, m.get("objetModification"), f"{rel}.objetModification", tm, "objetModification"
                ),
                "dateSignatureModification": n.date(
                    ctx,
                    m.get("dateSignatureModification"),
                    f"{rel}.dateSignatureModification",
                    tm,
                    "dateSignatureModification",
                ),
                "datePublicationDonneesModification": n.date(
                    ctx,
                    m.get("datePublicationDonneesModification"),
                    f"{rel}.datePublicationDonneesModification",
                    tm,
                    "datePublicationDonneesModification",
                ),
                "dureeMois": n.integer(ctx, m.get("dureeMois"), f"{rel}.dureeMois", tm, "dureeMois"),
                "valeurGlobale": n.number(ctx, m.get("valeurGlobale"), f"{rel}.valeurGlobale", tm, "valeurGlobale"),
            }
        )

    te, tt = "concessions_donnees_execution", "concessions_tarifs"
    rows[te], rows[tt] = [], []
    for i, (rel, item) in enumerate(_items(ctx, d.get("donneesExecution"), "donneesAnnuelles", "donneesExecution")):
        e = _object(ctx, item, rel, EXECUTION_KEYS)
        rows[te].append(
            {
                "position": i,
                "datePublicationDonneesExecution": n.date(
                    ctx,
                    e.get("datePublicationDonneesExecution"),
                    f"{rel}.datePublicationDonneesExecution",
                    te,
                    "datePublicationDonneesExecution",
                ),
                "depensesInvestissement": n.number(
                    ctx, e.get("depensesInvestissement"), f"{rel}.depensesInvestissement", te, "depensesInvestissement"
                ),
            }
        )
        for j, (trel, tariff) in enumerate(_items(ctx, e.get("tarifs"), "tarif", f"{rel}.tarifs")):
            tv = _object(ctx, tariff, trel, TARIFF_KEYS)
            rows[tt].append(
                {
                    "donneesExecution_position": i,
                    "position": j,
                    "intituleTarif": n.text(ctx, tv.get("intituleTarif"), f"{trel}.intituleTarif", tt, "intituleTarif"),
                    "tarif": n.number(ctx, tv.get("tarif"), f"{trel}.tarif", tt, "tarif"),
                }
            )
    return rows


# -- entry point -------------------------------------------------------------------------------------


def flatten(raw: RawRecord) -> FlatRecord:
    """Flatten one raw record into rows of every table of its kind."""
    if raw.origin == "csv":
        return _from_tables(raw)
    ctx = RecordContext(raw.origin, raw.source.name, raw.position, raw.path, raw.line)
    data = raw.data
    if not isinstance(data, dict):
        ctx.note(
            "not-an-object",
            "",
            data,
            f"L'enregistrement n'est pas un objet mais « {n._show(data)} » ; conservé dans extra_fields.",
        )
        ctx.extra[""] = data
        data = {}
    data = _expand_flat_keys(ctx, data, "")
    kind = raw.kind or detect_kind(data)
    if kind is None:
        ctx.note(
            "unknown-record-type",
            "",
            None,
            "Impossible de savoir s'il s'agit d'un marché ou d'un contrat de concession ; lu comme un marché.",
        )
        kind = "marche"
    generation = raw.generation or detect_generation(data)
    ctx.generation = generation
    rows = _marche(ctx, data, generation) if kind == "marche" else _concession(ctx, data, generation)

    root = rows["marches" if kind == "marche" else "concessions"][0]
    buyer = root.get("acheteur_id") if kind == "marche" else root.get("autoriteConcedante_id")
    uid = f"{buyer}{root['id']}" if buyer and root["id"] else None
    published_uid = data.get("uid")
    if published_uid is not None and str(published_uid) != uid and "uid" not in ctx.original:
        ctx.note(
            "uid-mismatch",
            "uid",
            published_uid,
            f"uid publié « {published_uid} » différent de SIRET + id « {uid} » ; la valeur publiée est conservée.",
        )
        ctx.changed("uid", published_uid)
    key = raw.record_key
    root.update(
        record_key=key,
        uid=uid,
        generation=generation,
        source_file=raw.source.path.name,
        source_position=raw.position,
        source_path=raw.path,
        source_line=raw.line,
        extra_fields=ctx.extra or None,
        original_values=ctx.original or None,
    )
    for table_rows in rows.values():
        for row in table_rows:
            row["record_key"] = key
    findings = raw.findings + ctx.findings
    for f in findings:
        f.record_key, f.uid, f.id = key, uid, root["id"]
    return FlatRecord(kind, generation, key, uid, root["id"], rows, findings)


def _from_tables(raw: RawRecord) -> FlatRecord:
    """Rows read back from the project's own tables are already flat: pass them through."""
    tables = MARCHE_TABLES if raw.kind == "marche" else CONCESSION_TABLES
    rows = {t: raw.data.get(t, []) for t in tables}
    root = rows[tables[0]][0]
    return FlatRecord(
        raw.kind or "marche",
        root.get("generation") or "",
        raw.record_key,
        root.get("uid"),
        root.get("id"),
        rows,
        list(raw.findings),
    )
