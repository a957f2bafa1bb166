"""Instructions per reply, with and without one event endpoint (issue 14), counted by valgrind's
callgrind: a count that does not move with the machine's load, where CPU time on this shared
2-core machine spreads by about 1 ms per reply from one run to the next.

``replyd serve`` runs under callgrind with counting off; for each leg it is zeroed and turned
on, the same closed loop of replies as ``bench.overhead`` is sent (to an account without an
endpoint, then to one with an endpoint taking every event type, a local receiver), the events
are waited for until delivered, and the count is dumped. A leg's count is divided by every
reply it holds (the warm-up's too: it is inside the count). The legs alternate for
``--rounds`` pairs.

Under callgrind replyd runs some 50 times slower, so a delivery round every 0.25 s would hold
about one reply's events where at full speed it holds some 50 replies' (one customer, about 200
replies/s), and the round's queries would be shared by fewer. The rounds come every
``--round-s`` instead (``REPLYD_EVENT_ROUND_S``, 12.5 s by default: 0.25 s x 50); the table
shows how many replies a round held, to compare with the 50 at full speed.

Run from the repository root:  .venv/bin/python -m bench.instructions [--rounds 3] [--replies 100]
(``--postgres URL`` to count on PostgreSQL: replyd's instructions alone, not the server's)
Where the instructions go:  --dumps DIR, then  callgrind_annotate DIR/cg.PID.N | head -40
"""

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import NamedTuple

from bench.overhead.legs import MESSAGE, reply_sender
from bench.overhead.load import WARMUP_PER_CUSTOMER, Load, Send, drive
from bench.overhead.peers import RECEIVER_SERVER, STUB_SERVER
from bench.overhead.replyd_server import Deployment, events_delivered, fresh_database, replyd_env, seed
from bench.overhead.report import machine
from bench.processes import free_port, running

REPO = Path(__file__).resolve().parents[1]
START_UNDER_VALGRIND_S = 900.0
"""replyd's imports take minutes under callgrind."""


class Callgrind:
    """Counts the instructions of a process started by ``command``: zeroed, on, dumped, off."""

    def __init__(self, out: Path) -> None:
        self.out = out

    def command(self, args: list[str]) -> list[str]:
        return ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={self.out}/cg.%p", *args]

    def start(self, pid: int) -> None:
        self._control(pid, "--zero")
        self._control(pid, "--instr=on")

    def stop(self, pid: int) -> int:
        """The instructions since ``start``."""
        before = set(self.out.glob("cg.*"))
        self._control(pid, "--dump")
        self._control(pid, "--instr=off")
        (dump,) = set(self.out.glob("cg.*")) - before
        summary = next(line for line in dump.read_text().splitlines() if line.startswith("summary:"))
        return int(summary.split()[1])

    def _control(self, pid: int, option: str) -> None:
        subprocess.run(["callgrind_control", option, str(pid)], check=True, capture_output=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="pairs of legs, without and with the endpoint")
    parser.add_argument("--replies", type=int, default=100, help="measured replies per leg (one customer)")
    parser.add_argument(
        "--dumps", type=Path, help="keep callgrind's dumps (one per leg) in this directory, for callgrind_annotate"
    )
    parser.add_argument(
        "--round-s", type=float, default=12.5, help="replyd's REPLYD_EVENT_ROUND_S under callgrind (default 12.5)"
    )
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server to run on (a fresh database is made)")
    return parser.parse_args()


class Leg(NamedTuple):
    instructions_per_reply: float
    replies_per_round: float
    """Replies per delivery round: the leg's replies per second times ``--round-s``."""


def run(args: argparse.Namespace, work: Path) -> list[tuple[Leg, Leg]]:
    """Each round's legs: (without the endpoint, with it)."""
    if args.dumps:
        args.dumps.mkdir(parents=True, exist_ok=True)
    callgrind = Callgrind(args.dumps or work)
    replies = args.replies + WARMUP_PER_CUSTOMER
    with fresh_database(work, args.postgres) as database_url, ExitStack() as servers:
        stub_port, receiver_port, replyd_port = free_port(), free_port(), free_port()
        stub = [sys.executable, "-c", STUB_SERVER, str(stub_port)]
        servers.enter_context(running("the stub model", stub, stub_port, work / "stub.log", cwd=REPO))
        receiver = [sys.executable, "-c", RECEIVER_SERVER, str(receiver_port)]
        servers.enter_context(running("the event receiver", receiver, receiver_port, work / "receiver.log"))
        plain = reply_sender(*seed(database_url))
        with_endpoint = reply_sender(*seed(database_url, f"http://127.0.0.1:{receiver_port}/events"))
        settle = events_delivered(database_url)
        replyd = [sys.executable, str(Path(sys.executable).with_name("replyd")), "serve", "--port", str(replyd_port)]
        lease_s = 10 + 2 * args.round_s + 10  # the default timeout, two rounds, and some
        rounds_env = {"REPLYD_EVENT_ROUND_S": str(args.round_s), "REPLYD_WEBHOOK_LEASE_S": str(lease_s)}
        # The replies use the stub model; llama.cpp, built for this CPU, may use instructions
        # (AVX-512) that valgrind cannot run, so it is not loaded at all.
        no_model = {"REPLYD_PRELOAD_LOCAL_MODEL": "false"}
        env = replyd_env(database_url, f"http://127.0.0.1:{stub_port}/v1") | rounds_env | no_model
        print("starting replyd under callgrind (a few minutes) ...", file=sys.stderr)
        server = servers.enter_context(
            running(
                "replyd serve",
                callgrind.command(replyd),
                replyd_port,
                work / "replyd.log",
                START_UNDER_VALGRIND_S,
                cwd=work,
                env=env,
            )
        )
        url = f"http://127.0.0.1:{replyd_port}"

        async def leg(send: Send, n: int) -> Leg:
            print(f"  round {n + 1}: {replies} replies ...", file=sys.stderr)
            callgrind.start(server.pid)
            stats = await drive(url, send, Load(1, args.replies), server.pid, settle=settle)
            return Leg(callgrind.stop(server.pid) / replies, stats.per_s * args.round_s)

        async def rounds() -> list[tuple[Leg, Leg]]:
            return [(await leg(plain, n), await leg(with_endpoint, n)) for n in range(args.rounds)]

        return asyncio.run(rounds())


def main() -> None:
    args = parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed: apt-get install valgrind")
    work = Path(tempfile.mkdtemp(prefix="replyd-bench-instructions-"))
    try:
        found = run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    described = machine(Deployment(args.postgres), f"callgrind; one customer, a closed loop; {MESSAGE[:20]}...")
    print(f"\n{described}\n")
    print("| round | M instructions/reply | with 1 endpoint | extra | extra / reply | replies a delivery round |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n, (without, with_one) in enumerate(found, 1):
        plain, extra = without.instructions_per_reply, with_one.instructions_per_reply - without.instructions_per_reply
        print(
            f"| {n} | {plain / 1e6:.2f} | {with_one.instructions_per_reply / 1e6:.2f} | +{extra / 1e6:.2f} "
            f"| {extra / plain:.0%} | {with_one.replies_per_round:.0f} |"
        )
    extras = [(w.instructions_per_reply - wo.instructions_per_reply) / wo.instructions_per_reply for wo, w in found]
    print(f"\nmedian extra: {statistics.median(extras):.0%} of a reply's instructions")


if __name__ == "__main__":
    main()
