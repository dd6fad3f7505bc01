"""The site's one formatting plugin (loaded by ``marches serve`` with --plugins-dir).

- every cell in French: amounts « 1 024 626,35 € », shares « 18,1 % », dates 23/05/2025, Oui/Non,
  lists as text, rule codes as their French titles; keys and identifiers as links to their page;
- the data behind the pages of a contract, a buyer and a titulaire, the search and the about page;
- French error pages (a refused database download points to the data package);
- CSV for Excel: ``_bom=1`` starts a CSV export with a byte order mark;
- the validation page (``/-/valider``, unless ``marches serve --no-validation``): its routes, its CSRF
  exemption and its links; the work is done by marches.site_validation.

What pages look like is in the templates next to this folder; what columns are is in marches.site_labels.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.parse
import weakref

import markupsafe
from babel.numbers import format_decimal, format_percent
from datasette import Response, hookimpl
from datasette.utils import append_querystring, tilde_decode, tilde_encode
from datasette.utils.asgi import AsgiFileDownload, Base400
from datasette.views.base import DatasetteError
from itsdangerous import BadSignature

from marches import site, site_labels, site_pages, site_validation
from marches.enrich import FOREIGN_KEYS
from marches.french import plural
from marches.nomenclatures import DEPARTEMENTS, DIVISIONS_CPV, SEVERITES
from marches.report_html import moment
from marches.sirene import labels as sirene_labels

LOCALE = "fr_FR"
ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")
BOM = "\ufeff".encode()
ENTITY_TABLES = {"acheteur": "acheteurs", "titulaire": "titulaires"}
LABELLED = {"division": (DIVISIONS_CPV, "divisions_cpv"), "departement": (DEPARTEMENTS, "departements")}
ANNUAIRE = "https://annuaire-entreprises.data.gouv.fr/etablissement/{}"
SIRET = re.compile(r"^\d{14}$")
# SIRENE codes shown with their label (facets and cells)
CODES = {
    "categorie_entreprise": sirene_labels.CATEGORIES_ENTREPRISE,
    "tranche_effectifs": sirene_labels.TRANCHES_EFFECTIFS,
    "etat": sirene_labels.ETATS,
    "diffusion": sirene_labels.DIFFUSION,
}


def code_label(column: str, value) -> str | None:
    """« PME — Petite ou moyenne entreprise », « 7210 — Collectivité territoriale » (None when not a code)."""
    if value is None or value == "":
        return None
    if column == "categorie_juridique":
        return sirene_labels.categorie_juridique(str(value))
    labels = CODES.get(column)
    if labels is None:
        return None
    return f"{value} — {labels[value]}" if value in labels else str(value)


def annuaire(value) -> str | None:
    """The page of a SIRET in the public company directory."""
    return ANNUAIRE.format(value) if isinstance(value, str) and SIRET.match(value) else None


def nombre(value, decimals: int = 2) -> str:
    return format_decimal(value, format="#,##0." + "#" * decimals if decimals else "#,##0", locale=LOCALE)


def euros(value) -> str:
    """« 1 024 626,35 € », « 167 874 € »: cents only when there are some."""
    whole = float(value).is_integer()
    return f"{format_decimal(value, format='#,##0' if whole else '#,##0.00', locale=LOCALE)}\u00a0€"


def date_fr(value) -> str:
    match = ISO_DATE.match(str(value))
    return f"{match[3]}/{match[2]}/{match[1]}" if match else str(value)


def _items(value) -> list:
    try:
        items = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return [value]
    return items if isinstance(items, list) else [items]


def _link(href: str, text: str, title: str | None = None) -> markupsafe.Markup:
    attribute = markupsafe.Markup(' title="{}"').format(title) if title else ""
    return markupsafe.Markup('<a href="{}"{}>{}</a>').format(href, attribute, text)


def format_value(datasette, database: str, table: str | None, column: str, value):
    """The French rendering of one value, or None to let Datasette show it."""
    urls = datasette.urls
    if isinstance(value, dict):  # a foreign key Datasette expanded: its label, or the identifier alone
        target = FOREIGN_KEYS.get((table, column))
        if target and value.get("label") in (None, "", value.get("value")):
            return _link(urls.row(database, target[0], tilde_encode(str(value["value"]))), value["value"])
        return None
    if value is None or value == "":
        return None
    kind = site_labels.kind(table, column)
    try:
        if kind == "euros":
            return euros(value)
        if kind == "nombre":
            return nombre(value)
        if kind == "part":
            return format_percent(value, format="#,##0.#\u00a0%", locale=LOCALE)
        if kind == "pct":
            return f"{nombre(value, 1)}\u00a0%"
        if kind == "annee":
            return str(value)
        if kind == "date":
            return date_fr(value)
        if kind == "booleen":
            return {0: "Non", 1: "Oui", "0": "Non", "1": "Oui", "false": "Non", "true": "Oui"}.get(value)
        if kind == "gravite":
            return SEVERITES.get(value, value)
        if kind == "liste":
            return ", ".join(str(v) for v in _items(value))
        if kind == "regles":
            titles = site_pages.rule_titles()
            return markupsafe.Markup(" ; ").join(
                _link(urls.row(database, "regles", tilde_encode(str(c))), titles.get(c, c), c) for c in _items(value)
            )
        if kind in ("categorie_juridique", "categorie_entreprise", "tranche_effectifs", "etat", "diffusion"):
            return code_label(kind, value)
        if kind == "contrat" and table not in ("marches", "concessions", "enregistrements"):
            return _link(urls.path(f"-/contrat/{tilde_encode(str(value))}"), value, "Ouvrir le contrat")
        if kind in ENTITY_TABLES:
            return _link(urls.row(database, ENTITY_TABLES[kind], tilde_encode(str(value))), value)
        if kind in LABELLED:
            names, target = LABELLED[kind]
            shown = f"{value} — {names[value]}" if value in names else value
            return _link(urls.row(database, target, tilde_encode(str(value))), shown)
    except (TypeError, ValueError):
        return None
    return None


async def titulaires(datasette, database: str, value) -> markupsafe.Markup:
    """The titulaires of a contract by name (SIRENE or published), each a link to its page."""
    ids = [str(i) for i in _items(value) if i is not None]
    names: dict[str, str] = {}
    if ids:
        marks = ", ".join("?" for _ in ids)
        rows = await datasette.get_database(database).execute(
            f"SELECT titulaire_id, denominationSociale FROM titulaires WHERE titulaire_id IN ({marks})", ids
        )
        names = {r[0]: r[1] for r in rows.rows if r[1]}
    urls = datasette.urls
    return markupsafe.Markup(", ").join(
        _link(urls.row(database, "titulaires", tilde_encode(i)), names.get(i, i), i if i in names else None)
        for i in ids
    )


@hookimpl
def render_cell(row, value, column, table, database, datasette):
    if value not in (None, "") and site_labels.kind(table, column) == "titulaires":
        return titulaires(datasette, database, value)
    shown = format_value(datasette, database, table, column, value)
    if shown is None and value is None and column in site_pages.RELIABLE:
        keys = row.keys()  # `in row` would test a sqlite3.Row's values, not its columns
        raw = next((row[c] for c in site_pages.RELIABLE[column] if c in keys and row[c] not in (None, "")), None)
        if raw is not None:
            raw = euros(raw) if isinstance(raw, int | float) else date_fr(raw)
            return markupsafe.Markup(
                '<span class="ecarte" title="Valeur publiée écartée des statistiques : signalée par la validation">'
                "écarté ({})</span>"
            ).format(raw)
    return shown


def row_count(count: int) -> str:
    """« aucune ligne », « 1 ligne », « 19 313 lignes »."""
    return plural(count, "ligne") if count else "aucune ligne"


def option_label(key: str, option) -> str:
    """A dashboard filter's choice in clear: « 45 — Travaux de construction », « 69 — Rhône »."""
    names = {"division": DIVISIONS_CPV, "departement": DEPARTEMENTS}.get(key, {})
    return f"{option} — {names[str(option)]}" if str(option) in names else str(option)


@hookimpl
def prepare_jinja2_environment(env, datasette):
    env.filters["nombre"] = lambda v: nombre(v) if v is not None else ""
    env.filters["lignes"] = row_count
    env.filters["euros"] = lambda v: euros(v) if v is not None else ""
    env.filters["date_fr"] = lambda v: date_fr(v) if v else ""
    env.globals["libelle"] = site_labels.label
    env.globals["gravite"] = lambda v: SEVERITES.get(v, v)
    env.globals["option_libelle"] = option_label
    env.globals["code_libelle"] = lambda column, value: code_label(column, value) or value
    env.globals["categorie_en_clair"] = lambda value: sirene_labels.CATEGORIES_ENTREPRISE.get(value, value).lower()
    env.globals["annuaire"] = annuaire
    env.globals.setdefault("append_querystring", append_querystring)
    env.globals["titre_table"] = lambda database, table: datasette.metadata("title", database, table) or table


@hookimpl
def extra_template_vars(template, database, table, view_name, request, datasette):
    async def inner():
        config = datasette.plugin_config("marches") or {}
        extra = {"paquet_url": config.get("paquet_url"), "tableau_de_bord": config.get("tableau_de_bord")}
        if _validation(datasette) is not None:
            extra["validation_url"] = datasette.urls.path("-/valider")
        if view_name == "row" and table in site_pages.FICHES and request is not None:
            key = tilde_decode(request.url_vars.get("pks", ""))
            extra["fiche"] = await site_pages.fiche(datasette.get_database(database), table, key)
        if view_name != "row" and request is not None and request.url_vars.get("table"):
            queries = (datasette.metadata("databases") or {}).get(database, {}).get("queries", {})
            canned = queries.get(tilde_decode(request.url_vars["table"]), {})
            if isinstance(canned, dict) and canned.get("parametres"):
                db = datasette.get_database(database)
                extra["parametres"] = await site_pages.parameters(db, canned["parametres"])
        return extra

    return inner


@hookimpl
def register_routes(datasette):
    routes = [
        (r"^/-/contrat/(?P<key>[^/]+)$", contract_redirect),
        (r"^/-/recherche$", search_page),
        (r"^/-/a-propos$", about_page),
    ]
    if _validation(datasette) is not None:
        routes += [
            (r"^/-/valider$", validation_page),
            (r"^/-/valider/(?P<token>[A-Za-z0-9_-]+)$", validation_report),
            (r"^/-/valider/(?P<token>[A-Za-z0-9_-]+)/rapport-validation\.(?P<ext>json|csv|html)$", validation_download),
        ]
    return routes


def _database(datasette):
    return next(db for name, db in datasette.databases.items() if name != "_internal" and not db.is_memory)


async def contract_redirect(datasette, request):
    key = tilde_decode(request.url_vars["key"])
    db = _database(datasette)
    table = await site_pages.table_of(db, key)
    if table is None:
        return await _error(datasette, request, 404, f"Aucun enregistrement n'a la clé « {key} ».")
    return Response.redirect(datasette.urls.row(db.name, table, tilde_encode(key)))


async def search_page(datasette, request):
    db = _database(datasette)
    query = (request.args.get("q") or "").strip()
    results = await site_pages.search(db, query) if query else None
    context = {"q": query, "resultats": results, "database": db.name}
    return Response.html(await datasette.render_template("recherche.html", context, request=request))


async def about_page(datasette, request):
    db = _database(datasette)
    context = {"database": db.name, "apropos": await site_pages.about(db)}
    return Response.html(await datasette.render_template("a_propos.html", context, request=request))


MESSAGES = [
    (re.compile(r"^Database not found"), "Base introuvable."),
    (re.compile(r"^Table not found"), "Table introuvable."),
    (re.compile(r"^Record not found"), "Enregistrement introuvable."),
    (re.compile(r"^Row not found"), "Enregistrement introuvable."),
    (re.compile(r"^Database download is forbidden"), "Le téléchargement de la base n'est pas proposé ici."),
    (re.compile(r"^SQL query took too long"), "La requête a pris trop de temps et a été interrompue."),
    (re.compile(r"^You do not have permission"), "Accès refusé."),
]


def _french(message: str) -> str:
    for pattern, text in MESSAGES:
        match = pattern.search(message)
        if match:
            return text.format(*match.groups())
    return message


async def _error(datasette, request, status: int, message: str) -> Response:
    context = {"status": status, "error": message, "telechargement": request.path.endswith(".db")}
    return Response.html(await datasette.render_template("error.html", context, request=request), status=status)


@hookimpl
def handle_exception(datasette, request, exception):
    if not isinstance(exception, Base400 | DatasetteError) and "/-/valider/" in request.path:
        site_validation.log_failure(site_validation.where_it_failed(exception))  # never a path or a message

        async def failed():
            return await _validation_page(datasette, request, 500, erreur=site_validation.FAILED)

        return failed
    if not isinstance(exception, Base400 | DatasetteError) or request.path.endswith(".json"):
        return None
    message = exception.message if isinstance(exception, DatasetteError) else exception.args[0]

    async def inner():
        return await _error(datasette, request, exception.status, _french(str(message)))

    return inner


@hookimpl
def forbidden(datasette, request, message):
    async def inner():
        return await _error(datasette, request, 403, _french(message))

    return inner


def _cheaper(scope) -> bytes:
    """What a national table's HTML page adds to its query string so that it stays under a second.

    * A full-text search in the contracts table (``SEARCH_FACETS_ON_DEMAND``): ``_nofacet=1``. Each
      facet reads every matching row again (a common word matches a tenth of 1.5 M contracts); the
      page offers them with one click (``_repartition=1``).
    * The unfiltered page of a flat view (``VIEWS_UNCOUNTED``): ``_nocount=1`` (its count joins every
      row of its tables, 2 s at 1.5 M contracts).

    JSON and CSV exports, explicit ``_facet`` requests, filtered views are served as Datasette serves them."""
    parts = scope.get("path", "").strip("/").split("/")
    if len(parts) != 2:
        return b""
    table, args = parts[1], urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
    searched = bool(args.get("_search", [""])[0].strip())
    if table in site.SEARCH_FACETS_ON_DEMAND and searched:
        asked = any(k.startswith(("_facet", "_nofacet", "_repartition")) for k in args)
        return b"" if asked else b"&_nofacet=1"
    if table in site.VIEWS_UNCOUNTED and "_search" not in args and all(k.startswith("_") for k in args):
        return b"&_nocount=1"
    return b""


@hookimpl
def asgi_wrapper(datasette):
    """``_bom=1`` on a CSV export: the byte order mark lets Excel read the UTF-8 accents. And when the server
    stops (ASGI lifespan), the validation page's reports are deleted."""

    def wrap(app):
        async def with_bom(scope, receive, send):
            if scope["type"] == "lifespan":
                return await app(scope, _closing_validations(receive), send)
            if scope["type"] == "http" and (extra := _cheaper(scope)):
                scope = {**scope, "query_string": scope.get("query_string", b"") + extra}
            if scope["type"] != "http" or b"_bom=1" not in scope.get("query_string", b""):
                return await app(scope, receive, send)
            state = {"csv": False, "sent": False}

            async def send_with_bom(message):
                if message["type"] == "http.response.start":
                    headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"content-length"]
                    state["csv"] = any(k.lower() == b"content-type" and b"text/csv" in v.lower() for k, v in headers)
                    message = {**message, "headers": headers}
                elif message["type"] == "http.response.body" and state["csv"] and not state["sent"]:
                    state["sent"] = True
                    message = {**message, "body": BOM + message.get("body", b"")}
                await send(message)

            return await app(scope, receive, send_with_bom)

        return with_bom

    return wrap


# -- the validation page ------------------------------------------------------------------------------------

_VALIDATIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
PRIVATE = {"Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex", "Cache-Control": "no-store"}
DOWNLOADS = {
    "json": "application/json; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "html": "text/html; charset=utf-8",
}
GONE = (
    "Ce rapport n'est plus disponible : les rapports sont effacés après {keep}, ou plus tôt quand beaucoup d'autres "
    "ont été faits depuis. Validez à nouveau vos fichiers."
)


def _validation(datasette) -> site_validation.Validations | None:
    """The validation service of this site, or None when ``marches serve --no-validation`` turned it off."""
    config = (datasette.plugin_config("marches") or {}).get("validation")
    if not config:
        return None
    if datasette not in _VALIDATIONS:
        _VALIDATIONS[datasette] = site_validation.Validations(site_validation.Settings.from_config(config))
    return _VALIDATIONS[datasette]


@hookimpl
def skip_csrf(datasette, scope):
    """The upload form's token is checked by marches.site_validation while the body streams (see there why)."""
    if scope.get("method") == "POST" and scope.get("path", "").endswith("/-/valider"):
        return _validation(datasette) is not None
    return None


@hookimpl
def menu_links(datasette, actor):
    if _validation(datasette) is not None:
        return [{"href": datasette.urls.path("-/valider"), "label": "Valider un fichier"}]
    return None


def _closing_validations(receive):
    async def inner():
        message = await receive()
        if message["type"] == "lifespan.shutdown":
            for service in list(_VALIDATIONS.values()):
                service.close()
        return message

    return inner


def _csrf_cookie(datasette, request) -> str | None:
    """Datasette's CSRF cookie when it carries Datasette's signature (the form field must equal it)."""
    value = request.cookies.get("ds_csrftoken")
    if not value:
        return None
    try:
        datasette.unsign(value, "csrftoken")
    except BadSignature:
        return None
    return value


async def _validation_page(datasette, request, status: int = 200, headers: dict | None = None, **context) -> Response:
    settings = _validation(datasette).settings
    context = {
        "database": _database(datasette).name,
        "taille_max": settings.max_bytes,
        "limite": settings.size_text,
        "duree": settings.time_text,
        "conservation": site_validation.duration_text(settings.keep_seconds),
        **context,
    }
    html = await datasette.render_template("valider.html", context, request=request)
    return Response.html(html, status=status, headers={**PRIVATE, **(headers or {})})


async def validation_page(datasette, request, receive):
    """GET: the form. POST: the upload validated, then the report's own address (303), or a French refusal."""
    service = _validation(datasette)
    if request.method != "POST":
        return await _validation_page(datasette, request)
    try:
        async with service.admission(receive):
            token, job = service.new_job()
            try:
                upload = await site_validation.read_upload(
                    receive,
                    request.headers.get("content-type", ""),
                    request.headers.get("content-length"),
                    _csrf_cookie(datasette, request),
                    job / "fichiers",
                    service.settings.max_bytes,
                )
                gone = asyncio.Event()
                watcher = asyncio.ensure_future(site_validation.watch_disconnect(receive, gone))
                try:
                    await service.run(job, upload, gone)
                finally:
                    watcher.cancel()
            except BaseException:
                service.discard(job)
                raise
    except site_validation.Refused as refused:
        retry = {"Retry-After": str(refused.retry_after)} if refused.retry_after else None
        return await _validation_page(datasette, request, refused.status, retry, erreur=refused.message)
    except site_validation.Unreadable as unreadable:
        return await _validation_page(datasette, request, 422, illisible=str(unreadable))
    except site_validation.Disconnected:
        return Response.text("", status=400)
    except Exception as exc:
        site_validation.log_failure(site_validation.where_it_failed(exc))
        return await _validation_page(datasette, request, 500, erreur=site_validation.FAILED)
    return Response.redirect(datasette.urls.path(f"-/valider/{token}"), status=303, headers=dict(PRIVATE))


async def validation_report(datasette, request):
    service = _validation(datasette)
    token = request.url_vars["token"]
    folder = service.report(token)
    if folder is None:
        keep = site_validation.duration_text(service.settings.keep_seconds)
        return await _validation_page(datasette, request, 404, erreur=GONE.format(keep=keep))
    view = json.loads((folder / "vue.json").read_text(encoding="utf-8"))
    return await _validation_page(datasette, request, rapport=view, jeton=token, jusqu_a=moment(service.expires(token)))


async def validation_download(datasette, request):
    service = _validation(datasette)
    token, ext = request.url_vars["token"], request.url_vars["ext"]
    folder = service.report(token)
    if folder is None or not (folder / site_validation.REPORT_FILES[ext]).is_file():
        keep = site_validation.duration_text(service.settings.keep_seconds)
        return await _validation_page(datasette, request, 404, erreur=GONE.format(keep=keep))
    day = time.strftime("%Y-%m-%d", time.localtime(service.finished[token]))
    return AsgiFileDownload(
        folder / site_validation.REPORT_FILES[ext],
        filename=f"rapport-validation-{day}.{ext}",
        content_type=DOWNLOADS[ext],
        headers=dict(PRIVATE),
    )
