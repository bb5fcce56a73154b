#!/usr/bin/python3
"""Parley / ejabberd / Prosody side by side (issue 7).

Starts each server from its own configuration in a temporary directory on
its own ports, registers the benchmark users (XEP-0077 in-band
registration, the same path for all three), runs the load generator's
scenarios against it with the server and the generator pinned to
different cores, reads the server's CPU time and RSS from /proc, and
prints one table with the ratios.  JSON goes to bench/results/latest.json.

    /usr/bin/python3 bench/run.py [--servers parley,ejabberd,prosody]
        [--users N] [--idle N] [--chat-rate R] [--duration S]

Run by `make bench` (which builds Parley's release build first).
"""

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("PARLEY_BENCH_BUILD", os.path.join(ROOT, "build"))
LOADGEN = os.path.join(BUILD, "bench", "loadgen")
PASSWORD = "benchpass"
SERVER_CPU = "0"
LOADGEN_CPU = "1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def make_cert(d):
    key, crt = os.path.join(d, "key.pem"), os.path.join(d, "crt.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "30",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", key, "-out", crt], check=True, capture_output=True)
    pem = os.path.join(d, "cert.pem")
    with open(pem, "w") as out:
        for f in (key, crt):
            out.write(open(f).read())
    return key, crt, pem


def proc_stats(pid):
    """(cpu seconds, rss KiB) of a process and its children."""
    cpu, rss = 0.0, 0
    tck = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
        pids += [int(p) for p in out.split()]
    except OSError:
        pass
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            cpu += (int(fields[11]) + int(fields[12])) / tck
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
        except (OSError, IndexError, ValueError):
            pass
    return cpu, rss


class Server:
    name = "?"

    def __init__(self, tmp, certs):
        self.dir = os.path.join(tmp, self.name)
        os.makedirs(self.dir, exist_ok=True)
        self.key, self.crt, self.pem = certs
        self.port = free_port()
        self.proc = None

    def pid(self):
        return self.proc.pid

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Parley(Server):
    name = "parley"

    def start(self):
        shutil.copy(self.pem, os.path.join(self.dir, "cert.pem"))
        with open(os.path.join(self.dir, "parley.yml"), "w") as f:
            f.write("loglevel: warn\nhosts: [localhost]\ncertfiles: [cert.pem]\n"
                    "listen:\n"
                    "  - {module: c2s, ip: 127.0.0.1, port: %d, starttls_required: true}\n"
                    "  - {module: control, path: parley.sock}\n"
                    "storage: {backend: sqlite, path: parley.db}\n"
                    "auth: {max_failures: 1000}\n"
                    "limits: {max_connections_per_ip: 0}\n"
                    "modules: {disco: {}, ping: {}, roster: {}, register: {allow_new: true, rate: 0}}\n"
                    % self.port)
        self.proc = subprocess.Popen(
            ["taskset", "-c", SERVER_CPU, os.path.join(BUILD, "parleyd"), "-c", "parley.yml"],
            cwd=self.dir, stdout=open(os.path.join(self.dir, "log.txt"), "w"),
            stderr=subprocess.STDOUT)
        return wait_port(self.port)


class Ejabberd(Server):
    name = "ejabberd"

    def start(self):
        for sub in ("logs", "spool"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        self.node = "bench%d@localhost" % self.port
        with open(os.path.join(self.dir, "ejabberd.yml"), "w") as f:
            f.write("""hosts: [localhost]
loglevel: warning
certfiles: [%s]
auth_password_format: scram
registration_timeout: infinity
listen:
  - port: %d
    ip: 127.0.0.1
    module: ejabberd_c2s
    starttls_required: true
    max_stanza_size: 262144
    shaper: none
shaper_rules:
  c2s_shaper: none
acl: {}
access_rules:
  c2s: {allow: all}
  register: {allow: all}
modules:
  mod_disco: {}
  mod_ping: {}
  mod_roster: {}
  mod_register: {access: register, ip_access: all, password_strength: 0}
""" % (self.pem, self.port))
        subprocess.run(["chown", "-R", "ejabberd:ejabberd", self.dir], check=False)
        os.chmod(self.dir, 0o755)
        # As the ejabberd user: ejabberdctl started by root re-executes
        # itself through su and loses the --config/--spool arguments.
        args = ["runuser", "-u", "ejabberd", "--", "ejabberdctl", "--config", os.path.join(self.dir, "ejabberd.yml"),
                "--logs", os.path.join(self.dir, "logs"), "--spool",
                os.path.join(self.dir, "spool"), "--node", self.node]
        self.ctl = args
        self.proc = subprocess.Popen(["taskset", "-c", SERVER_CPU] + args + ["foreground"],
                                     stdout=open(os.path.join(self.dir, "out.txt"), "w"),
                                     stderr=subprocess.STDOUT, start_new_session=True)
        return wait_port(self.port, 120)

    def pid(self):
        out = subprocess.run(["pgrep", "-f", "beam.smp.*%s" % self.node],
                             capture_output=True, text=True).stdout.split()
        return int(out[0]) if out else self.proc.pid

    def stop(self):
        subprocess.run(self.ctl + ["stop"], capture_output=True, timeout=60)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
        subprocess.run(["pkill", "-f", "beam.smp.*%s" % self.node], check=False)


class Prosody(Server):
    name = "prosody"

    def start(self):
        data = os.path.join(self.dir, "data")
        os.makedirs(data, exist_ok=True)
        cfg = os.path.join(self.dir, "prosody.cfg.lua")
        with open(cfg, "w") as f:
            f.write("""daemonize = false
run_as_root = true
pidfile = "%(d)s/prosody.pid"
data_path = "%(data)s"
log = { warn = "%(d)s/prosody.log" }
interfaces = { "127.0.0.1" }
c2s_ports = { %(port)d }
c2s_direct_tls_ports = {}
s2s_ports = {}
component_ports = {}
http_ports = {}
https_ports = {}
modules_enabled = { "roster", "saslauth", "tls", "disco", "ping", "register", "dialback" }
modules_disabled = { "s2s", "offline", "c2s_limits", "limits" }
allow_registration = true
min_seconds_between_registrations = 0
registration_throttle_max = 1000000
c2s_require_encryption = true
authentication = "internal_hashed"
storage = "internal"
ssl = { certificate = "%(crt)s", key = "%(key)s" }
VirtualHost "localhost"
""" % {"d": self.dir, "data": data, "port": self.port, "crt": self.crt, "key": self.key})
        self.proc = subprocess.Popen(
            ["taskset", "-c", SERVER_CPU, "prosody", "--config", cfg],
            stdout=open(os.path.join(self.dir, "out.txt"), "w"), stderr=subprocess.STDOUT)
        return wait_port(self.port)


SERVERS = {"parley": Parley, "ejabberd": Ejabberd, "prosody": Prosody}


def loadgen(port, *args):
    cmd = ["taskset", "-c", LOADGEN_CPU, LOADGEN, "--port", str(port), "--password",
           PASSWORD, "--json"] + [str(a) for a in args]
    out = subprocess.run(cmd, capture_output=True, text=True)
    lines = [l for l in out.stdout.splitlines() if l.startswith("{")]
    if not lines:
        raise RuntimeError("loadgen failed: %s %s" % (out.stdout, out.stderr))
    if out.stderr.strip():
        sys.stderr.write(out.stderr)
    return json.loads(lines[-1])


def run_server(cls, tmp, certs, a):
    s = cls(tmp, certs)
    print("== %s on port %d" % (s.name, s.port), flush=True)
    if not s.start():
        s.stop()
        raise RuntimeError("%s did not start (see %s)" % (s.name, s.dir))
    res = {}
    try:
        pid = s.pid()
        users = max(a.users, a.idle)
        r = loadgen(s.port, "--scenario", "register", "--users", users, "--concurrency", 50)
        res["register"] = r
        time.sleep(1)
        base_cpu, base_rss = proc_stats(pid)
        res["rss_start_kib"] = base_rss

        c0, _ = proc_stats(pid)
        r = loadgen(s.port, "--scenario", "login", "--users", a.users, "--rate", a.login_rate,
                    "--duration", a.duration, "--concurrency", 100)
        c1, _ = proc_stats(pid)
        r["server_cpu_s"] = c1 - c0
        r["cpu_ms_per_login"] = 1000 * (c1 - c0) / r["ok"] if r["ok"] else None
        res["login"] = r

        _, rss0 = proc_stats(pid)
        # Idle sessions: the generator holds them, we read RSS while it does.
        p = subprocess.Popen(["taskset", "-c", LOADGEN_CPU, LOADGEN, "--port", str(s.port),
                              "--password", PASSWORD, "--json", "--scenario", "idle",
                              "--users", str(a.idle), "--conns", str(a.idle), "--rate", "500",
                              "--duration", str(a.idle_hold)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(a.idle / 500 + 5 + a.idle_hold / 2)
        _, rss1 = proc_stats(pid)
        out, err = p.communicate()
        idle = json.loads([l for l in out.splitlines() if l.startswith("{")][-1])
        idle["rss_before_kib"] = rss0
        idle["rss_with_sessions_kib"] = rss1
        idle["kib_per_session"] = (rss1 - rss0) / idle["online"] if idle["online"] else None
        res["idle"] = idle

        c0, _ = proc_stats(pid)
        r = loadgen(s.port, "--scenario", "chat", "--users", a.chat_conns, "--conns",
                    a.chat_conns, "--rate", a.chat_rate, "--duration", a.duration)
        c1, _ = proc_stats(pid)
        r["server_cpu_s"] = c1 - c0
        r["cpu_s_per_100k_msgs"] = 1e5 * (c1 - c0) / r["received"] if r["received"] else None
        res["chat"] = r
    finally:
        s.stop()
    return res


def fmt(v, spec="%.2f"):
    return "-" if v is None else spec % v


def table(results):
    rows = [
        ("logins/s", lambda r: r["login"]["ok_per_s"], "%.0f"),
        ("server CPU ms / login", lambda r: r["login"]["cpu_ms_per_login"], "%.2f"),
        ("login latency p50 ms", lambda r: r["login"]["login_p50_ms"], "%.2f"),
        ("idle sessions", lambda r: r["idle"]["online"], "%d"),
        ("KiB per idle TLS session", lambda r: r["idle"]["kib_per_session"], "%.1f"),
        ("chat delivered msg/s", lambda r: r["chat"]["received_per_s"], "%.0f"),
        ("chat p50 ms", lambda r: r["chat"]["msg_p50_ms"], "%.3f"),
        ("chat p99 ms", lambda r: r["chat"]["msg_p99_ms"], "%.3f"),
        ("chat p99.9 ms", lambda r: r["chat"]["msg_p999_ms"], "%.3f"),
        ("server CPU s / 100k msgs", lambda r: r["chat"]["cpu_s_per_100k_msgs"], "%.2f"),
    ]
    names = list(results)
    head = "%-26s" % "" + "".join("%14s" % n for n in names)
    others = [n for n in names if n != "parley"]
    head += "".join("%18s" % ("%s/parley" % n) for n in others if "parley" in names)
    lines = [head]
    for label, get, spec in rows:
        vals = {}
        for n in names:
            try:
                vals[n] = get(results[n])
            except (KeyError, TypeError):
                vals[n] = None
        line = "%-26s" % label + "".join("%14s" % fmt(vals[n], spec) for n in names)
        if "parley" in names:
            for n in others:
                p, o = vals["parley"], vals[n]
                line += "%18s" % (fmt(o / p, "%.2fx") if p and o is not None else "-")
        lines.append(line)
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--servers", default="parley,ejabberd,prosody")
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--idle", type=int, default=5000)
    ap.add_argument("--idle-hold", type=float, default=10)
    ap.add_argument("--login-rate", type=float, default=300)
    ap.add_argument("--chat-conns", type=int, default=200)
    ap.add_argument("--chat-rate", type=float, default=1000)
    ap.add_argument("--duration", type=float, default=10)
    a = ap.parse_args()
    if not os.access(LOADGEN, os.X_OK):
        sys.exit("run.py: %s not built (make bench builds it)" % LOADGEN)
    tmp = tempfile.mkdtemp(prefix="parley-bench-")
    os.chmod(tmp, 0o755)
    certs = make_cert(tmp)
    for f in certs:
        os.chmod(f, 0o644)
    results = {}
    for name in a.servers.split(","):
        try:
            results[name] = run_server(SERVERS[name], tmp, certs, a)
        except Exception as e:          # one server failing must not hide the others
            print("%s: %s" % (name, e), file=sys.stderr)
    machine = {
        "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                     if l.startswith("model name")), platform.machine()),
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "pinning": "server on CPU %s, load generator on CPU %s" % (SERVER_CPU, LOADGEN_CPU),
    }
    print()
    print("machine: %s, %d cores; %s" % (machine["cpu"], machine["cores"], machine["pinning"]))
    print("args: %s" % " ".join(sys.argv[1:]))
    print(table(results))
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "results", "latest.json"), "w") as f:
        json.dump({"machine": machine, "args": vars(a), "results": results}, f, indent=1)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
