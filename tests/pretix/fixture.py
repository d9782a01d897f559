"""A real Pretix for the end-to-end tests, on SQLite, on 127.0.0.1 only.

    python fixture.py prepare
        Migrates an empty database once and keeps it under .pretix/cache
        (about 100 s the first time); later runs copy it in seconds.

    python fixture.py serve --state DIR --port PORT
        Copies the migrated database into DIR, seeds an organizer, an event,
        items, a check-in list and two team API tokens, writes DIR/fixture.json
        and serves Pretix's API on 127.0.0.1:PORT until killed.

The seeded `ausweis` token may only read orders and check in, as the
ausweis documentation asks of operators; the `admin` token may also write
orders, and the tests use it to make paid, pending and cancelled orders.
"""

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CACHE = REPO / ".pretix" / "cache"


def configure(state: Path) -> None:
    """Points Pretix at a config file and settings for `state`."""
    state.mkdir(parents=True, exist_ok=True)
    (state / "data").mkdir(exist_ok=True)
    cfg = state / "pretix.cfg"
    cfg.write_text(
        "[pretix]\n"
        "instance_name=ausweis-e2e\n"
        "url=http://127.0.0.1\n"
        f"datadir={state / 'data'}\n"
        "ecb_rates=off\n"
        "[database]\n"
        "backend=sqlite3\n"
        f"name={state / 'db.sqlite3'}\n"
        "[django]\n"
        "debug=off\n"
        "secret=ausweis-e2e-not-a-secret\n"
        "[mail]\n"
        "from=pretix@localhost\n"
    )
    os.environ["PRETIX_CONFIG_FILE"] = str(cfg)
    # Our settings module: Pretix's, with SQLite told to wait for locks and
    # to take the write lock at the start of each transaction, so parallel
    # check-ins of one ticket queue up instead of failing with "database is
    # locked".
    sys.path.insert(0, str(HERE))
    os.environ["DJANGO_SETTINGS_MODULE"] = "pretix_sqlite_settings"


def version() -> str:
    from importlib.metadata import version as v

    return v("pretix")


def prepare() -> Path:
    """The migrated empty database for this Pretix version, made if needed."""
    CACHE.mkdir(parents=True, exist_ok=True)
    cached = CACHE / f"migrated-{version()}.sqlite3"
    if cached.exists():
        return cached
    work = CACHE / "migrating"
    shutil.rmtree(work, ignore_errors=True)
    configure(work)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    tmp = CACHE / "migrated.tmp"
    shutil.copyfile(work / "db.sqlite3", tmp)
    tmp.rename(cached)
    shutil.rmtree(work, ignore_errors=True)
    return cached


def seed(state: Path, port: int) -> dict:
    from decimal import Decimal

    from django.utils.timezone import now
    from django_scopes import scopes_disabled
    from pretix.base.models import Organizer

    with scopes_disabled():
        org = Organizer.objects.create(name="Association", slug="assoc")
        event = org.events.create(
            name="Memberships",
            slug="shop",
            date_from=now(),
            currency="EUR",
            live=True,
        )
        membership = event.items.create(name="Membership", default_price=Decimal("30"))
        cloud = event.items.create(name="Cloud storage", default_price=Decimal("10"))
        sticker = event.items.create(name="Sticker", default_price=Decimal("1"))
        chat = event.items.create(name="Chat", default_price=Decimal("5"))
        chat_year = chat.variations.create(value="Year")
        chat_month = chat.variations.create(value="Month")
        quota = event.quotas.create(name="unlimited", size=None)
        quota.items.add(membership, cloud, sticker, chat)
        quota.variations.add(chat_year, chat_month)
        checkin_list = event.checkin_lists.create(name="ausweis", all_products=True)

        reader = org.teams.create(
            name="ausweis",
            all_events=True,
            limit_event_permissions={"event.orders:read": True, "event.orders:checkin": True},
        )
        admin = org.teams.create(name="tests", all_events=True, all_event_permissions=True)
        fixture = {
            "url": f"http://127.0.0.1:{port}",
            "organizer": org.slug,
            "event": event.slug,
            "checkin_list": checkin_list.pk,
            "token": reader.tokens.create(name="ausweis").token,
            "admin_token": admin.tokens.create(name="tests").token,
            "items": {
                "membership": membership.pk,
                "cloud": cloud.pk,
                "sticker": sticker.pk,
                "chat": chat.pk,
            },
            "variations": {"chat_year": chat_year.pk, "chat_month": chat_month.pk},
        }
    out = state / "fixture.json"
    tmp = state / "fixture.tmp"
    tmp.write_text(json.dumps(fixture))
    tmp.rename(out)
    return fixture


def exit_with_parent(parent: int, state: Path) -> None:
    """Ends this process once `parent` (the test run) is gone, so that no
    Pretix outlives the tests, and removes its state; checks once a second."""
    import threading
    import time

    def watch() -> None:
        while True:
            try:
                os.kill(parent, 0)
            except OSError:
                shutil.rmtree(state, ignore_errors=True)
                os._exit(0)
            time.sleep(1)

    threading.Thread(target=watch, daemon=True).start()


def serve(state: Path, port: int) -> None:
    cached = prepare()
    shutil.rmtree(state, ignore_errors=True)
    configure(state)
    shutil.copyfile(cached, state / "db.sqlite3")
    import django
    from django.core.management import call_command

    django.setup()
    seed(state, port)
    # threaded, so that concurrent requests reach Pretix concurrently
    call_command("runserver", f"127.0.0.1:{port}", use_reloader=False, verbosity=0)


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("prepare")
    s = sub.add_parser("serve")
    s.add_argument("--state", required=True, type=Path)
    s.add_argument("--port", required=True, type=int)
    s.add_argument("--parent", type=int, help="exit when this process is gone")
    args = parser.parse_args()
    if args.cmd == "prepare":
        print(prepare())
    else:
        if args.parent:
            exit_with_parent(args.parent, args.state)
        serve(args.state, args.port)


if __name__ == "__main__":
    main()
