#!/usr/bin/python3
"""Parley's CPU per message against the floor: a bare TLS relay.

The load generator's relay (loadgen --scenario relay) decrypts each TLS
record, forwards it to the paired connection and encrypts it again, with
no XMPP at all: what any server pays per one-to-one message on this
machine (TLS both ways, the kernel's wake-ups of server and client),
before doing any protocol work.  This alternates the same chat load
(bench/run.py's chat phase: --chat-conns users in pairs, --chat-rate
msg/s, --duration s) between the relay and parleyd, both on CPU 0 with
the normal scheduler, --rounds times; records each phase's steal on the
server core, and reads both figures at 0 % steal by a least-squares line
(run.py's fit_at_zero).

    /usr/bin/python3 bench/floor.py [--rounds 4] [--chat-rate 1000]
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as R     # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--chat-rate", type=float, default=1000)
    ap.add_argument("--chat-conns", type=int, default=200)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--out", default=os.path.join(R.ROOT, "bench", "results", "floor.json"))
    a = ap.parse_args()
    a.chat_gens, a.chat_split, a.gen_rt = 1, True, True
    tmp = tempfile.mkdtemp(prefix="parley-floor-")
    os.chmod(tmp, 0o755)
    certs = R.make_cert(tmp)
    srv = R.Parley(tmp, certs)
    # The relay runs as the servers do: pinned to CPU 0, normal scheduler.
    rel, relay = R.start_relay(certs)
    pts = {"relay": [], "parley": []}
    try:
        if not srv.start():
            sys.exit("floor.py: parleyd did not start (see %s)" % srv.dir)
        R.register(srv, "bench", a.chat_conns)
        for k in range(a.rounds):
            for who in (relay, srv) if k % 2 == 0 else (srv, relay):
                extra = ["--no-login", "--tls", "direct"] if who is relay else []
                r = R.chat_run(who, a, a.chat_rate, extra=extra)
                st = r["steal"]         # chat_run's own window: "go" to drained
                name = "relay" if who is relay else "parley"
                pts[name].append((st["server_pct"], r["cpu_s_per_100k_msgs"]))
                print("round %d %-6s: %6.2f s / 100k msgs, p99 %.3f ms, steal %.1f %%"
                      % (k + 1, name, r["cpu_s_per_100k_msgs"], r["msg_p99_ms"],
                         st["server_pct"]), flush=True)
    finally:
        rel.terminate()
        rel.wait()
        srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    fits = {n: R.fit_at_zero(p) for n, p in pts.items()}
    for n, f in fits.items():
        print("%-6s at 0 %% steal: %s s / 100k msgs" % (
            n, "-" if f is None else "%.2f +-%.2f" % (f[0], f[1])))
    if fits["relay"] and fits["parley"]:
        print("parley / relay: %.2fx" % (fits["parley"][0] / fits["relay"][0]))
    with open(a.out, "w") as f:
        json.dump({"args": vars(a), "points": pts,
                   "fits": {n: f and list(f) for n, f in fits.items()}}, f, indent=1)


if __name__ == "__main__":
    main()
