"""`manage.py demo_echo`: serve the deterministic demo-echo model server (not an LLM)."""

from django.core.management.base import BaseCommand

from apps.core.cpus import keep_to_background_cpus
from apps.llm.demo_echo import DemoEchoOptions, DemoEchoServer


class Command(BaseCommand):
    help = (
        "Serve demo-echo, a deterministic OpenAI-compatible test server (not an LLM), "
        "with optional latency, injected faults and a rate limit."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument("--latency-ms", type=int, default=0, help="delay before each answer")
        parser.add_argument(
            "--chunk-delay-ms",
            type=int,
            default=20,
            help="delay between streamed chunks, so streaming is visible (default 20)",
        )
        parser.add_argument("--rate-429", type=float, default=0.0, help="share of 429 answers")
        parser.add_argument("--rate-500", type=float, default=0.0, help="share of 500 answers")
        parser.add_argument(
            "--rate-timeout", type=float, default=0.0, help="share of answers that hang"
        )
        parser.add_argument(
            "--retry-after", type=float, default=1.0, help="Retry-After seconds sent with 429s"
        )
        parser.add_argument(
            "--timeout-sleep", type=float, default=120.0, help="how long a 'timeout' hangs"
        )
        parser.add_argument(
            "--limit-rps",
            type=float,
            default=0.0,
            help="rate limit: requests per second (token bucket; 429 with Retry-After)",
        )
        parser.add_argument(
            "--limit-burst",
            type=float,
            default=None,
            help="requests the bucket holds (default: one second's worth)",
        )
        parser.add_argument(
            "--limit-tpm", type=float, default=0.0, help="rate limit: tokens per minute"
        )
        parser.add_argument("--seed", type=int, default=0, help="seed of the fault draws")
        parser.add_argument("--api-key", default=None, help="require this bearer key")

    def handle(self, *args, **opts):
        # It stands in for a provider on another host: beside the task workers, off the
        # CPUs left to requests (apps/core/cpus.py).
        keep_to_background_cpus()
        options = DemoEchoOptions(
            latency_ms=opts["latency_ms"],
            chunk_delay_ms=opts["chunk_delay_ms"],
            rate_429=opts["rate_429"],
            rate_500=opts["rate_500"],
            rate_timeout=opts["rate_timeout"],
            retry_after=opts["retry_after"],
            timeout_sleep=opts["timeout_sleep"],
            seed=opts["seed"],
            api_key=opts["api_key"],
            limit_rps=opts["limit_rps"],
            limit_burst=opts["limit_burst"],
            limit_tpm=opts["limit_tpm"],
        )
        server = DemoEchoServer((opts["host"], opts["port"]), options)
        self.stdout.write(
            f"demo-echo (deterministic test server, not an LLM) on {server.base_url}", ending="\n"
        )
        self.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
