"""The `promptyard` command line.

    promptyard get support-reply --tag production
    promptyard get support-reply --version 3 --var question="Where is my order?"

Subcommands register themselves in SUBCOMMANDS (name -> (add_arguments, run)), so other
commands (e.g. a CI `gate`) plug in without touching `main`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from promptyard.errors import PromptyardError
from promptyard.rendering import RenderError

if TYPE_CHECKING:
    from promptyard.client import Promptyard

AddArguments = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]

SUBCOMMANDS: dict[str, tuple[AddArguments, Run, str]] = {}


def subcommand(name: str, help_text: str) -> Callable[[AddArguments], Callable[[Run], Run]]:
    def register(add_arguments: AddArguments) -> Callable[[Run], Run]:
        def wrap(run: Run) -> Run:
            SUBCOMMANDS[name] = (add_arguments, run, help_text)
            return run

        return wrap

    return register


def _client(args: argparse.Namespace) -> Promptyard:
    from promptyard.client import Promptyard

    return Promptyard(
        api_key=args.api_key, base_url=args.base_url, timeout=args.timeout, cache_dir=args.cache_dir
    )


def _parse_var(text: str) -> tuple[str, object]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"--var expects name=value, got {text!r}")
    try:
        return name, json.loads(value)
    except ValueError:
        return name, value  # plain text


def _get_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="prompt name")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--tag", default="production", help="tag to fetch (default: production)")
    group.add_argument("--version", type=int, help="a pinned version number")
    parser.add_argument(
        "--var",
        action="append",
        type=_parse_var,
        default=[],
        metavar="NAME=VALUE",
        help="render with this variable (JSON values accepted); repeatable",
    )


@subcommand("get", "print a prompt version as JSON, or render it with --var")(_get_arguments)
def run_get(args: argparse.Namespace) -> int:
    with _client(args) as client:
        prompt = client.get_prompt(
            args.name, tag=None if args.version else args.tag, version=args.version
        )
    if args.var:
        rendered = prompt.render(**dict(args.var))
        print(rendered if isinstance(rendered, str) else json.dumps(rendered, indent=2))
    else:
        print(json.dumps(prompt.to_dict(), indent=2))
    return 0


def _eval_arguments(parser: argparse.ArgumentParser) -> None:
    from promptyard.evaluate import add_arguments

    add_arguments(parser)


@subcommand("eval", "gate CI: compare a candidate with a tagged version on a dataset")(
    _eval_arguments
)
def run_eval(args: argparse.Namespace) -> int:
    from promptyard.evaluate import run

    return run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="promptyard", description="Promptyard client.")
    parser.add_argument("--api-key", help="API key (default: $PROMPTYARD_API_KEY)")
    parser.add_argument("--base-url", help="server URL (default: $PROMPTYARD_BASE_URL)")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds per request")
    parser.add_argument("--cache-dir", help="disk cache directory (default: none)")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, (add_arguments, run, help_text) in SUBCOMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text)
        add_arguments(sub)
        sub.set_defaults(run=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except RenderError as exc:
        print(f"promptyard: render error: {exc.message}", file=sys.stderr)
        return 2
    except PromptyardError as exc:
        print(f"promptyard: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
