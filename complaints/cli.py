"""Command line: ``flask --app wsgi complaints …`` or the ``complaints`` script."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, FlaskGroup
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select

from complaints import clock
from complaints.db import get_db
from complaints.mail import SmtpSettings
from complaints.models import Case
from complaints.services import deadlines, outbox
from complaints.services.history import verify_case
from complaints.services.phrase_list import ensure_default_phrases
from complaints.services.staff import StaffError, create_token, create_user, get_user_by_email
from complaints.vocab import ROLES

group = AppGroup("complaints", help="Complaint case management commands.")


def _upgrade() -> None:
    """Migrate (init-db, demo and start), then seed what the schema needs: the built-in phrases."""
    from complaints.migrate import upgrade

    upgrade(get_db().engine)
    with get_db().transaction() as s:
        ensure_default_phrases(s)


@group.command("init-db")
def init_db() -> None:
    """Create the database or upgrade it to the latest schema."""
    _upgrade()
    click.echo(_("Database is at the latest schema."))


@group.command("create-user")
@click.argument("email")
@click.option("--name", required=True)
@click.option("--role", "roles", multiple=True, required=True, type=click.Choice(list(ROLES)))
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--locale", type=click.Choice(["en", "zh_CN"]), default=None)
def create_user_cmd(email: str, name: str, roles: tuple[str, ...], password: str, locale: str | None) -> None:
    """Create a staff account with one or more roles."""
    try:
        with get_db().transaction() as s:
            user = create_user(s, email, name, roles, password, locale=locale)
            click.echo(
                _("Created %(email)s (%(roles)s).", email=user.email, roles=", ".join(sorted(user.roles)))
            )
    except StaffError as e:
        raise click.ClickException(str(e)) from None


@group.command("create-token")
@click.argument("email")
def create_token_cmd(email: str) -> None:
    """Make an API token for a user and print it (alone) on stdout; it is not shown again."""
    with get_db().transaction() as s:
        user = get_user_by_email(s, email)
        if user is None or not user.active:
            raise click.ClickException(_("No active user %(email)s.", email=email))
        click.echo(create_token(s, user))


@group.command("demo")
def demo_cmd() -> None:
    """Load demo users for every role and a few cases, and print the logins."""
    from complaints.demo import load_demo

    _upgrade()
    with get_db().transaction() as s:
        logins = load_demo(s, Path(current_app.instance_path))
    _print_logins(logins)


def _print_logins(logins: list) -> None:
    if not logins:
        click.echo(_("Demo users exist already; their passwords were printed when they were made."))
        return
    click.echo(_("Demo logins (email / password / roles):"))
    for email, password, roles in logins:
        click.echo(f"  {email:28} {password:16} {roles}")


@group.command("verify-history")
def verify_history_cmd() -> None:
    """Check every case's hash chain and that its state equals the replay of its events."""
    bad = 0
    total = 0
    with get_db().transaction(write=False) as s:
        for case in s.scalars(select(Case).order_by(Case.id)).yield_per(500):
            total += 1
            problem = verify_case(s, case, current_app.config["FOLLOW_UP_WINDOW"])
            if problem is not None:
                bad += 1
                where = _("event %(seq)d", seq=problem.seq) if problem.seq is not None else _("state")
                click.echo(f"{case.reference}: {where}: {problem.reason}")
    click.echo(_("%(total)d cases checked, %(bad)d with a broken history.", total=total, bad=bad))
    if bad:
        sys.exit(1)


@group.command("deliver")
@click.option("--once", "mode", flag_value="once", default=True, help="One pass, then exit (the default).")
@click.option("--loop", "mode", flag_value="loop", help="Keep delivering until stopped (Ctrl+C, SIGTERM).")
@click.option("--interval", default=30.0, show_default=True, type=float, help="Seconds between passes.")
@click.option("--limit", default=None, type=int, help="Messages per pass [default: OUTBOX_BATCH_SIZE].")
@click.option("--retry-failed", is_flag=True, help="First queue again the messages that ran out of retries.")
def deliver_cmd(mode: str, interval: float, limit: int | None, retry_failed: bool) -> None:
    """Send the email outbox over SMTP (SMTP_* settings), retrying failures with back-off."""
    config = current_app.config
    db = get_db()
    smtp = SmtpSettings.from_config(config)
    retry = outbox.RetryPolicy.from_config(config)
    limit = limit or config["OUTBOX_BATCH_SIZE"]
    if retry_failed:
        with db.transaction() as s:
            n = outbox.retry_failed(s, now=clock.now())
        click.echo(_("%(n)d failed messages queued again.", n=n))
    if not smtp.configured:
        with db.transaction(write=False) as s:
            counts = outbox.outbox_counts(s)
        click.echo(
            _(
                "SMTP is not configured (SMTP_HOST is empty): nothing was sent; "
                "%(pending)d messages stay queued, %(failed)d failed.",
                pending=counts["pending"],
                failed=counts["failed"],
            )
        )
        return

    def show(report: outbox.DeliveryReport) -> None:
        if mode == "once" or report.attempted or report.skipped:
            click.echo(
                _(
                    "%(sent)d sent, %(retrying)d to retry, %(failed)d failed.",
                    sent=report.sent,
                    retrying=report.retrying,
                    failed=report.failed,
                )
            )
        for error in report.errors:
            click.echo(_("SMTP error: %(error)s", error=error), err=True)

    if mode == "once":
        show(outbox.deliver_pending(db, now=clock.now, smtp_settings=smtp, limit=limit, retry=retry))
        return
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_args: stop.set())
    click.echo(_("Delivering every %(interval)s seconds; Ctrl+C stops.", interval=interval))
    outbox.delivery_loop(
        db,
        smtp_settings=smtp,
        retry=retry,
        limit=limit,
        interval=interval,
        stop=stop,
        clock=clock.now,
        on_pass=show,
        on_error=lambda exc: click.echo(_("Delivery pass failed: %(error)s", error=exc), err=True),
    )


@group.command("check-deadlines")
def check_deadlines_cmd() -> None:
    """Record a deadline_breached event for each case past its deadline (once per breach)."""
    n = deadlines.check_deadlines(get_db(), clock.now())
    click.echo(ngettext("%(num)d deadline breach recorded.", "%(num)d deadline breaches recorded.", n))


@group.command("worker")
@click.option(
    "--interval", default=None, type=float, help="Seconds between passes [default: WORKER_INTERVAL_SECONDS]."
)
def worker_cmd(interval: float | None) -> None:
    """Deliver the email outbox and record deadline breaches until stopped (Ctrl+C, SIGTERM)."""
    from complaints import worker

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    stop = threading.Event()
    worker.stop_on_signals(stop)
    every = interval if interval is not None else app.config["WORKER_INTERVAL_SECONDS"]
    click.echo(
        _("Delivering email and checking deadlines every %(interval)s seconds; Ctrl+C stops.", interval=every)
    )

    def show(report: worker.PassReport) -> None:
        if report.breaches:
            click.echo(
                ngettext(
                    "%(num)d deadline breach recorded.",
                    "%(num)d deadline breaches recorded.",
                    report.breaches,
                )
            )
        for error in report.errors:
            click.echo(error, err=True)

    worker.run_loop(app, stop, interval=every, on_pass=show)


@group.command("start")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
@click.option("--no-demo", is_flag=True, help="Do not load demo users and cases.")
@click.option("--no-worker", is_flag=True, help="Do not run the background worker (email, deadlines).")
def start_cmd(host: str, port: int, workers: int, no_demo: bool, no_worker: bool) -> None:
    """Migrate, load demo data on first start, and serve with gunicorn."""
    from complaints.demo import load_demo

    _upgrade()
    if not no_demo:
        with get_db().transaction() as s:
            logins = load_demo(s, Path(current_app.instance_path))
        _print_logins(logins)
    click.echo(_("Serving on %(url)s  (Ctrl+C stops)", url=f"http://{host}:{port}/"))
    get_db().dispose()  # workers open their own connections after the fork
    from complaints import worker

    # Email delivery and deadline checks run in a child process, not a thread of the master.
    background = None if no_worker else worker.spawn()
    try:
        serve(current_app._get_current_object(), host, port, workers)  # type: ignore[attr-defined]
    finally:
        if background is not None:
            worker.terminate(background)


def serve(app: Flask, host: str, port: int, workers: int) -> None:
    from gunicorn.app.base import BaseApplication

    class _Server(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", 4)
            self.cfg.set("accesslog", "-")

        def load(self) -> Flask:
            return app

    _Server().run()


def init_app(app: Flask) -> None:
    app.cli.add_command(group)


def main() -> None:
    """The ``complaints`` console script: the same commands, no ``flask`` needed."""
    from complaints import create_app

    cli = FlaskGroup(
        create_app=lambda: create_app(), add_default_commands=False, help="Complaint case management."
    )
    for name, cmd in group.commands.items():
        cli.add_command(cmd, name)
    cli.main(prog_name="complaints")
