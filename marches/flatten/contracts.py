"""Marchés and contrats de concession -> rows of their tables."""

from __future__ import annotations

from marches import normalize as n
from marches.flatten.structure import (
    _closed_list,
    _holder,
    _items,
    _object,
    _place,
    _unknown_top_level,
)
from marches.flatten.vocabulary import (
    ACT_KEYS,
    ACT_MODIFICATION_KEYS,
    BUYER_KEYS,
    CONCESSION_KEYS,
    CONCESSION_MODIFICATION_KEYS,
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
    EXECUTION_KEYS,
    FORME_PRIX_2019,
    MARCHE_KEYS,
    MODIFICATION_KEYS,
    NATURE_2019,
    SUBCONTRACTOR_KEYS,
    TARIFF_KEYS,
)
from marches.normalize import RecordContext

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
