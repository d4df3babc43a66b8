"""Delete traces older than each team's retention: `manage.py purge_traces [--enqueue]`."""

from django.core.management.base import BaseCommand

from apps.traces import services
from apps.traces.tasks import traces_purge_expired


class Command(BaseCommand):
    help = "Delete traces older than each team's trace_retention_days (0 keeps them forever)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--enqueue",
            action="store_true",
            help="Enqueue the traces_purge_expired task for a worker instead of running now.",
        )

    def handle(self, *args, enqueue=False, **options):
        if enqueue:
            result = traces_purge_expired.enqueue()
            self.stdout.write(f"Enqueued traces_purge_expired ({result.id}).")
            return
        deleted = services.traces_purge_expired()
        total = sum(deleted.values())
        detail = ", ".join(f"{slug}: {n}" for slug, n in deleted.items())
        self.stdout.write(f"Deleted {total} expired trace(s){f' ({detail})' if detail else ''}.")
