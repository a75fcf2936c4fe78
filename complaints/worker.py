"""The background worker: deliver the email outbox and record deadline breaches, every N seconds.

Run it as ``complaints worker`` (production: one or more, anywhere, sharing only the
database; both jobs are safe to run concurrently) or as ``python -m complaints.worker``,
which is how ``complaints start`` runs it beside the web server: a separate process, so no
thread is started in the gunicorn master before it forks. SIGTERM or SIGINT stops it after
the pass in progress.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Flask

from complaints import clock
from complaints.db import get_db
from complaints.mail import SmtpSettings
from complaints.services import deadlines, outbox

log = logging.getLogger(__name__)


@dataclass
class PassReport:
    """What one pass did."""

    delivery: outbox.DeliveryReport | None = None
    breaches: int = 0
    errors: list[str] = field(default_factory=list)


def run_pass(app: Flask) -> PassReport:
    """One pass of both jobs; a failure of one (the SMTP server, the database restarting) is
    reported and does not stop the other."""
    report = PassReport()
    config = app.config
    with app.app_context():
        db = get_db()
        try:
            report.delivery = outbox.deliver_pending(
                db,
                now=clock.now,
                smtp_settings=SmtpSettings.from_config(config),
                limit=config["OUTBOX_BATCH_SIZE"],
                retry=outbox.RetryPolicy.from_config(config),
            )
        except Exception as exc:
            log.exception("outbox delivery failed")
            report.errors.append(f"delivery: {exc}")
        try:
            report.breaches = deadlines.check_deadlines(db, clock.now())
        except Exception as exc:
            log.exception("deadline check failed")
            report.errors.append(f"check-deadlines: {exc}")
    return report


def run_loop(
    app: Flask,
    stop: threading.Event,
    *,
    interval: float | None = None,
    on_pass: Callable[[PassReport], None] | None = None,
) -> None:
    """Pass after pass until ``stop`` is set (checked between passes and while waiting)."""
    wait = float(interval if interval is not None else app.config["WORKER_INTERVAL_SECONDS"])
    while not stop.is_set():
        report = run_pass(app)
        if on_pass is not None:
            on_pass(report)
        stop.wait(wait)


def stop_on_signals(stop: threading.Event) -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_args: stop.set())


def spawn() -> subprocess.Popen[bytes]:
    """Start ``python -m complaints.worker`` with this process's environment (``complaints start``)."""
    return subprocess.Popen([sys.executable, "-m", "complaints.worker"])


def terminate(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Ask the worker to stop after its pass (SIGTERM), then insist."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> None:
    """``python -m complaints.worker``: the app from the environment, as the server has it."""
    from complaints import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(message)s")
    app = create_app()
    stop = threading.Event()
    stop_on_signals(stop)
    log.info("started: outbox delivery and deadline checks every %ss", app.config["WORKER_INTERVAL_SECONDS"])

    def show(report: PassReport) -> None:
        if report.breaches:
            log.info("%d deadline breaches recorded", report.breaches)
        if report.delivery is not None and report.delivery.attempted:
            d = report.delivery
            log.info("%d sent, %d to retry, %d failed", d.sent, d.retrying, d.failed)

    try:
        run_loop(app, stop, on_pass=show)
    finally:
        get_db(app).dispose()
    log.info("stopped")


if __name__ == "__main__":
    main()
