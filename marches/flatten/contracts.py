"""Marchés and contrats de concession -> rows of their tables.

Each row carries ``_rel``, the published path of its item relative to the record (the flattener
turns it into the ``source_path`` column).
"""

from __future__ import annotations

from marches import normalize as n
from marches.flatten.structure import (
    _nulls,
    _object,
    check_keys,
    closed_list,
    holder,
    items,
    join,
    place,
    required_object,
)
from marches.flatten.vocabulary import (
    E_CCAG,
    E_CONS_ENV,
    E_CONS_SOC,
    E_CONS_SOC_CONCESSION,
    E_FORME_PRIX,
    E_FORME_PRIX_2019,
    E_GROUPEMENT,
    E_MODALITE,
    E_NATURE,
    E_NATURE_CONCESSION,
    E_PROCEDURE,
    E_PROCEDURE_CONCESSION,
    E_TECHNIQUE,
    E_TYPE_PRIX,
    E_VARIATION,
    FORME_PRIX_2019,
    NATURE_2019,
)
from marches.normalize import RecordContext
from marches.regulation import XSD_ITEM_NAMES

# -- marchés -----------------------------------------------------------------------------------------


def _marche(ctx: RecordContext, published: dict) -> dict[str, list[dict]]:
    t = "marches"
    generation = ctx.generation
    d = _nulls(ctx, published, "", t, "marche")
    check_keys(ctx, d, "", "marche", top_level=True)
    required_object(ctx, published, "acheteur", "marche", "", published)
    required_object(ctx, published, "lieuExecution", "marche", "", published)
    buyer = _object(ctx, d.get("acheteur"), "acheteur", "acheteur", t, "acheteur_")
    techniques = closed_list(ctx, d, "techniques", t, E_TECHNIQUE) or []
    modalites = closed_list(ctx, d, "modalitesExecution", t, E_MODALITE) or []
    types_prix = closed_list(ctx, d, "typesPrix", t, E_TYPE_PRIX) or []

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
                f"« nature » : « {nature} » est une nature du format 2019 ; au format 2022, publiez « Marché » "
                f"avec {'la technique « Accord-cadre »' if nature == 'Accord-cadre' else 'la modalité « Marchés subséquents »'}. "
                "Lue ainsi.",
                t,
                "nature",
            )
            ctx.original.setdefault("nature", d.get("nature"))
        # the value the 2019 nature stands for replaces « Sans objet » (which says there is none)
        if nature == "Accord-cadre" and "Accord-cadre" not in techniques:
            techniques[:] = [t for t in techniques if t != "Sans objet"] + ["Accord-cadre"]
        if nature == "Marché subséquent" and "Marchés subséquents" not in modalites:
            modalites.append("Marchés subséquents")
        nature = "Marché"
    elif generation == "2019":
        nature_2019 = nature

    forme_prix = forme_prix_2019 = None
    if generation == "2019":
        forme_prix_2019 = n.enum(ctx, d.get("formePrix"), "formePrix", t, "formePrix_2019", E_FORME_PRIX_2019)
        mapped = FORME_PRIX_2019.get(forme_prix_2019)
        if mapped and mapped not in types_prix:
            types_prix.append(mapped)
    else:
        forme_prix = n.enum(ctx, d.get("formePrix"), "formePrix", t, "formePrix", E_FORME_PRIX)

    row = {
        "_rel": "",
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
        **place(ctx, d, t),
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
        "considerationsSociales": closed_list(ctx, d, "considerationsSociales", t, E_CONS_SOC),
        "considerationsEnvironnementales": closed_list(ctx, d, "considerationsEnvironnementales", t, E_CONS_ENV),
    }
    rows: dict[str, list[dict]] = {"marches": [row]}

    tt = "marches_titulaires"
    rows[tt] = [
        {"_rel": rel, "position": i, **holder(ctx, item, rel, tt)}
        for i, (rel, item) in enumerate(items(ctx, d, "marche", "titulaires", "", tt))
    ]

    tm, tmt = "marches_modifications", "marches_modifications_titulaires"
    rows[tm], rows[tmt] = [], []
    for i, (rel, item) in enumerate(items(ctx, d, "marche", "modifications", "", tm)):
        m = _object(ctx, item, rel, "modification", tm)
        rows[tm].append(
            {
                "_rel": rel,
                "position": i,
                "id": n.integer(ctx, m.get("id"), join(rel, "id"), tm, "id"),
                "objetModification": n.text(
                    ctx, m.get("objetModification"), join(rel, "objetModification"), tm, "objetModification"
                ),
                "dateNotificationModification": n.date(
                    ctx,
                    m.get("dateNotificationModification"),
                    join(rel, "dateNotificationModification"),
                    tm,
                    "dateNotificationModification",
                ),
                "datePublicationDonneesModification": n.date(
                    ctx,
                    m.get("datePublicationDonneesModification"),
                    join(rel, "datePublicationDonneesModification"),
                    tm,
                    "datePublicationDonneesModification",
                ),
                "dureeMois": n.integer(ctx, m.get("dureeMois"), join(rel, "dureeMois"), tm, "dureeMois"),
                "montant": n.number(ctx, m.get("montant"), join(rel, "montant"), tm, "montant"),
            }
        )
        rows[tmt].extend(
            {"_rel": hrel, "modification_position": i, "position": j, **holder(ctx, h, hrel, tmt)}
            for j, (hrel, h) in enumerate(items(ctx, m, "modification", "titulaires", rel, tmt))
        )

    ta = "marches_actes_sous_traitance"
    rows[ta] = []
    for i, (rel, item) in enumerate(items(ctx, d, "marche", "actesSousTraitance", "", ta)):
        a = _object(ctx, item, rel, "acteSousTraitance", ta)
        required_object(ctx, a, "sousTraitant", "acteSousTraitance", rel, a)
        sub = holder(ctx, a.get("sousTraitant"), join(rel, "sousTraitant"), ta, "sousTraitant", "sousTraitant_")
        rows[ta].append(
            {
                "_rel": rel,
                "position": i,
                "id": n.integer(ctx, a.get("id"), join(rel, "id"), ta, "id"),
                "sousTraitant_typeIdentifiant": sub["sousTraitant_typeIdentifiant"],
                "sousTraitant_id": sub["sousTraitant_id"],
                "dureeMois": n.integer(ctx, a.get("dureeMois"), join(rel, "dureeMois"), ta, "dureeMois"),
                "dateNotification": n.date(
                    ctx, a.get("dateNotification"), join(rel, "dateNotification"), ta, "dateNotification"
                ),
                "datePublicationDonnees": n.date(
                    ctx,
                    a.get("datePublicationDonnees"),
                    join(rel, "datePublicationDonnees"),
                    ta,
                    "datePublicationDonnees",
                ),
                "montant": n.number(ctx, a.get("montant"), join(rel, "montant"), ta, "montant"),
                "variationPrix": n.enum(
                    ctx, a.get("variationPrix"), join(rel, "variationPrix"), ta, "variationPrix", E_VARIATION
                ),
            }
        )

    tma = "marches_modifications_actes_sous_traitance"
    rows[tma] = []
    for i, (rel, item) in enumerate(_act_modifications(ctx, d, tma)):
        a = _object(ctx, item, rel, "modificationActeSousTraitance", tma)
        rows[tma].append(
            {
                "_rel": rel,
                "position": i,
                "id": n.integer(ctx, a.get("id"), join(rel, "id"), tma, "id"),
                "dateNotificationModificationSousTraitance": n.date(
                    ctx,
                    a.get("dateNotificationModificationSousTraitance"),
                    join(rel, "dateNotificationModificationSousTraitance"),
                    tma,
                    "dateNotificationModificationSousTraitance",
                ),
                "datePublicationDonnees": n.date(
                    ctx,
                    a.get("datePublicationDonnees"),
                    join(rel, "datePublicationDonnees"),
                    tma,
                    "datePublicationDonnees",
                ),
                "dureeMois": n.integer(ctx, a.get("dureeMois"), join(rel, "dureeMois"), tma, "dureeMois"),
                "montant": n.number(ctx, a.get("montant"), join(rel, "montant"), tma, "montant"),
            }
        )
    return rows


def _act_modifications(ctx: RecordContext, d: dict, table: str):
    """The items of ``modificationsActesSousTraitance``, whichever of the format's two spellings names them.

    The JSON Schema 2.0.3 names the item ``modificationActeSousTraitance`` (the name ``LISTS`` knows),
    the XSD 2.0.2 ``modificationActesSousTraitance``: each schema refuses the other's spelling, so a
    record using it is in error (``list-shape``). It is read all the same, its paths as published."""
    key, item = "modificationsActesSousTraitance", "modificationActeSousTraitance"
    xsd = XSD_ITEM_NAMES[item]
    container = d.get(key)
    wrappers = container if isinstance(container, list) else [container]
    spellings = {name for w in wrappers if isinstance(w, dict) and len(w) == 1 for name in w} & {item, xsd}
    expected = xsd if ctx.xml else item
    for published in sorted(spellings - {expected}):
        ctx.note(
            "list-shape",
            key,
            None,
            f"« {key} » : au format {'XML (XSD 2.0.2)' if ctx.xml else 'JSON (schéma 2.0.3)'}, ses éléments "
            f"s'appellent « {expected} » ; « {published} » est le nom que leur donne "
            f"{'le schéma JSON' if ctx.xml else 'le XSD'}, et le {'XSD' if ctx.xml else 'schéma JSON'} le refuse. "
            "Lus quand même.",
        )
    if xsd not in spellings:
        return items(ctx, d, "marche", key, "", table)
    found = items(ctx, {**d, key: _rename(container, xsd, item)}, "marche", key, "", table)
    return [(rel.replace(f".{item}", f".{xsd}"), value) for rel, value in found]


def _rename(container, old: str, new: str):
    if isinstance(container, dict) and set(container) == {old}:
        return {new: container[old]}
    if isinstance(container, list):
        return [{new: x[old]} if isinstance(x, dict) and set(x) == {old} else x for x in container]
    return container


# -- concessions -------------------------------------------------------------------------------------


def _concession(ctx: RecordContext, published: dict) -> dict[str, list[dict]]:
    t = "concessions"
    d = _nulls(ctx, published, "", t, "concession")
    check_keys(ctx, d, "", "concession", top_level=True)
    required_object(ctx, published, "autoriteConcedante", "concession", "", published)
    required_object(ctx, published, "lieuExecution", "concession", "", published)
    authority = _object(
        ctx, d.get("autoriteConcedante"), "autoriteConcedante", "autoriteConcedante", t, "autoriteConcedante_"
    )
    row = {
        "_rel": "",
        "id": n.text(ctx, d.get("id"), "id", t, "id"),
        "autoriteConcedante_id": n.text(ctx, authority.get("id"), "autoriteConcedante.id", t, "autoriteConcedante_id"),
        "autoriteConcedante_nom": n.text(
            ctx, authority.get("nom"), "autoriteConcedante.nom", t, "autoriteConcedante_nom"
        ),
        "nature": n.enum(ctx, d.get("nature"), "nature", t, "nature", E_NATURE_CONCESSION),
        "objet": n.text(ctx, d.get("objet"), "objet", t, "objet"),
        "procedure": n.enum(ctx, d.get("procedure"), "procedure", t, "procedure", E_PROCEDURE_CONCESSION),
        **place(ctx, d, t),
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
        "considerationsSociales": closed_list(ctx, d, "considerationsSociales", t, E_CONS_SOC_CONCESSION),
        "considerationsEnvironnementales": closed_list(ctx, d, "considerationsEnvironnementales", t, E_CONS_ENV),
    }
    rows: dict[str, list[dict]] = {"concessions": [row]}

    tc = "concessions_concessionnaires"
    rows[tc] = [
        {"_rel": rel, "position": i, **holder(ctx, item, rel, tc, "concessionnaire")}
        for i, (rel, item) in enumerate(items(ctx, d, "concession", "concessionnaires", "", tc))
    ]

    tm = "concessions_modifications"
    rows[tm] = []
    for i, (rel, item) in enumerate(items(ctx, d, "concession", "modifications", "", tm)):
        m = _object(ctx, item, rel, "modificationConcession", tm)
        rows[tm].append(
            {
                "_rel": rel,
                "position": i,
                "id": n.integer(ctx, m.get("id"), join(rel, "id"), tm, "id"),
                "objetModification": n.text(
                    ctx, m.get("objetModification"), join(rel, "objetModification"), tm, "objetModification"
                ),
                "dateSignatureModification": n.date(
                    ctx,
                    m.get("dateSignatureModification"),
                    join(rel, "dateSignatureModification"),
                    tm,
                    "dateSignatureModification",
                ),
                "datePublicationDonneesModification": n.date(
                    ctx,
                    m.get("datePublicationDonneesModification"),
                    join(rel, "datePublicationDonneesModification"),
                    tm,
                    "datePublicationDonneesModification",
                ),
                "dureeMois": n.integer(ctx, m.get("dureeMois"), join(rel, "dureeMois"), tm, "dureeMois"),
                "valeurGlobale": n.number(ctx, m.get("valeurGlobale"), join(rel, "valeurGlobale"), tm, "valeurGlobale"),
            }
        )

    te, tt = "concessions_donnees_execution", "concessions_tarifs"
    rows[te], rows[tt] = [], []
    for i, (rel, item) in enumerate(items(ctx, d, "concession", "donneesExecution", "", te)):
        e = _object(ctx, item, rel, "donneesAnnuelles", te)
        rows[te].append(
            {
                "_rel": rel,
                "position": i,
                "datePublicationDonneesExecution": n.date(
                    ctx,
                    e.get("datePublicationDonneesExecution"),
                    join(rel, "datePublicationDonneesExecution"),
                    te,
                    "datePublicationDonneesExecution",
                ),
                "depensesInvestissement": n.number(
                    ctx,
                    e.get("depensesInvestissement"),
                    join(rel, "depensesInvestissement"),
                    te,
                    "depensesInvestissement",
                ),
            }
        )
        for j, (trel, tariff) in enumerate(items(ctx, e, "donneesAnnuelles", "tarifs", rel, tt)):
            tv = _object(ctx, tariff, trel, "tarif", tt)
            rows[tt].append(
                {
                    "_rel": trel,
                    "donneesExecution_position": i,
                    "position": j,
                    "intituleTarif": n.text(
                        ctx, tv.get("intituleTarif"), join(trel, "intituleTarif"), tt, "intituleTarif"
                    ),
                    "tarif": n.number(ctx, tv.get("tarif"), join(trel, "tarif"), tt, "tarif"),
                }
            )
    return rows
