"""The ``orthokit`` command: wiring only; the work lives in the library."""

import argparse
import sys

from orthokit.evaluation._audit import add_audit_parser


def _demo(args):
    from orthokit._demo import run_demo

    return run_demo(plot=args.plot)


def _add_bench_parser(commands):
    from orthokit._bench import add_bench_parser

    return add_bench_parser(commands)


def build_parser():
    """Return the argument parser of the ``orthokit`` command."""
    parser = argparse.ArgumentParser(
        prog="orthokit",
        description="Remove and audit the influence of protected attributes.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="Show the correction on the shipped Adult data."
    )
    demo.add_argument("--plot", default=None, help="Write a before/after plot here.")
    demo.set_defaults(handler=_demo)
    add_audit_parser(commands)
    _add_bench_parser(commands)
    return parser


def main(argv=None):
    """Run the ``orthokit`` command; return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
