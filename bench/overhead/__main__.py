"""The command line: ``python -m bench.overhead``."""

import argparse
import asyncio
import shutil
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from bench import overhead
from bench.overhead.legs import LITELLM, REPLYD, STUB, WITH_ENDPOINT, Leg, Row, chat_sender, measure, reply_sender
from bench.overhead.litellm_proxy import MASTER_KEY, MODEL, litellm_command, litellm_config, litellm_env
from bench.overhead.load import Load
from bench.overhead.peers import RECEIVER_SERVER, STUB_SERVER
from bench.overhead.replyd_server import (
    Deployment,
    events_delivered,
    fresh_database,
    replyd_command,
    replyd_env,
    seed,
)
from bench.overhead.report import machine, position_table, table, targets
from bench.processes import free_port, logged_errors, profiling, running
from bench.tool_env import REQUIREMENTS, tool_bin
from replyd.store.session import display_url

REPO = Path(__file__).resolve().parents[2]
CLOSED_LOOPS = ((1, 200), (16, 960), (64, 1920))
"""(concurrent customers, measured requests); the requests are split evenly among the customers."""
OPEN_LOOP_CUSTOMERS = 64
OPEN_LOOP_S = 10
"""How long messages arrive in an open loop: ``rate`` x this many are measured."""
DEFAULT_RATE = 100.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.overhead", description=overhead.__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only",
        type=int,
        metavar="CUSTOMERS",
        action="append",
        help="a closed loop at this many customers, of 1, 16 and 64 (repeatable)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        metavar="PER_S",
        action="append",
        help=f"an open loop at this many messages a second over {OPEN_LOOP_CUSTOMERS} customers (repeatable); with "
        f"neither --only nor --rate: closed loops at 1, 16 and 64 customers and an open loop at {DEFAULT_RATE:g}/s",
    )
    parser.add_argument("--no-litellm", action="store_true", help="leave out the LiteLLM proxy leg")
    parser.add_argument(
        "--endpoint",
        action="store_true",
        help="also measure replyd for an account with one event endpoint (every type, a local receiver): "
        "CPU per reply counts delivering its events",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="with --endpoint: pairs of replyd legs without and with the endpoint, back to back (default 5); "
        "the target is judged on the median of their differences",
    )
    parser.add_argument(
        "--think-ms",
        type=float,
        default=0.0,
        help="closed loops: mean pause of each customer between its messages (exponential); default 0, full speed",
    )
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server to run on (a fresh database is made)")
    parser.add_argument("--redis", metavar="URL", help="a Redis server for shared limits and locks")
    parser.add_argument("--workers", type=int, default=1, help="replyd worker processes (default 1)")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="sample replyd (all its workers) with `py-spy record` and write its collapsed stacks to FILE",
    )
    return parser.parse_args()


def loads(only: list[int] | None, rates: list[float] | None) -> list[Load]:
    if not only and not rates:
        only, rates = [customers for customers, _ in CLOSED_LOOPS], [DEFAULT_RATE]
    closed = [Load(customers, requests) for customers, requests in CLOSED_LOOPS if customers in (only or [])]
    return closed + [Load(OPEN_LOOP_CUSTOMERS, round(rate * OPEN_LOOP_S), rate) for rate in rates or []]


def run(args: argparse.Namespace, work: Path, deployment: Deployment, tools: Path | None) -> list[Row]:
    """Seed a fresh database, start the stub, LiteLLM's proxy and replyd, measure every load."""
    with fresh_database(work, deployment.postgres_url) as database_url, ExitStack() as servers:
        token, assistant_id = seed(database_url)
        stub_port, litellm_port, replyd_port = free_port(), free_port(), free_port()
        stub_url = f"http://127.0.0.1:{stub_port}/v1"
        stub_command = [sys.executable, "-c", STUB_SERVER, str(stub_port)]
        stub = servers.enter_context(running("the stub model", stub_command, stub_port, work / "stub.log", cwd=REPO))
        legs = [Leg(STUB, stub_url, stub.pid, chat_sender("stub-model"))]
        if tools and not args.no_litellm:
            print("starting LiteLLM's proxy (half a minute) ...", file=sys.stderr)
            command = litellm_command(tools, litellm_config(work, stub_url), litellm_port)
            log = work / "litellm.log"
            litellm = servers.enter_context(running("LiteLLM", command, litellm_port, log, cwd=work, env=litellm_env()))
            legs.append(Leg(LITELLM, f"http://127.0.0.1:{litellm_port}", litellm.pid, chat_sender(MODEL, MASTER_KEY)))
        command = replyd_command(replyd_port, deployment.workers)
        env = replyd_env(database_url, stub_url, deployment.redis_url)
        replyd = servers.enter_context(
            running("replyd serve", command, replyd_port, work / "replyd.log", cwd=work, env=env)
        )
        legs.append(Leg(REPLYD, f"http://127.0.0.1:{replyd_port}", replyd.pid, reply_sender(token, assistant_id)))
        if args.endpoint:
            receiver_port = free_port()
            receiver_command = [sys.executable, "-c", RECEIVER_SERVER, str(receiver_port)]
            servers.enter_context(running("the event receiver", receiver_command, receiver_port, work / "receiver.log"))
            token, assistant_id = seed(database_url, f"http://127.0.0.1:{receiver_port}/events")
            sender, settle = reply_sender(token, assistant_id), events_delivered(database_url)
            legs.append(Leg(WITH_ENDPOINT, f"http://127.0.0.1:{replyd_port}", replyd.pid, sender, settle))
        if tools and args.profile:
            servers.enter_context(profiling(replyd.pid, args.profile, tools / "py-spy"))
        where = ", ".join(f"{leg.name} on {leg.url}" for leg in legs)
        print(f"{where}; replyd's database {display_url(database_url)}", file=sys.stderr)
        return asyncio.run(measure(legs, loads(args.only, args.rate), args.think_ms / 1000, args.rounds))


def main() -> None:
    args = parse_args()
    deployment = Deployment(args.postgres, args.redis, args.workers)
    tools = tool_bin() if not args.no_litellm or args.profile else None
    work = Path(tempfile.mkdtemp(prefix="replyd-bench-"))
    is_kept = True
    try:
        rows = run(args, work, deployment, tools)
        logs = {name: logged_errors(log) for name in ("replyd", "litellm") if (log := work / f"{name}.log").exists()}
        is_kept = any(logs.values())
    finally:
        if is_kept:
            print(f"\nthe servers' logs and replyd's database are kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work)
    peer = "no LiteLLM leg" if args.no_litellm else f"{REQUIREMENTS[0]}, 1 worker, no database"
    print(f"\n{machine(deployment, peer)}\n")
    print(table(rows))
    print("\nLatency through replyd by position in the conversation (history grows by two messages a reply):\n")
    print(position_table(rows))
    print("", *targets(rows, deployment), sep="\n")
    for name, errors in logs.items():
        for line, count in errors.most_common():
            print(f"{name} logged {count}x: {line}")
    if args.profile:
        print(f"\npy-spy stacks of replyd: {args.profile}", file=sys.stderr)


if __name__ == "__main__":
    main()
