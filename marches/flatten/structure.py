"""Reading the shape of a record: wrapped or bare lists, flat keys, single objects, unknown fields."""

from __future__ import annotations

from typing import Any

from marches import normalize as n
from marches.flatten.vocabulary import (
    CONCESSION_MARKERS,
    E_TYPE_CODE,
    E_TYPE_ID,
    HOLDER_KEYS,
    PLACE_KEYS,
    V2_MARKERS,
)
from marches.normalize import Enum, RecordContext

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
