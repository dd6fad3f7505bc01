"""Reading the shape of a record against its format: objects and their keys, nulls, lists and how
their items are wrapped, repeated items, flat keys.

Every deviation from the record's own format (see :mod:`marches.regulation`) is a finding at its
exact published path; the record is still read as far as its meaning is clear.
"""

from __future__ import annotations

from typing import Any

import orjson

from marches import normalize as n
from marches.flatten.vocabulary import CONCESSION_MARKERS, E_TYPE_CODE, E_TYPE_ID, V2_MARKERS
from marches.normalize import Enum, RecordContext
from marches.regulation import (
    DRAFT_2022_NAMES,
    FORMATS,
    LISTS,
    OBJECT_KEYS,
    REQUIRED_OBJECTS,
    UNTYPED_OBJECTS,
    VALUE_LISTS,
    XML_SEQUENCES,
    ListSpec,
    readable_keys,
    strict_keys,
)

# « le contrat n'a plus … identifié »: the party an object left as null stood for
NO_PARTY = {"acheteur": "d'acheteur", "titulaire": "de titulaire", "concessionnaire": "de concessionnaire"}


def join(rel: str, key: str) -> str:
    return f"{rel}.{key}" if rel else key


def _label(ctx: RecordContext) -> str:
    return FORMATS[ctx.generation or "2022"].label


# -- objects ----------------------------------------------------------------------------------------------


def _set_dotted(target: dict, dotted: str, value: Any) -> None:
    """``_set_dotted(d, "adresse.ville", v)`` -> ``d["adresse"]["ville"] = v`` (objects created as needed)."""
    *heads, last = dotted.split(".")
    for head in heads:
        child = target.get(head)
        if not isinstance(child, dict):
            child = target[head] = {}
        target = child
    target[last] = value


def _expand_flat_keys(ctx: RecordContext | None, obj: dict, rel: str, kind: str | None = None) -> dict:
    """``{"acheteur.id": "1"}`` -> ``{"acheteur": {"id": "1"}}``, each flat key noted.

    A dotted key is read as the nested object only when the object is absent and (with ``kind``) is
    an object of the format (a list cannot be written flat); otherwise it is an ordinary extra key
    (``check_keys`` keeps it in ``extra_fields``, and reports it where the level admits no extra key).
    Each object the format has is either required or at a level without extra keys (2.0.3 record
    level), so the official schema rejects every flat key read here: one ``flat-key`` error each.
    Without ``ctx`` nothing is noted (a probe to detect the kind and generation of the record).
    """
    if "." not in "".join(obj):
        return obj
    readable = readable_keys(kind) if kind else None
    out: dict = {}
    flat: list[str] = []
    for k, v in obj.items():
        head, dot, tail = k.partition(".")
        if (
            not (dot and head and tail)
            or head in obj
            or (readable is not None and head not in readable)
            or (kind is not None and (kind, head) in LISTS)
        ):
            out[k] = v
            continue
        _set_dotted(out.setdefault(head, {}), tail, v)
        flat.append(k)
    if ctx is None or not flat:
        return out
    for k in flat:
        head, _, tail = k.partition(".")
        ctx.note(
            "flat-key",
            join(rel, k),
            None,
            f"« {join(rel, k)} » : clé à plat ; le {_label(ctx)} attend l'objet imbriqué "
            f"(« {head} » : {{« {tail} » : …}}). Lue comme telle.",
        )
    return out


def _nulls(ctx: RecordContext, obj: dict, rel: str, table: str, kind: str, prefix: str = "") -> dict:
    """Note every ``null`` given to a field of the format (no official schema admits null there); the key
    stays, read as absent.

    A key the format does not name is not checked here: where the schema allows extra keys (1.5.0
    everywhere, 2.0.3 below the record) ``"source": null`` is valid and kept in ``extra_fields``; where
    it forbids them, :func:`check_keys` reports the key itself (one defect, one finding).
    """
    if None in obj.values():
        allowed = OBJECT_KEYS[kind][ctx.generation or "2022"]
        for k, v in obj.items():
            if v is not None or k not in allowed:
                continue
            if (ctx.generation, k) in UNTYPED_OBJECTS and not ctx.xml:
                ctx.note(
                    "object-expected",
                    join(rel, k),
                    None,
                    f"« {join(rel, k)} » vaut null : le schéma du {_label(ctx)} l'admet, mais le contrat n'a plus "
                    f"{NO_PARTY.get(k, f'de « {k} »')} identifié ; publiez l'objet avec son identifiant.",
                    table,
                    prefix + k,
                )
                continue
            ctx.note(
                "null-value",
                join(rel, k),
                None,
                f"« {join(rel, k)} » vaut null : le {_label(ctx)} n'admet pas null pour ce champ. Omettez le champ "
                "s'il est facultatif, sinon publiez sa valeur ; lu comme absent.",
                table,
                prefix + k,
            )
    return obj


def check_keys(ctx: RecordContext, obj: dict, rel: str, kind: str, top_level: bool = False) -> None:
    """Keys outside the format: kept in extra_fields, and an error where the format forbids them."""
    generation = ctx.generation or "2022"
    allowed = OBJECT_KEYS[kind][generation]
    if obj.keys() <= allowed:
        return
    readable = readable_keys(kind) | (DRAFT_2022_NAMES.keys() if kind == "marche" else set())
    strict = strict_keys(ctx.origin, generation, top_level)
    folded = {k.casefold(): k for k in allowed}
    for k in sorted(obj.keys() - allowed):
        right = folded.get(k.casefold())
        if strict and right is not None and right not in obj:  # « Nature » for « nature »: one finding, read
            obj[right] = obj.pop(k)
            ctx.note(
                "unknown-field",
                join(rel, k),
                None,
                f"« {join(rel, k)} » : le {_label(ctx)} écrit « {right} » (majuscules et minuscules comptent) ; "
                f"lu comme « {right} ».",
            )
            continue
        if k not in readable:
            ctx.extra[join(rel, k)] = obj[k]
        if not strict:
            continue
        if k in DRAFT_2022_NAMES:
            message = (
                f"« {join(rel, k)} » : nom du projet de schéma 2.0.0 ; au {_label(ctx)}, publiez "
                f"« {DRAFT_2022_NAMES[k]} » : {{« {k} » : [...]}}. Lu quand même."
            )
        elif k in readable:
            message = (
                f"« {join(rel, k)} » : champ du format {'2019' if generation == '2022' else '2022'}, "
                f"absent du {_label(ctx)} qui n'admet aucun champ supplémentaire ici ; lu quand même."
            )
        else:
            message = (
                f"« {join(rel, k)} » : champ inconnu du {_label(ctx)}, qui n'admet aucun champ supplémentaire "
                "ici ; conservé dans extra_fields."
            )
        ctx.note("unknown-field", join(rel, k), None, message)


def _object(ctx: RecordContext, value: Any, rel: str, kind: str, table: str, prefix: str = "") -> dict:
    """A nested object of the format (``kind`` names it in regulation.OBJECT_KEYS)."""
    if value is None:
        return {}
    untyped = not ctx.xml and (ctx.generation, kind) in UNTYPED_OBJECTS
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
        ctx.note(
            "object-expected" if untyped else "wrong-type",
            rel,
            None,
            f"« {rel} » : un objet est attendu, une liste d'un objet est publiée ; lue comme l'objet.",
        )
        value = value[0]
    if not isinstance(value, dict):
        if ctx.xml and isinstance(value, str) and not value.strip():
            return {}  # an empty element: its required children are reported one by one
        ctx.note(
            "object-expected" if untyped else "wrong-type",
            rel,
            value,
            f"« {rel} » : un objet est attendu, « {n._show(value)} » est publié ; conservé dans extra_fields.",
            table,
        )
        ctx.extra[rel] = value
        return {}
    if ctx.xml and (order := XML_SEQUENCES.get((ctx.generation, kind))):
        _in_sequence(ctx, value, rel, order)
    if value.keys() <= OBJECT_KEYS[kind][ctx.generation or "2022"]:  # the format's keys only: nothing to expand
        return _nulls(ctx, value, rel, table, kind, prefix)
    value = _nulls(ctx, _expand_flat_keys(ctx, value, rel, kind), rel, table, kind, prefix)
    check_keys(ctx, value, rel, kind)
    return value


def _in_sequence(ctx: RecordContext, value: dict, rel: str, order: tuple[str, ...]) -> None:
    """An object whose elements the XSD orders (xs:sequence): any other order makes the file invalid."""
    published = [k for k in value if k in order]  # the elements, in the document's order
    if published != sorted(published, key=order.index):
        ctx.note(
            "xml-order",
            rel,
            None,
            f"« {rel} » : ses éléments sont publiés dans l'ordre <{'>, <'.join(published)}> ; le XSD impose "
            f"<{'>, <'.join(order)}>, et un outil conforme refuse le contrat. Lus quand même.",
        )


def required_object(ctx: RecordContext, d: dict, key: str, parent: str, rel: str, published: dict) -> None:
    """An object the format requires and the record lacks: one finding (its fields stay silent)."""
    if key in published:
        return
    if ctx.generation in REQUIRED_OBJECTS.get((parent, key), frozenset()):
        ctx.note("required", join(rel, key), None, f"« {join(rel, key)} » est obligatoire au {_label(ctx)} et absent.")


# -- lists -----------------------------------------------------------------------------------------------


def _canonical(value: Any) -> bytes:
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # integers beyond 64 bits
        import json

        return json.dumps(value, sort_keys=True, ensure_ascii=False).encode()


def items(ctx: RecordContext, published: dict, parent: str, key: str, rel: str, table: str) -> list[tuple[str, Any]]:
    """The items of a list of objects with their exact published paths, the list checked against the format.

    2022 JSON wraps every item (``[{"titulaire": {...}}]``), 2019 JSON does not, XML repeats an
    element inside the list's element. Real files add ``[[...]]``, a single object for a list, or
    an empty list: each deviation is one finding, and the items are read anyway.
    """
    spec = LISTS[(parent, key)]
    path = join(rel, key)
    generation = ctx.generation or "2022"
    if key not in published:
        if generation in spec.required:
            ctx.note(
                "required",
                path,
                None,
                f"« {path} » est obligatoire au {_label(ctx)} et absent"
                + (" (au moins un élément)." if spec.minimum(generation) else " (une liste, vide s'il n'y a rien)."),
                table,
            )
        return []
    container = published[key]
    if container is None:
        return []  # noted as null by the object
    found = _xml_items(ctx, container, spec, path) if ctx.xml else _json_items(ctx, container, spec, path)
    if found is None:
        return []
    published_items = container if isinstance(container, list) else found
    # the 2.0.2 XSD asks one item in every list element it has
    if not published_items and (spec.minimum(generation) or (ctx.xml and generation == "2022")):
        ctx.note(
            "empty-list",
            path,
            None,
            f"« {path} » : liste vide ; le {_label(ctx)} y demande au moins un élément. Omettez la liste si elle "
            "est facultative.",
            table,
        )
    if spec.unique and len(found) > 1:
        _repeated(ctx, found, spec, path, table)
    return found


def _json_items(ctx: RecordContext, container: Any, spec: ListSpec, path: str) -> list[tuple[str, Any]] | None:
    wrapped_format = ctx.generation != "2019"
    example = f'[{{"{spec.item}": {{…}}}}]' if wrapped_format else "[{…}]"
    if isinstance(container, dict):
        if set(container) == {spec.item}:  # the XML shape written in JSON
            inner = container[spec.item]
            ctx.note(
                "list-shape",
                path,
                None,
                f"« {path} » : une liste {example} est attendue, un objet {{« {spec.item} » : …}} est publié ; lu comme la liste.",
            )
            if not isinstance(inner, list):
                return [] if inner is None else [(f"{path}.{spec.item}", inner)]
            return [(f"{path}.{spec.item}[{k}]", item) for k, item in enumerate(inner) if item is not None]
        ctx.note(
            "list-shape",
            path,
            None,
            f"« {path} » : une liste {example} est attendue, un objet seul est publié ; lu comme une liste d'un élément.",
        )
        suffix, value = _unwrap(ctx, container, spec.item, path, wrapped_format)
        return [(f"{path}{suffix}", value)]
    if not isinstance(container, list):
        ctx.note(
            "wrong-type",
            path,
            container,
            f"« {path} » : une liste est attendue, « {n._show(container)} » est publié ; conservé dans extra_fields.",
        )
        ctx.extra[path] = container
        return None
    found: list[tuple[str, Any]] = []
    deviating = 0
    untyped = (ctx.generation, spec.item) in UNTYPED_OBJECTS  # the schema does not check these items are objects
    for i, item in enumerate(container):
        rel = f"{path}[{i}]"
        if item is None:
            ctx.note(
                "object-expected" if untyped else "null-value",
                rel,
                None,
                f"« {rel} » vaut null au lieu d'un élément « {spec.item} » : ignoré ; retirez-le.",
            )
            continue
        if isinstance(item, list):
            ctx.note(
                "object-expected" if untyped else "nested-list",
                rel,
                None,
                f"« {rel} » : une liste dans la liste au lieu d'un élément « {spec.item} » ; lue aplatie.",
            )
            for k, x in enumerate(item):
                suffix, value = _unwrap(ctx, x, spec.item, f"{rel}[{k}]", wrapped_format)
                found.append((f"{rel}[{k}]{suffix}", value))
            continue
        if not isinstance(item, dict):  # reported where the object is read
            found.append((rel, item))
            continue
        if wrapped_format and not item:
            ctx.note(
                "required",
                rel,
                None,
                f"« {rel} » est vide : au {_label(ctx)}, chaque élément s'écrit {{« {spec.item} » : {{…}}}}.",
            )
            continue
        suffix, value = _unwrap(ctx, item, spec.item, rel, wrapped_format)
        if suffix and value is None:
            ctx.note(
                "null-value",
                f"{rel}{suffix}",
                None,
                f"« {rel}{suffix} » vaut null au lieu d'un élément « {spec.item} » ; ignoré.",
            )
        else:
            deviating += bool(suffix) != wrapped_format
        found.append((f"{rel}{suffix}", value))
    if deviating:
        how = (
            f"chaque élément s'écrit {{« {spec.item} » : {{…}}}}"
            if wrapped_format
            else f"les éléments ne sont pas enveloppés ({{…}} et non {{« {spec.item} » : {{…}}}})"
        )
        ctx.note(
            "list-shape",
            path,
            None,
            f"« {path} » : au {_label(ctx)}, {how} ; {deviating} élément(s) publié(s) autrement, lu(s) quand même.",
        )
    return found


def _xml_items(ctx: RecordContext, container: Any, spec: ListSpec, path: str) -> list[tuple[str, Any]] | None:
    if isinstance(container, str) and not container.strip():
        return []  # <titulaires/>
    if isinstance(container, list):  # the list's element repeated
        ctx.note(
            "list-shape",
            f"{path}[1]",
            None,
            f"« {path} » : l'élément <{spec.name}> est répété ; un seul <{spec.name}> contient tous les <{spec.item}>.",
        )
        found = []
        for i, part in enumerate(container):
            found += _xml_items(ctx, part, spec, f"{path}[{i}]" if i else path) or []
        return found
    if not isinstance(container, dict) or spec.item not in container:
        ctx.note(
            "list-shape",
            path,
            None,
            f"« {path} » : <{spec.name}> ne contient que des éléments <{spec.item}> ; son contenu est lu comme un "
            f"seul <{spec.item}>.",
        )
        if not isinstance(container, dict):
            ctx.extra[path] = container
            return None
        return [(path, container)]
    for k in container.keys() - {spec.item}:
        ctx.extra[f"{path}.{k}"] = container[k]
        ctx.note(
            "unknown-field",
            f"{path}.{k}",
            None,
            f"« {path}.{k} » : <{spec.name}> ne contient que des <{spec.item}> ; conservé dans extra_fields.",
        )
    inner = container[spec.item]
    inner = inner if isinstance(inner, list) else [inner]
    return [(f"{path}.{spec.item}[{k}]", item) for k, item in enumerate(inner)]


def _repeated(ctx: RecordContext, found: list[tuple[str, Any]], spec: ListSpec, path: str, table: str) -> None:
    first: dict[bytes, str] = {}
    for item_path, value in found:
        key = _canonical(value)
        if key in first:
            ctx.note(
                "duplicate-item",
                item_path,
                None,
                f"« {item_path} » répète « {first[key]} » : chaque {spec.item} ne figure qu'une fois dans "
                f"« {path} ». Retirez la copie.",
                table,
            )
        else:
            first[key] = item_path


def _unwrap(ctx: RecordContext, item: Any, wrapper: str, rel: str, wrapped_format: bool = True) -> tuple[str, Any]:
    """``{"titulaire": {...}}`` -> (".titulaire", {...}); an unwrapped item -> ("", item).

    In the 2022 format an item holding the wrapper key is a wrapper, whatever it holds, and its other
    keys (which the 2.0.3 schema admits) go to extra_fields; in the 2019 format a single-key object is
    a wrapper only when it holds an object (``{"tarif": 9.1}`` is a tarif without its label).
    """
    if not isinstance(item, dict):
        return "", item
    if wrapper not in item:
        if wrapped_format and len(item) == 1:  # {"Titulaire": {…}}: the wrapper in the wrong case
            key, inner = next(iter(item.items()))
            if key.casefold() == wrapper.casefold() and isinstance(inner, dict):
                ctx.note(
                    "unknown-field",
                    f"{rel}.{wrapper}",
                    None,
                    f"« {rel}.{key} » : le {_label(ctx)} écrit « {wrapper} » (majuscules et minuscules comptent) ; "
                    f"lu comme « {wrapper} ».",
                )
                return f".{key}", inner
        return "", item
    if wrapped_format:
        for k in item.keys() - {wrapper}:
            ctx.extra[f"{rel}.{k}"] = item[k]
        return f".{wrapper}", item[wrapper]
    if len(item) == 1 and isinstance(item[wrapper], dict):
        return f".{wrapper}", item[wrapper]
    return "", item


_DRAFT_NAME = {new: old for old, new in DRAFT_2022_NAMES.items()}


def value_list(ctx: RecordContext, published: dict, key: str, table: str) -> list[tuple[str, Any]]:
    """The values of a 2022 closed list, each with its path: ``{"technique": [...]}`` in JSON, repeated
    elements in XML; a bare list (schema 2.0.0) or a single value is read with a finding."""
    wrapper = VALUE_LISTS[key]
    draft = _DRAFT_NAME.get(key)
    if key in published:
        container, path = published[key], key
    elif draft is not None and draft in published:
        container, path = published[draft], draft
        if ctx.generation == "2022":
            ctx.note(
                "required",
                key,
                None,
                f"« {key} » est obligatoire au {_label(ctx)} et absent ; la liste est lue depuis « {draft} ».",
                table,
                key,
            )
    else:
        return []
    if container is None:
        return []
    if ctx.xml and isinstance(container, list):  # the list's element repeated: each part read in its place
        if path == key:
            ctx.note(
                "list-shape",
                f"{path}[1]",
                None,
                f"« {path} » : l'élément <{key}> est répété ; un seul <{key}> contient tous les <{wrapper}>.",
                table,
                key,
            )
        parts: list[tuple[str, Any]] = []
        for i, part in enumerate(container):
            where = f"{path}[{i}]" if i else path
            inner = part.get(wrapper, []) if isinstance(part, dict) else part
            inner = inner if isinstance(inner, list) else [inner]
            parts += [(f"{where}.{wrapper}[{k}]" if isinstance(part, dict) else where, v) for k, v in enumerate(inner)]
        return _flat_values(ctx, parts, path, table, key)
    expected = f"{{« {wrapper} » : [...]}}" if not ctx.xml else f"<{key}><{wrapper}>…</{wrapper}></{key}>"
    if ctx.xml and isinstance(container, str) and not container.strip():
        values: list[tuple[str, Any]] = []
    elif isinstance(container, dict):
        if wrapper not in container:
            ctx.note(
                "wrong-type",
                path,
                container,
                f"« {path} » : {expected} est attendu ; conservé dans extra_fields.",
                table,
                key,
            )
            ctx.extra[path] = container
            return []
        if len(container) > 1:  # other keys beside the list: allowed by the JSON Schema, not by the XSD
            others = {k: v for k, v in container.items() if k != wrapper}
            for k, v in others.items():
                ctx.extra[f"{path}.{k}"] = v
            if ctx.xml:
                ctx.note(
                    "unknown-field",
                    f"{path}.{next(iter(others))}",
                    None,
                    f"« {path} » : ne contient que des <{wrapper}> ; le reste est conservé dans extra_fields.",
                    table,
                    key,
                )
        inner = container[wrapper]
        if inner is None:
            ctx.note(
                "null-value",
                f"{path}.{wrapper}",
                None,
                f"« {path}.{wrapper} » vaut null ; lu comme absent.",
                table,
                key,
            )
            return []
        if isinstance(inner, list):
            values = [(f"{path}.{wrapper}[{i}]", v) for i, v in enumerate(inner)]
        else:
            if not ctx.xml:
                ctx.note(
                    "list-shape",
                    path,
                    None,
                    f"« {path}.{wrapper} » : une liste de valeurs est attendue, une valeur seule est publiée ; lue comme une liste.",
                    table,
                    key,
                )
            values = [(f"{path}.{wrapper}[0]", inner)]
    else:
        if path == key:  # the draft's bare list under the draft name is reported with the name
            ctx.note(
                "list-shape",
                path,
                None,
                f"« {path} » : au {_label(ctx)}, la liste s'écrit {expected} ; lue quand même.",
                table,
                key,
            )
        if isinstance(container, list):
            values = [(f"{path}[{i}]", v) for i, v in enumerate(container)]
        else:
            values = [(path, container)]
    return _flat_values(ctx, values, path, table, key)


def _flat_values(ctx: RecordContext, values: list[tuple[str, Any]], path: str, table: str, key: str):
    """The values of a closed list, nulls and nested lists noted; an empty list noted once."""
    flat: list[tuple[str, Any]] = []
    for item_path, item in values:
        if item is None:
            ctx.note(
                "null-value", item_path, None, f"« {item_path} » vaut null : valeur ignorée ; retirez-la.", table, key
            )
        elif isinstance(item, list):
            ctx.note(
                "nested-list",
                item_path,
                None,
                f"« {path} » : liste imbriquée dans une liste ; lue aplatie.",
                table,
                key,
            )
            flat.extend((f"{item_path}[{k}]", x) for k, x in enumerate(item))
        else:
            flat.append((item_path, item))
    if not values:  # a list of nulls only is already reported, value by value
        ctx.note(
            "empty-list",
            path,
            None,
            f"« {path} » : liste vide ; le {_label(ctx)} y demande au moins une valeur (« Sans objet » ou "
            "« Pas de … » quand il n'y a rien).",
            table,
            key,
        )
    return flat


def closed_list(ctx: RecordContext, d: dict, key: str, table: str, spec: Enum) -> list[str] | None:
    """A 2022 closed-list column (``techniques``…), also read under its 2.0.0 singular name."""
    container = d.get(key)
    if type(container) is dict and len(container) == 1:  # fast path: the format's own shape, official values
        inner = container.get(VALUE_LISTS[key])
        if type(inner) is str and ctx.xml and inner in spec.allowed:
            return [inner]
        if type(inner) is list and not ctx.xml and inner:  # JSON values are exact str: no other type is allowed
            try:
                if spec.allowed.issuperset(inner) and len(inner) == len(set(inner)):
                    return list(inner)
            except TypeError:  # an object or a list among the values: read below
                pass
        official = isinstance(inner, list) and (ctx.xml or type(inner) is list) and inner
        if official and all(type(v) is str and v in spec.allowed for v in inner) and len(inner) == len(set(inner)):
            return list(inner)
    return n.enum_list(ctx, value_list(ctx, d, key, table), key, table, key, spec)


# -- the parts every record shares ----------------------------------------------------------------------


def holder(ctx: RecordContext, item: Any, rel: str, table: str, kind: str = "titulaire", prefix: str = "") -> dict:
    """A titulaire, concessionnaire or sous-traitant: identifier type, identifier and (2019) name."""
    obj = _object(ctx, item, rel, kind, table, prefix)
    return {
        f"{prefix}typeIdentifiant": n.enum(
            ctx, obj.get("typeIdentifiant"), join(rel, "typeIdentifiant"), table, f"{prefix}typeIdentifiant", E_TYPE_ID
        ),
        f"{prefix}id": n.text(ctx, obj.get("id"), join(rel, "id"), table, f"{prefix}id"),
        f"{prefix}denominationSociale": n.text(
            ctx,
            obj.get("denominationSociale"),
            join(rel, "denominationSociale"),
            table,
            f"{prefix}denominationSociale",
        ),
    }


def place(ctx: RecordContext, d: dict, table: str) -> dict:
    obj = _object(ctx, d.get("lieuExecution"), "lieuExecution", "lieuExecution", table, "lieuExecution_")
    return {
        "lieuExecution_code": n.text(ctx, obj.get("code"), "lieuExecution.code", table, "lieuExecution_code"),
        "lieuExecution_typeCode": n.enum(
            ctx, obj.get("typeCode"), "lieuExecution.typeCode", table, "lieuExecution_typeCode", E_TYPE_CODE
        ),
        "lieuExecution_nom": n.text(ctx, obj.get("nom"), "lieuExecution.nom", table, "lieuExecution_nom"),
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
    if keys & {"acheteur", "acheteur.id", "titulaires", "codeCPV"}:  # a marché's own keys come first: 2019
        return "marche"  # marchés were sometimes published with an empty donneesExecution
    if keys & CONCESSION_MARKERS:
        return "concession"
    if keys & {"montant", "dateNotification"}:
        return "marche"
    return None


STRAY_V2_KEYS = 2  # a 2019 record (with names) may carry this many keys of the 2022 format and stay 2019


def detect_generation(data: dict) -> str:
    """The generation of a record in a file of the 2019 shape: "2022" when it carries keys only the
    2022 format has, unless it bears the 2019 signature (the names 2022 dropped) and only a stray one
    or two of them (the 1.5.0 schema admits extra keys: it is still a 2019 record)."""
    v2 = len(data.keys() & V2_MARKERS)
    if not v2 or (v2 <= STRAY_V2_KEYS and signed_2019(data)):
        return "2019"
    return "2022"


def signed_2019(data: dict) -> bool:
    """Whether a record bears the names only the 2019 format has (buyer, place, titulaires)."""
    for key in ("acheteur", "autoriteConcedante", "lieuExecution"):
        value = data.get(key)
        if isinstance(value, dict) and "nom" in value:
            return True
    holders = data.get("titulaires") or data.get("concessionnaires")
    return isinstance(holders, list) and any(isinstance(h, dict) and "denominationSociale" in h for h in holders)
