"""Benchmark data: N approved en->fr translations in one project, 5% duplicates and 2% dirty rows.

Run: .venv/bin/python tests/bench/dataset_data.py [--rows 1000000] [--database attune_bench_datasets]
Creates (or reuses, when it already holds the same number of rows) a database of its own, migrated
with `attune migrate`, with one organization, one project and one prompt. Rows are deterministic.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
ADMIN_DSN = os.environ.get("ATTUNE_BENCH_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
DUPLICATE_SHARE = 0.05
DIRTY_SHARE = 0.02
ORG_ID = "org_bench"
PROJECT_ID = "proj_bench"
PROMPT_ID = "prm_bench"


def database_url(database: str) -> str:
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"


# Common words: real text tokenizes to about one token per word (random letters would not).
ENGLISH = (  # noqa: SIM905 - a sentence is easier to read than a list
    "the a file project settings save open close delete new old user account server model language review "
    "approved string key window export import data report error message button menu option value before "
    "after your this with from into every click change select search filter sort name date time today "
    "week month year price total order payment invoice customer address email phone password login logout "
    "sign in out up down next previous back home help about contact support team share copy paste edit "
    "view download upload send receive accept cancel confirm continue finish start stop pause resume "
    "update install remove add create list show hide enable disable allow block notification setting "
    "profile picture document folder page section chapter note comment reply like follow message chat "
    "call video audio music photo camera map location city country region currency amount balance"
).split()
FRENCH = (  # noqa: SIM905
    "le la les un une fichier projet paramètres enregistrer ouvrir fermer supprimer nouveau ancien "
    "utilisateur compte serveur modèle langue relire approuvé chaîne clé fenêtre exporter importer données "
    "rapport erreur message bouton menu option valeur avant après votre ce avec de dans chaque cliquer "
    "changer sélectionner rechercher filtrer trier nom date heure aujourd'hui semaine mois année prix "
    "total commande paiement facture client adresse courriel téléphone mot passe connexion déconnexion "
    "aide propos contact assistance équipe partager copier coller modifier afficher télécharger envoyer "
    "recevoir accepter annuler confirmer continuer terminer démarrer arrêter reprendre mettre jour "
    "installer retirer ajouter créer liste montrer masquer activer désactiver autoriser bloquer "
    "notification réglage profil photo document dossier page section chapitre note commentaire répondre"
).split()


def rows(count: int, seed: int = 42) -> list[tuple[str, str, str, str, str, str | None, datetime]]:
    """(key, source_language, target_language, source_text, target_text, context, approved_at) rows."""
    rng = random.Random(seed)
    english, french = ENGLISH, FRENCH
    start = datetime(2025, 1, 1, tzinfo=UTC)
    produced: list[tuple[str, str, str, str, str, str | None, datetime]] = []
    for index in range(count):
        approved = start + timedelta(seconds=index * 7 + rng.randint(0, 6))
        roll = rng.random()
        if produced and roll < DUPLICATE_SHARE:
            _, sl, tl, source, target, context, _ = produced[rng.randrange(len(produced))]
            if rng.random() < 0.3:  # a newer, different translation of the same source
                target = target + " " + rng.choice(french)
            produced.append((f"k{index}", sl, tl, source, target, context, approved))
            continue
        words = rng.randint(4, 16)
        source = " ".join(rng.choice(english) for _ in range(words)).capitalize()
        target = " ".join(rng.choice(french) for _ in range(words + rng.randint(-1, 2))).capitalize()
        if index % 10 == 0:
            source, target = source + " {0}", target + " {0}"
        if roll < DUPLICATE_SHARE + DIRTY_SHARE:
            kind = index % 4
            if kind == 0:
                target = ""
            elif kind == 1:
                target = source
            elif kind == 2:
                source += " %s"
            else:
                target = target[:3]
        context = "button label" if index % 20 == 0 else None
        produced.append((f"k{index}", "en", "fr", source, target, context, approved))
    return produced


async def prepare(database: str, count: int) -> None:
    """Create, migrate and fill the benchmark database unless it already holds `count` rows."""
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            await admin.execute(f'CREATE DATABASE "{database}"')
    finally:
        await admin.close()
    environment = os.environ | {"ATTUNE_DATABASE_URL": database_url(database)}
    subprocess.run([sys.executable, "-m", "services.cli", "migrate"], check=True, cwd=ROOT, env=environment,
                   capture_output=True)  # fmt: skip
    connection = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{database}")
    try:
        have = await connection.fetchval(
            "SELECT count(*) FROM translations WHERE project_id = $1", PROJECT_ID
        )
        if have == count:
            return
        started = time.monotonic()
        await connection.execute("DELETE FROM datasets; DELETE FROM files; DELETE FROM translations")
        await connection.execute(
            "INSERT INTO organizations (id, name) VALUES ($1, 'Bench') ON CONFLICT DO NOTHING", ORG_ID
        )
        await connection.execute(
            "INSERT INTO projects (id, organization_id, name, source_language, target_languages) "
            "VALUES ($1, $2, 'Bench', 'en', '{fr}') ON CONFLICT DO NOTHING",
            PROJECT_ID,
            ORG_ID,
        )
        await connection.execute(
            "INSERT INTO prompts (id, organization_id, name, system, user_template) VALUES ($1, $2, 'Bench', "
            "'You translate software strings from {source_language} to {target_language}.', "
            "'Translate: {source_text}') ON CONFLICT DO NOTHING",
            PROMPT_ID,
            ORG_ID,
        )
        records = [(PROJECT_ID, *row) for row in rows(count)]
        await connection.copy_records_to_table(
            "translations",
            records=records,
            columns=["project_id", "key", "source_language", "target_language", "source_text", "target_text",
                     "context", "approved_at"],
        )  # fmt: skip
        await connection.execute("VACUUM ANALYZE translations")
        print(f"generated {count} rows in {time.monotonic() - started:.1f} s", file=sys.stderr)
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database", default="attune_bench_datasets")
    arguments = parser.parse_args()
    asyncio.run(prepare(arguments.database, arguments.rows))


if __name__ == "__main__":
    main()
