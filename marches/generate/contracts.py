"""Realistic synthetic contracts, in the 2022 JSON shape, and their 2019 form.

Buyers and titulaires are drawn from fixed populations with a Zipf-like skew (a few big buyers
and suppliers account for much of the data, as in the national file); amounts are log-normal
with a long tail; dates fall in a period with publication after notification.
Everything derives from one seed: the same seed gives the same data.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from datetime import date, timedelta
from typing import Any

from marches.generate import vocabulary as v
from marches.regulation import origin_applies


def _luhn_digit(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:  # these positions are doubled once the check digit is appended
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def make_siret(rng: random.Random, first: str) -> str:
    """A SIRET whose SIREN and whole number pass the Luhn check (never a La Poste 356000000 one)."""
    siren8 = first + "".join(rng.choices("0123456789", k=8 - len(first)))
    if siren8.startswith("356"):
        siren8 = "357" + siren8[3:]
    siren = siren8 + _luhn_digit(siren8)
    nic = f"{rng.randint(1, 999):04d}"
    return siren + nic + _luhn_digit(siren + nic)


class Zipf:
    """Draws ranks 0..n-1 with probability proportional to 1 / (rank + 1) ** s."""

    def __init__(self, n: int, s: float = 1.05):
        self.cumulative = list(itertools.accumulate(1 / (k**s) for k in range(1, n + 1)))
        self.total = self.cumulative[-1]

    def draw(self, rng: random.Random) -> int:
        return bisect.bisect_left(self.cumulative, rng.random() * self.total)


def _weighted(rng: random.Random, table: tuple[tuple[Any, float], ...]):
    values, weights = zip(*table, strict=True)
    return rng.choices(values, weights)[0]


NATURES = (("Marché", 97.0), ("Marché de défense ou de sécurité", 2.7), ("Marché de partenariat", 0.3))
PROCEDURES = (
    ("Procédure adaptée", 58),
    ("Appel d'offres ouvert", 27),
    ("Appel d'offres restreint", 2),
    ("Procédure avec négociation", 6),
    ("Marché passé sans publicité ni mise en concurrence préalable", 6),
    ("Dialogue compétitif", 1),
)
TECHNIQUES = (
    (("Sans objet",), 56),
    (("Accord-cadre",), 36),
    (("Accord-cadre", "Enchère électronique"), 1),
    (("Système d'acquisition dynamique",), 3),
    (("Catalogue électronique",), 2),
    (("Système de qualification",), 1),
    (("Concours",), 1),
)
TYPES_PRIX = (
    (("Définitif révisable",), 40),
    (("Définitif ferme",), 35),
    (("Définitif actualisable",), 20),
    (("Définitif ferme", "Définitif révisable"), 3),
    (("Provisoire",), 2),
)
FORMES_PRIX = (("Forfaitaire", 45), ("Unitaire", 40), ("Mixte", 15))
SOCIAL = (
    (("Pas de considération sociale",), 72),
    (("Clause sociale",), 18),
    (("Critère social",), 4),
    (("Clause sociale", "Critère social"), 4),
    (("Marché réservé",), 2),
)
ENVIRONMENTAL = (
    (("Pas de considération environnementale",), 60),
    (("Clause environnementale",), 22),
    (("Critère environnemental",), 10),
    (("Clause environnementale", "Critère environnemental"), 8),
)
DURATIONS = (
    (1, 2),
    (2, 2),
    (3, 5),
    (4, 3),
    (6, 8),
    (8, 2),
    (10, 2),
    (12, 22),
    (18, 4),
    (24, 14),
    (36, 14),
    (48, 12),
    (60, 4),
    (72, 2),
    (96, 1),
)
HOLDER_COUNTS = ((1, 82), (2, 11), (3, 4), (4, 2), (5, 1))
CONCESSION_NATURES = (
    ("Délégation de service public", 55),
    ("Concession de service public", 20),
    ("Concession de service", 15),
    ("Concession de travaux", 10),
)
CONCESSION_PROCEDURES = (
    ("Procédure négociée ouverte", 60),
    ("Procédure négociée restreinte", 20),
    ("Procédure non négociée ouverte", 15),
    ("Procédure non négociée restreinte", 5),
)
CONCESSION_SUBJECTS = (
    "Exploitation du service public de l'eau potable",
    "Gestion du service public de l'assainissement collectif",
    "Exploitation de la fourrière automobile",
    "Gestion et exploitation du camping municipal",
    "Exploitation du réseau de chaleur urbain",
    "Gestion de la crèche multi-accueil",
    "Exploitation des parcs de stationnement",
    "Gestion du centre aquatique intercommunal",
    "Exploitation du marché forain",
    "Restauration scolaire en liaison froide",
)
TARIFFS = (
    "Abonnement annuel",
    "Prix du mètre cube",
    "Entrée plein tarif",
    "Entrée tarif réduit",
    "Heure de stationnement",
    "Forfait journée",
    "Repas enfant",
)


class ContractFactory:
    """Builds contracts one by one; populations are drawn once from the seed."""

    def __init__(self, seed: int, contracts: int, start: date, end: date):
        self.rng = random.Random(seed)
        rng = self.rng
        n_buyers = max(50, min(30000, contracts // 55))
        n_holders = max(200, min(200000, contracts // 8))
        self.buyers = [(make_siret(rng, rng.choice("2222223")), self._buyer_name()) for _ in range(n_buyers)]
        self.holders = [(make_siret(rng, rng.choice("345678")), self._company_name()) for _ in range(n_holders)]
        self.buyer_zipf, self.holder_zipf = Zipf(n_buyers), Zipf(n_holders, 0.95)
        self.divisions = tuple(v.DIVISION_WEIGHTS)
        self.division_weights = tuple(itertools.accumulate(v.DIVISION_WEIGHTS.values()))
        self.start, self.end, self.days = start, end, (end - start).days
        self.sequence = 0

    # -- populations ---------------------------------------------------------------------------------

    def _buyer_name(self) -> str:
        rng = self.rng
        town = rng.choice(v.TOWNS)
        return rng.choice(v.BUYER_NAMES).format(
            ville=town, dept=f"du {rng.randint(1, 95):02d}", ccom=f"du pays de {town}", personne=rng.choice(v.PEOPLE)
        )

    def _company_name(self) -> str:
        rng = self.rng
        return f"{rng.choice(v.PEOPLE)} {rng.choice(v.COMPANY_WORDS)} {rng.choice(v.COMPANY_FORMS)}"

    def buyer(self) -> tuple[str, str]:
        return self.buyers[self.buyer_zipf.draw(self.rng)]

    def holders_for(self, count: int, exclude: str) -> list[tuple[str, str]]:
        chosen: dict[str, tuple[str, str]] = {}
        while len(chosen) < count:
            holder = self.holders[self.holder_zipf.draw(self.rng)]
            if holder[0] != exclude:
                chosen[holder[0]] = holder
        return list(chosen.values())

    # -- values --------------------------------------------------------------------------------------

    def day(self, after: date | None = None, within: int = 0) -> date:
        """A day of the period, or one up to ``within`` days after ``after`` but never past the period's end."""
        if after is None:
            return self.start + timedelta(days=self.rng.randrange(self.days))
        later = after + timedelta(days=self.rng.randint(1, within))
        return max(after, min(later, self.end))

    def amount(self, median: float = 90000, sigma: float = 1.25) -> float:
        value = math.exp(self.rng.gauss(math.log(median), sigma))
        value = min(max(value, 1500.0), 400_000_000.0)
        return float(round(value)) if value > 10000 and self.rng.random() < 0.7 else round(value, 2)

    def place(self) -> dict[str, str]:
        rng = self.rng
        dept = rng.choice([f"{d:02d}" for d in range(1, 96) if d != 20] + ["2A", "2B", "971", "974"])
        kind = rng.random()
        if kind < 0.5:
            return {"code": f"{dept}{rng.randint(1, 600):03d}"[:5], "typeCode": "Code commune"}
        if kind < 0.8 and dept.isdigit() and len(dept) == 2:
            return {"code": f"{dept}{rng.choice(['000', '100', '200', '300', '400'])}", "typeCode": "Code postal"}
        return {"code": dept, "typeCode": "Code département"}

    def subject(self, division: str) -> str:
        rng = self.rng
        group = "travaux" if division == "45" else "fournitures" if division <= "44" or division == "48" else "services"
        text = rng.choice(v.SUBJECTS[group]).format(
            lieu=rng.choice(v.PLACES),
            rue=rng.choice(v.STREETS),
            produit=rng.choice(v.PRODUCTS),
            secteur=rng.choice(v.SECTORS),
            logiciel=rng.choice(v.SOFTWARE),
            formation=rng.choice(v.TRAININGS),
        )
        return text + (rng.choice(v.LOTS) if group == "travaux" else "")

    def next_id(self, notified: date) -> str:
        self.sequence += 1
        return (
            f"{notified.year}-{self.sequence:07d}"
            if self.sequence % 3
            else f"{notified.year % 100}M{self.sequence:07d}"
        )

    # -- contracts -----------------------------------------------------------------------------------

    def marche(self) -> dict[str, Any]:
        rng = self.rng
        division = rng.choices(self.divisions, cum_weights=self.division_weights)[0]
        cpv = rng.choice(v.CPV_BY_DIVISION[division])
        buyer_id, _ = self.buyer()
        notified = self.day()
        techniques = list(_weighted(rng, TECHNIQUES))
        if "Accord-cadre" in techniques:
            modalites = [_weighted(rng, (("Bons de commande", 70), ("Marchés subséquents", 30)))]
        else:
            modalites = [_weighted(rng, (("Sans objet", 60), ("Tranches", 20), ("Bons de commande", 20)))]
        holders = self.holders_for(_weighted(rng, HOLDER_COUNTS), buyer_id)
        amount = self.amount(median=140000 if "Accord-cadre" in techniques else 90000)
        duration = _weighted(rng, DURATIONS)
        advance = rng.random() < 0.3
        record: dict[str, Any] = {
            "id": self.next_id(notified),
            "acheteur": {"id": buyer_id},
            "nature": _weighted(rng, NATURES),
            "objet": self.subject(division),
            "codeCPV": cpv,
            "techniques": {"technique": techniques},
            "modalitesExecution": {"modaliteExecution": modalites},
        }
        if "Marchés subséquents" in modalites:
            record["idAccordCadre"] = f"AC{rng.randint(2019, notified.year)}-{rng.randint(1, 9999):04d}"
        record.update(
            {
                "marcheInnovant": rng.random() < 0.02,
                "ccag": self._ccag(division),
                "offresRecues": 1 if rng.random() < 0.18 else min(40, 2 + int(rng.expovariate(0.35))),
                "attributionAvance": advance,
            }
        )
        if advance:
            record["tauxAvance"] = _weighted(rng, ((0.05, 55), (0.1, 15), (0.2, 12), (0.3, 8), (0.0, 10)))
        record["typeGroupementOperateurs"] = (
            "Pas de groupement" if len(holders) == 1 else _weighted(rng, (("Conjoint", 60), ("Solidaire", 40)))
        )
        record.update(
            {
                "procedure": _weighted(rng, PROCEDURES),
                "lieuExecution": self.place(),
                "dureeMois": duration,
                "dateNotification": notified.isoformat(),
                "datePublicationDonnees": self.day(notified, 55).isoformat(),
                "montant": amount,
                "typesPrix": {"typePrix": list(_weighted(rng, TYPES_PRIX))},
                "formePrix": _weighted(rng, FORMES_PRIX),
            }
        )
        if origin_applies(cpv) and rng.random() < 0.7:
            ue = round(rng.uniform(0.3, 1.0), 2)
            record["origineUE"], record["origineFrance"] = ue, round(ue * rng.uniform(0.2, 1.0), 2)
        record["titulaires"] = [{"titulaire": {"typeIdentifiant": "SIRET", "id": h[0]}} for h in holders]
        record["considerationsSociales"] = {"considerationSociale": list(_weighted(rng, SOCIAL))}
        record["considerationsEnvironnementales"] = {
            "considerationEnvironnementale": list(_weighted(rng, ENVIRONMENTAL))
        }
        acts = self._subcontracting(record, division, notified, duration, amount)
        record["sousTraitanceDeclaree"] = bool(acts)
        if rng.random() < 0.14:
            record["modifications"] = self._modifications(notified, amount, duration, buyer_id)
        return record

    def _ccag(self, division: str) -> str:
        if division == "45":
            return "Travaux"
        if division == "71":
            return "Maitrise d'œuvre"
        if division in ("72", "48", "30"):
            return "Techniques de l'information et de la communication"
        if division in ("73", "79", "80", "85"):
            return _weighted(self.rng, (("Prestations intellectuelles", 60), ("Pas de CCAG", 40)))
        if division in ("34", "35", "42", "31"):
            return _weighted(self.rng, (("Marchés industriels", 30), ("Fournitures courantes et services", 70)))
        return _weighted(self.rng, (("Fournitures courantes et services", 85), ("Pas de CCAG", 15)))

    def _subcontracting(self, record: dict, division: str, notified: date, duration: int, amount: float) -> list:
        rng = self.rng
        if rng.random() >= (0.25 if division == "45" else 0.05) or amount < 20000:
            return []
        acts = []
        for k in range(1, rng.choice((1, 1, 1, 2, 3)) + 1):
            sub_id, _ = self.holders[self.holder_zipf.draw(rng)]
            act_notified = self.day(notified, 120)
            acts.append(
                {
                    "acteSousTraitance": {
                        "id": k,
                        "sousTraitant": {"typeIdentifiant": "SIRET", "id": sub_id},
                        "dureeMois": max(1, min(duration, rng.choice((1, 2, 3, 6, 12)))),
                        "dateNotification": act_notified.isoformat(),
                        "datePublicationDonnees": self.day(act_notified, 30).isoformat(),
                        "montant": round(amount * rng.uniform(0.03, 0.3), 2),
                        "variationPrix": _weighted(rng, (("Ferme", 50), ("Actualisable", 20), ("Révisable", 30))),
                    }
                }
            )
        record["actesSousTraitance"] = acts
        if rng.random() < 0.2:
            act = acts[rng.randrange(len(acts))]["acteSousTraitance"]
            changed = self.day(date.fromisoformat(act["dateNotification"]), 90)
            record["modificationsActesSousTraitance"] = [
                {
                    "modificationActeSousTraitance": {
                        "id": act["id"],
                        "dureeMois": act["dureeMois"] + rng.choice((1, 2, 3)),
                        "dateNotificationModificationSousTraitance": changed.isoformat(),
                        "montant": round(act["montant"] * rng.uniform(1.05, 1.3), 2),
                        "datePublicationDonnees": self.day(changed, 30).isoformat(),
                    }
                }
            ]
        return acts

    def _modifications(self, notified: date, amount: float, duration: int, buyer_id: str) -> list:
        rng = self.rng
        items, when = [], notified
        for k in range(1, rng.choice((1, 1, 1, 2, 2, 3)) + 1):
            when = self.day(when, 150)
            item: dict[str, Any] = {
                "id": k,
                "dateNotificationModification": when.isoformat(),
                "datePublicationDonneesModification": self.day(when, 40).isoformat(),
            }
            change = rng.random()
            if change < 0.6:
                amount = round(amount * rng.uniform(1.02, 1.35), 2)
                item["montant"] = amount
            if change > 0.4:
                duration += rng.choice((1, 2, 3, 6, 12))
                item["dureeMois"] = duration
            if rng.random() < 0.08:
                item["titulaires"] = [
                    {"titulaire": {"typeIdentifiant": "SIRET", "id": h[0]}} for h in self.holders_for(1, buyer_id)
                ]
            items.append({"modification": item})
        return items

    def concession(self) -> dict[str, Any]:
        rng = self.rng
        authority, _ = self.buyer()
        signed = self.day()
        start = self.day(signed, 180)
        value = self.amount(median=4_000_000, sigma=1.1)
        record: dict[str, Any] = {
            "id": self.next_id(signed),
            "autoriteConcedante": {"id": authority},
            "nature": _weighted(rng, CONCESSION_NATURES),
            "objet": rng.choice(CONCESSION_SUBJECTS),
            "procedure": _weighted(rng, CONCESSION_PROCEDURES),
            "dureeMois": rng.choice((36, 60, 84, 96, 120, 144, 180, 240, 300)),
            "dateSignature": signed.isoformat(),
            "datePublicationDonnees": (signed + (start - signed) / 2).isoformat(),
            "dateDebutExecution": start.isoformat(),
            "valeurGlobale": value,
            "montantSubventionPublique": 0 if rng.random() < 0.7 else round(value * rng.uniform(0.01, 0.2), 2),
            "concessionnaires": [
                {"concessionnaire": {"typeIdentifiant": "SIRET", "id": h[0]}}
                for h in self.holders_for(rng.choice((1, 1, 1, 2)), authority)
            ],
            "considerationsSociales": {
                "considerationSociale": [
                    _weighted(
                        rng,
                        (
                            ("Pas de considération sociale", 70),
                            ("Clause sociale", 20),
                            ("Critère social", 7),
                            ("Concession réservée", 3),
                        ),
                    )
                ]
            },
            "considerationsEnvironnementales": {"considerationEnvironnementale": list(_weighted(rng, ENVIRONMENTAL))},
        }
        if rng.random() < 0.4:
            years = []
            for _ in range(rng.choice((1, 1, 2))):
                published = self.day(start, 400)
                years.append(
                    {
                        "donneesAnnuelles": {
                            "datePublicationDonneesExecution": published.isoformat(),
                            "depensesInvestissement": round(value * rng.uniform(0.0, 0.08), 2),
                            "tarifs": [
                                {"tarif": {"intituleTarif": name, "tarif": round(rng.uniform(0.5, 60), 2)}}
                                for name in rng.sample(TARIFFS, rng.choice((1, 2, 3)))
                            ],
                        }
                    }
                )
            record["donneesExecution"] = years
        if rng.random() < 0.1:
            changed = self.day(signed, 300)
            record["modifications"] = [
                {
                    "modification": {
                        "id": 1,
                        "dateSignatureModification": changed.isoformat(),
                        "datePublicationDonneesModification": self.day(changed, 30).isoformat(),
                        "dureeMois": record["dureeMois"] + 12,
                        "valeurGlobale": round(value * 1.1, 2),
                    }
                }
            ]
        return record
