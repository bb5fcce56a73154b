#!/usr/bin/python3
"""Parley / ejabberd / Prosody side by side (issue 7).

Starts each server from its own configuration in a temporary directory on
its own ports (never the system instances' ports, node names, spools or
pid files), registers the benchmark users in-band (XEP-0077, the same path
for all three), runs the load generator's scenarios against it with the
server pinned to CPU 0 and the generator to CPU 1, reads the server's CPU
time and RSS from /proc, checks that every figure rests on a complete run
(sessions online, no failed login, every message delivered), prints one
table with the ratios and writes bench/results/latest.json.

    /usr/bin/python3 bench/run.py [--servers parley,ejabberd,prosody]
        [--idle 10000] [--users 1000] [--chat-rate 1000] [--duration 10]
        [--storm-users 1010] [--offline-users 1000] [--rounds 3] ...   (--help)

Login and chat in rounds (--rounds N, default 3): the VM's host steals CPU
in bursts, and a burst on one server's phase inflates its CPU per
operation and its latency by up to 2x.  So every server is started and
its accounts registered first; then N rounds each measure every server's
login, sequential-login and chat phases, the server order rotated by one
each round (P,E,S; E,S,P; S,P,E), and the table gives each figure's median
over the rounds with (min-max), the ratios from the medians, and a short
per-round table of the key ratios and Parley's chat p99.  The servers not
being measured stay up and idle (run_rounds() says why they are not
stopped).  The other scenarios run once per server after the rounds.
--rounds 1 is the single pass of before: each server runs all its
scenarios (login, idle, chat, the rest) and is stopped before the next.

Steal (/proc/stat, field 8 of cpu0 = SERVER_CPU and cpu1 = LOADGEN_CPU)
is read around every measured login and chat phase and stored with the
phase's wall time (r["steal"]) and printed on its line.  A phase whose
steal exceeds --max-steal (default 2 % of its wall time on the server
core, and on the generator core too for the latency phases) is re-run,
--retries (2) times at most; every attempt is kept (r["attempts"]), the
figures are from the attempt with the least steal, and one still above
the limit is marked * in the table and listed under it.  The whole run's steal is printed too.

Run by `make bench` (which builds Parley's release build first).

Scenarios (see docs/benchmarks.md for what each one measures):
  login     full logins (TCP, STARTTLS, SCRAM-SHA-1, bind, roster get,
            initial presence) as fast as --login-concurrency allows, and
            one at a time for the sequential login latency
  idle      --idle authenticated sessions held open (TLS, then plain TCP);
            server RSS growth per session
  chat      --chat-conns online users in pairs, --chat-rate messages/s
  storm     --storm-users accounts with --contacts-contact rosters (built
            in-band first: subscribe + subscribed, at most --roster-window
            requests awaiting approval, within --storm-setup-s) log in
            together
  offline   --offline-msgs messages to --offline-users offline accounts,
            then those accounts log in and receive them
  muc       --muc-occupants sessions join one room; --muc-senders of them
            send --muc-rate groupchat messages/s in total (fan-out)

Chat options (docs/benchmarks.md, "Chat latency, maximum rate, ..."):
  --chat-gens N, --[no-]chat-split   generator processes (senders/receivers)
  --chat-max                         highest sustained rate per server, then
                                     Parley's p99 at half of it
  --[no-]selftest                    the generator's own latency (TLS relay)
  --[no-]gen-rt                      generators under SCHED_FIFO on CPU 1
  --out FILE                         results elsewhere than latest.json
  --rounds N, --max-steal PCT, --retries N   see above

--scenarios picks a subset (default all), e.g.
    bench/run.py --servers parley --scenarios idle --idle 10000
"""

import argparse
import array
import math
import threading
import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import types
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("PARLEY_BENCH_BUILD", os.path.join(ROOT, "build"))
LOADGEN = os.path.join(BUILD, "bench", "loadgen")
PASSWORD = "benchpass"
IDLE_KEEPALIVE = 30    # s between whitespace keepalives on idle sessions
IDLE_SETTLE = 25       # s after all idle sessions are online before RSS is read
SERVER_CPU = "0"
LOADGEN_CPU = "1"
# s of quiet before every measured login/chat phase: a server's own tail
# after its phase (ejabberd ~16 ms of CPU, Prosody ~6 ms, in the first
# second; nothing after it) must not land in the next server's figures.
PHASE_SETTLE = 1.0
STEAL_WAIT = 10         # s at most waiting for a steal burst to pass before a re-run
PROBLEMS = []           # every failed sanity check, printed under the table
NOISY = []              # phases still above --max-steal after their re-runs


def problem(server, what):
    PROBLEMS.append("%s: %s" % (server, what))
    print("  !! %s" % what, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            return False
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
    """(cpu seconds, rss KiB) of a process and its direct children."""
    cpu, rss = 0.0, 0
    tck = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            pids += [int(p) for p in f.read().split()]
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


def steal_ticks():
    """Ticks the host has stolen so far from the server core and from the
    generator core: field 8 ('steal') of /proc/stat's cpuN lines, USER_HZ
    (100) per second per CPU."""
    want = {"cpu" + SERVER_CPU: "server", "cpu" + LOADGEN_CPU: "gen"}
    got = {}
    with open("/proc/stat") as f:
        for line in f:
            fields = line.split()
            if fields and fields[0] in want:
                got[want[fields[0]]] = int(fields[8])
    return got


class StealMeter:
    """Steal on both cores and wall time from its creation to read()."""

    def __init__(self):
        self.t0 = time.time()
        self.s0 = steal_ticks()

    def read(self):
        wall = time.time() - self.t0
        s1 = steal_ticks()
        hz = os.sysconf("SC_CLK_TCK")
        st = {"wall_s": wall}
        for core in ("server", "gen"):
            ticks = s1.get(core, 0) - self.s0.get(core, 0)
            st[core + "_ticks"] = ticks
            st[core + "_pct"] = 100.0 * ticks / (wall * hz) if wall > 0 else 0.0
        return st


def steal_text(st):
    return "CPU%s %d / CPU%s %d ticks in %.1f s (%.1f %% / %.1f %%)" % (
        SERVER_CPU, st["server_ticks"], LOADGEN_CPU, st["gen_ticks"], st["wall_s"],
        st["server_pct"], st["gen_pct"])


class Server:
    name = "?"
    # (f) MUC: the room owner's configuration form.  "nolog" turns the
    # room's archive off (muc#roomconfig_enablelogging = 0) where rooms
    # archive by default (Parley); "instant" keeps the server's defaults,
    # which have no archive already (ejabberd: mam/logging false in
    # default_room_options, and it refuses the enablelogging field without
    # mod_muc_log; Prosody: no mod_muc_mam).
    muc_room_config = "instant"

    def __init__(self, tmp, certs):
        self.dir = os.path.join(tmp, self.name)
        os.makedirs(self.dir, exist_ok=True)
        self.key, self.crt, self.pem = certs
        self.port = free_port()
        self.proc = None

    def pid(self):
        return self.proc.pid

    def online_count(self):
        """Sessions the server itself reports, or None if we can't ask."""
        return None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Parley(Server):
    name = "parley"
    muc_room_config = "nolog"

    def start(self):
        shutil.copy(self.pem, os.path.join(self.dir, "cert.pem"))
        self.cfg = os.path.join(self.dir, "parley.yml")
        with open(self.cfg, "w") as f:
            # STARTTLS optional so that the plain-TCP idle figure can be
            # measured on the same listener; the generator always asks for
            # TLS except in that one scenario.
            f.write("loglevel: warn\nhosts: [localhost]\ncertfiles: [cert.pem]\n"
                    "listen:\n"
                    "  - {module: c2s, ip: 127.0.0.1, port: %d, starttls_required: false}\n"
                    "  - {module: control, path: parley.sock}\n"
                    "storage: {backend: sqlite, path: parley.db}\n"
                    "auth: {max_failures: 0}\n"
                    "limits: {max_connections_per_ip: 0, negotiation_timeout: 300}\n"
                    "modules:\n"
                    "  disco: {}\n  ping: {}\n  roster: {}\n  offline: {max_messages: 100000}\n"
                    "  register: {allow_new: true, max_per_address: 0}\n"
                    # (f) MUC: no history kept, no per-occupant message
                    # limit (the bench's senders exceed the default 10/s);
                    # the room's archive is turned off by the generator's
                    # configuration form.
                    "  muc: {host: 'conference.@HOST@', max_occupants: 100000, history_size: 0,\n"
                    "        messages_per_second: 0, max_rooms_per_user: 0}\n"
                    % self.port)
        self.proc = subprocess.Popen(
            ["taskset", "-c", SERVER_CPU, os.path.join(BUILD, "parleyd"), "-c", "parley.yml"],
            cwd=self.dir, stdout=open(os.path.join(self.dir, "log.txt"), "w"),
            stderr=subprocess.STDOUT)
        return wait_port(self.port, self.proc)

    def online_count(self):
        out = subprocess.run([os.path.join(BUILD, "parleyctl"), "-c", self.cfg,
                              "connected_users"], capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            return None
        return len([l for l in out.stdout.splitlines() if "@" in l])


class Ejabberd(Server):
    """ejabberd 23.01 from a temp dir.  ejabberdctl sources its ctl config
    (default /etc/ejabberd/ejabberdctl.cfg) after parsing --config, and the
    Debian one sets EJABBERD_CONFIG_PATH=/etc/ejabberd/ejabberd.yml, which is
    why --config alone was ignored: we pass our own --ctl-config (config
    path, pid file, node name, ERL_DIST_PORT so that no epmd is involved)
    and --config-dir (no /etc vm.args or inetrc), and run it as the
    ejabberd user directly so that it does not re-execute through su."""
    # The VM's process tree: env -> setpriv -> ejabberdctl (bash) -> beam.smp.
    name = "ejabberd"

    def start(self):
        for sub in ("logs", "spool"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        self.node = "parleybench%d@localhost" % self.port
        cfg = os.path.join(self.dir, "ejabberd.yml")
        with open(cfg, "w") as f:
            f.write("""hosts: [localhost]
loglevel: warning
certfiles: [%s]
auth_password_format: scram
registration_timeout: infinity
listen:
  - port: %d
    ip: 127.0.0.1
    module: ejabberd_c2s
    starttls: true
    starttls_required: false
    max_stanza_size: 262144
    shaper: none
    backlog: 1024
shaper_rules:
  c2s_shaper: none
  max_user_offline_messages: 100000
  max_user_sessions: 10
acl: {}
access_rules:
  c2s: {allow: all}
  register: {allow: all}
modules:
  mod_disco: {}
  mod_ping: {}
  mod_roster: {}
  mod_offline: {access_max_user_messages: max_user_offline_messages}
  mod_register: {access: register, ip_access: all, password_strength: 0}
  mod_muc:
    host: conference.@HOST@
    access: all
    access_create: all
    history_size: 0
    max_users: 5000
    max_users_presence: 5000
    max_user_conferences: 100
    min_message_interval: 0
    min_presence_interval: 0
    default_room_options:
      max_users: 5000
      mam: false
      logging: false
""" % (self.pem, self.port))
        ctlcfg = os.path.join(self.dir, "ejabberdctl.cfg")
        with open(ctlcfg, "w") as f:
            f.write('ERLANG_NODE=%s\nEJABBERD_CONFIG_PATH=%s\nEJABBERD_PID_PATH=%s\n'
                    'ERL_DIST_PORT=%d\nERL_MAX_PORTS=65536\n'
                    'ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0 '
                    '-kernel inet_dist_use_interface {127,0,0,1}"\n'
                    % (self.node, cfg, os.path.join(self.dir, "ejabberd.pid"), free_port()))
        subprocess.run(["chown", "-R", "ejabberd:ejabberd", self.dir], check=False)
        os.chmod(self.dir, 0o755)
        # setpriv, not runuser/su: those go through PAM, whose limits cut
        # the open-file limit to 1024 (ejabberd then refuses connections
        # at ~990 sessions).  setpriv keeps ours.
        self.ctl = ["env", "HOME=/var/lib/ejabberd", "setpriv", "--reuid", "ejabberd",
                    "--regid", "ejabberd", "--init-groups", "ejabberdctl",
                    "--config-dir", self.dir, "--ctl-config", ctlcfg, "--config", cfg,
                    "--logs", os.path.join(self.dir, "logs"),
                    "--spool", os.path.join(self.dir, "spool")]
        self.proc = subprocess.Popen(["taskset", "-c", SERVER_CPU] + self.ctl + ["foreground"],
                                     stdout=open(os.path.join(self.dir, "out.txt"), "w"),
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.beam = None
        return wait_port(self.port, self.proc, 120)

    def pid(self):
        # Follow the first child down to beam.smp: the VM is the server.
        if self.beam is None:
            p = self.proc.pid
            for _ in range(5):
                try:
                    with open("/proc/%d/task/%d/children" % (p, p)) as f:
                        kids = [int(k) for k in f.read().split()]
                except OSError:
                    break
                if not kids:
                    break
                p = kids[0]
                try:
                    if os.readlink("/proc/%d/exe" % p).endswith("beam.smp"):
                        self.beam = p
                        break
                except OSError:
                    break
        return self.beam or self.proc.pid

    def online_count(self):
        out = subprocess.run(self.ctl + ["connected_users_number"], capture_output=True,
                             text=True, timeout=60)
        try:
            return int(out.stdout.strip())
        except ValueError:
            return None

    def stop(self):
        if not self.proc:
            return
        beam = self.pid()
        subprocess.run(self.ctl + ["stop"], capture_output=True, timeout=60)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        if beam and beam != self.proc.pid:
            try:
                os.kill(beam, signal.SIGKILL)       # only if it outlived stop
            except ProcessLookupError:
                pass


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
plugin_paths = {}
modules_enabled = { "roster", "saslauth", "tls", "disco", "ping", "register", "offline" }
modules_disabled = { "s2s", "limits", "c2s_limits", "posix" }
allow_registration = true
min_seconds_between_registrations = 0
registration_throttle_max = 1000000
c2s_require_encryption = false
authentication = "internal_hashed"
storage = "internal"
ssl = { certificate = "%(crt)s", key = "%(key)s" }
VirtualHost "localhost"
-- (f) MUC: no history kept (max_history_messages caps every room's
-- history length); no mod_muc_mam, so no archive; mod_muc has no occupant
-- or rate limit of its own in 0.12 (mod_limits is disabled above).
Component "conference.localhost" "muc"
    max_history_messages = 0
    muc_room_default_history_length = 0
    restrict_room_creation = false
""" % {"d": self.dir, "data": data, "port": self.port, "crt": self.crt, "key": self.key})
        self.proc = subprocess.Popen(
            ["taskset", "-c", SERVER_CPU, "prosody", "--config", cfg],
            stdout=open(os.path.join(self.dir, "out.txt"), "w"), stderr=subprocess.STDOUT)
        return wait_port(self.port, self.proc)


SERVERS = {"parley": Parley, "ejabberd": Ejabberd, "prosody": Prosody}
SCENARIOS = ("login", "idle", "chat", "storm", "offline", "muc")


def loadgen_cmd(port, args, src_base=1):
    return (["taskset", "-c", LOADGEN_CPU, LOADGEN, "--port", str(port), "--password",
             PASSWORD, "--json", "--src-base", str(src_base)] + [str(a) for a in args])


def parse_result(out, err):
    lines = [l for l in out.splitlines() if l.startswith("{")]
    if not lines:
        raise RuntimeError("loadgen failed: %s %s" % (out, err))
    if err.strip():
        sys.stderr.write(err)
    return json.loads(lines[-1])


def loadgen(port, *args, timeout=3600):
    out = subprocess.run(loadgen_cmd(port, args), capture_output=True, text=True,
                         timeout=timeout)
    return parse_result(out.stdout, out.stderr)


def run_marked(srv, args, at_online=None):
    """Runs the generator and reads the server's CPU time when all its
    sessions are online and when it ends, so that 'cpu_window_s' is the
    cost of the scenario's own traffic without the logins that set it up
    ('cpu_total_s' has them).  at_online() runs at the all-online mark."""
    pid = srv.pid()
    c0, _ = proc_stats(pid)
    p = subprocess.Popen(loadgen_cmd(srv.port, args), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    c_on, c_end, extra, lines = None, None, None, []
    for line in p.stdout:
        lines.append(line)
        if line.startswith("all-online"):
            c_on, _ = proc_stats(pid)
            if at_online:
                extra = at_online()
        elif line.startswith("end"):
            c_end, _ = proc_stats(pid)
    out_rest, err = p.communicate()
    if c_end is None:
        c_end, _ = proc_stats(pid)
    r = parse_result("".join(lines) + out_rest, err)
    r["cpu_total_s"] = c_end - c0
    r["cpu_window_s"] = c_end - c_on if c_on is not None else None
    return r, extra


def pct(sorted_v, p):
    """Percentile p (0..100) of sorted samples, the generator's method."""
    if not sorted_v:
        return None
    i = max(0, min(len(sorted_v) - 1, math.ceil(p / 100.0 * len(sorted_v)) - 1))
    return sorted_v[i]


class Gen:
    """One load generator process of a chat run, driven through stdin
    (--sync: "go", "stop N") and read line by line on a thread."""

    def __init__(self, port, args, samples, prio):
        cmd = loadgen_cmd(port, list(args) + ["--sync", "--samples", samples])
        if prio:
            cmd = prio + cmd
        self.samples = samples
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        self.online = threading.Event()
        self.lines = []
        self.err = ""
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        self.e = threading.Thread(target=self._read_err, daemon=True)
        self.e.start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.append(line)
            if line.startswith("all-online"):
                self.online.set()
        self.online.set()

    def _read_err(self):
        self.err = self.p.stderr.read()

    def say(self, line):
        try:
            self.p.stdin.write(line + "\n")
            self.p.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass

    def result(self, timeout):
        try:
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.t.join(5)
        self.e.join(5)
        return parse_result("".join(self.lines), self.err)


def gen_prio(a, step=0):
    # The generator runs SCHED_FIFO on its core when it may (root): on a
    # shared machine other processes on CPU 1 would otherwise delay its
    # timer and its reads by milliseconds, and that would be counted as
    # the server's latency.  The servers keep the normal scheduler (an
    # Erlang VM's spinning schedulers must not run SCHED_FIFO on one core).
    return ["chrt", "-f", str(10 + step)] if a.gen_rt and os.geteuid() == 0 else []


def recv_prio(a):
    # A chat receiver one step above its sender on their shared core: the
    # receiver stamps a message's arrival when its read callback starts,
    # so time spent waiting behind the sender would be counted as the
    # server's latency; a sender held up by the receiver only sends late,
    # which pace_p99_ms reports (each stamp is taken right before its own
    # write, so that lateness never enters the latency).
    return gen_prio(a, 1)


def chat_run(srv, a, rate, duration=None, port=None, extra=()):
    """(c) one-to-one chat at 'rate' msg/s in total from --chat-gens
    generator processes.  Default (--chat-split): each process pair is a
    sender and a receiver: sender k's session i sends to receiver k's
    session i, so a process only writes messages or only reads them.
    Without --chat-split each process holds whole pairs that send to each
    other.  All processes log in, then run.py says "go" to all at once;
    the senders pace with absolute deadlines for 'duration' s; then each
    receiver is told how many its sender sent and drains (<= 5 s).
    Latency samples of every process are merged; server CPU is read at
    "go" and when the last generator ended."""
    duration = duration or a.duration
    port = port or srv.port
    n, gens = a.chat_conns, a.chat_gens
    tmp = tempfile.mkdtemp(prefix="parley-chat-")
    procs = []          # (role, Gen)
    common = ["--scenario", "chat", "--login-rate", 1000, "--duration", duration] + list(extra)
    if a.chat_split:
        half = n // 2
        users_each = half // gens
        for k in range(gens):
            procs.append(("recv", Gen(port, common + [
                "--role", "recv", "--first-user", half + k * users_each, "--users", users_each,
                "--conns", users_each, "--rate", 1, "--src-base", 100 + k],
                os.path.join(tmp, "r%d" % k), recv_prio(a))))
            procs.append(("send", Gen(port, common + [
                "--role", "send", "--first-user", k * users_each, "--users", users_each, "--conns", users_each,
                "--to-first", half + k * users_each, "--rate", rate / gens, "--src-base", 50 + k],
                os.path.join(tmp, "s%d" % k), gen_prio(a))))
    else:
        users_each = (n // gens) & ~1
        for k in range(gens):
            procs.append(("both", Gen(port, common + [
                "--role", "both", "--first-user", k * users_each, "--users", users_each, "--conns", users_each,
                "--rate", rate / gens, "--src-base", 50 + k],
                os.path.join(tmp, "b%d" % k), gen_prio(a))))
    try:
        for _, g in procs:
            g.online.wait(n / 1000 + 90)
        pid = srv.pid() if srv else None
        c0 = proc_stats(pid)[0] if pid else 0
        t0 = time.time()
        steal = StealMeter()        # the window the figures come from
        for _, g in procs:
            g.say("go")
        results = []
        senders = [g for role, g in procs if role != "recv"]
        bound = duration + 120
        sres = [g.result(bound) for g in senders]
        if a.chat_split:
            for k, (role, g) in enumerate(procs):
                if role == "recv":
                    g.say("stop %d" % sres[k // 2]["sent"])
        for role, g in procs:
            results.append((role, g.result(bound) if role == "recv" else sres[senders.index(g)]))
        wall = time.time() - t0
        c1 = proc_stats(pid)[0] if pid else 0
        steal = steal.read()
        lat = array.array("I")
        for _, g in procs:
            try:
                with open(g.samples, "rb") as f:
                    lat.frombytes(f.read())
            except OSError:
                pass
    finally:
        for _, g in procs:
            if g.p.poll() is None:
                g.p.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    lat = sorted(lat)
    sent = sum(r["sent"] for role, r in results if role != "recv")
    received = sum(r["received"] for role, r in results if role != "send")
    send_s = max(r["send_s"] for role, r in results if role != "recv")
    gen_cpu = sum(r["loadgen_window_cpu_s"] for _, r in results)
    ms = lambda us: None if us is None else us / 1000.0
    r = {
        "offered_rate": rate, "duration": duration, "gens": gens, "split": a.chat_split,
        "sent": sent, "received": received, "send_s": send_s,
        "sent_per_s": sent / send_s if send_s else None,
        "received_per_s": received / send_s if send_s else None,
        "msg_p50_ms": ms(pct(lat, 50)), "msg_p99_ms": ms(pct(lat, 99)),
        "msg_p999_ms": ms(pct(lat, 99.9)), "msg_max_ms": ms(pct(lat, 100)),
        "samples": len(lat),
        # How late the senders' writes were against their deadlines: the
        # generator's own delay on the send side.
        "pace_p99_ms": max(r["pace_p99_ms"] for role, r in results if role != "recv"),
        "pace_max_ms": max(r["pace_max_ms"] for role, r in results if role != "recv"),
        "online": sum(r["online"] for _, r in results),
        "failed": sum(r["failed"] for _, r in results),
        "errors": sum(r["errors"] for _, r in results),
        "wall_s": wall, "server_cpu_s": c1 - c0,
        # Generator CPU over the window, as a share of its one core.
        "gen_cpu_s": gen_cpu, "gen_core_util": gen_cpu / wall if wall else None,
        "steal": steal,
    }
    r["cpu_s_per_100k_msgs"] = per(1e5, r["server_cpu_s"], received)
    # Generator-bound: its core nearly full (other processes on CPU 1 take
    # their share too), a sender behind its pace by more than 10 ms, or
    # the sending window stretched: the latency is then the generator's.
    r["gen_saturated"] = ((r["gen_core_util"] or 0) > 0.8 or r["pace_p99_ms"] > 10 or
                          send_s > duration * 1.02)
    # Server-bound: its own core nearly full.  When a rate fails with the
    # server's core full, the server could not keep up with what arrived
    # (which was at most the offered rate, less if the generator lagged):
    # that failure is the server's whatever the generator's state.
    r["server_core_util"] = r["server_cpu_s"] / wall if wall else None
    r["server_saturated"] = (r["server_core_util"] or 0) >= 0.9
    return r


def chat_ok(r):
    """A rate is sustained: everything sent arrived, the senders kept the
    offered pace, p99 under 100 ms."""
    return (r["received"] == r["sent"] and r["sent"] > 0 and r["failed"] == 0 and
            not r["errors"] and r["send_s"] <= r["duration"] * 1.02 and
            r["msg_p99_ms"] is not None and r["msg_p99_ms"] < 100)


def chat_line(r):
    return ("offered %g/s: sent %d, received %d, delivered %.0f/s, p50 %.3f p99 %.3f p99.9 "
            "%.3f ms; pacing p99 %.3f ms late; server CPU %.2f s (%s s/100k, %.0f%% of its "
            "core); generator CPU %.0f%% of its core%s" % (
                r["offered_rate"], r["sent"], r["received"], r["received_per_s"] or 0,
                r["msg_p50_ms"] or 0, r["msg_p99_ms"] or 0, r["msg_p999_ms"] or 0,
                r["pace_p99_ms"], r["server_cpu_s"], fmt(r["cpu_s_per_100k_msgs"]),
                100 * (r["server_core_util"] or 0), 100 * (r["gen_core_util"] or 0),
                " (SATURATED: generator-bound)" if r["gen_saturated"] else ""))


def chat_max(srv, a):
    """--chat-max: the highest offered rate with delivered == offered and
    p99 < 100 ms.  Doubles from --chat-max-start until a rate fails, then
    bisects to 10 %, at most --chat-max-steps runs of --chat-max-duration
    s.  A failure while the generator was saturated and the server was
    not is not the server's: the search stops there and says so."""
    lo, hi, runs, gen_bound = None, None, [], False
    rate = a.chat_max_start
    for _ in range(a.chat_max_steps):
        r = chat_run(srv, a, rate, a.chat_max_duration)
        ok = chat_ok(r)
        r["sustained"] = ok
        runs.append(r)
        print("    max search %s: %s" % ("ok  " if ok else "FAIL", chat_line(r)), flush=True)
        if ok:
            lo = rate
        else:
            hi = rate
            if r["gen_saturated"] and not r["server_saturated"]:
                gen_bound = True
                break
        if hi is None:
            rate *= 2
        elif lo is None:
            rate /= 2
        elif hi / lo <= 1.1:
            break
        else:
            rate = round((lo + hi) / 2)
    return {"max_rate": lo, "first_failed_rate": hi, "generator_bound": gen_bound,
            "runs": runs}


def start_relay(certs, prio=()):
    """The load generator's TLS relay (loadgen.c, relay) on CPU 0, under
    the scheduler prefix prio: the Popen, and an object with the port and
    pid() that chat_run() takes in place of a server.  Its CPU per message
    is the floor under every server's figure on this machine: TLS decrypt,
    forward, encrypt and the kernel's wake-ups, with no XMPP at all."""
    port = free_port()
    rel = subprocess.Popen(list(prio) + ["taskset", "-c", SERVER_CPU, LOADGEN, "--scenario",
                            "relay", "--cert", certs[2], "--port", str(port), "--duration",
                            "3600"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if rel.stdout.readline().strip() != "listening":
        err = rel.stderr.read()
        rel.terminate()
        rel.wait()
        raise RuntimeError("relay did not start: %s" % err)
    return rel, types.SimpleNamespace(name="relay", port=port, pid=lambda: rel.pid)


def selftest(a, certs):
    """The generator against the TLS relay on CPU 0 instead of a server:
    its own latency, and the relay's CPU (start_relay())."""
    rel, relay = start_relay(certs, gen_prio(a))
    try:
        out = {}
        for rate in a.chat_rate or [1000]:
            r = chat_run(relay, a, rate, extra=["--no-login", "--tls", "direct"])
            out["relay_%g" % rate] = r
            print("  generator self-latency (TLS relay, no server): " + chat_line(r), flush=True)
        return out
    finally:
        rel.terminate()
        rel.wait()


def per(scale, total, count):
    """scale x total / count: a figure per unit, None when nothing was
    counted."""
    return scale * total / count if count else None


def cpu_of(srv, fn):
    """Runs fn() and returns (its result, server CPU seconds it cost)."""
    pid = srv.pid()
    c0, _ = proc_stats(pid)
    r = fn()
    c1, _ = proc_stats(pid)
    return r, c1 - c0


def check(srv, r, what, want_online=None, want_failed=0):
    if r["failed"] > want_failed:
        problem(srv.name, "%s: %d failed sessions" % (what, r["failed"]))
    if want_online is not None and r["online"] < want_online:
        problem(srv.name, "%s: only %d of %d sessions online" % (what, r["online"], want_online))
    if r.get("errors"):
        problem(srv.name, "%s: %d stanza errors" % (what, r["errors"]))


def register(srv, prefix, n):
    r = loadgen(srv.port, "--scenario", "register", "--user-prefix", prefix, "--users", n,
                "--concurrency", 50)
    if r["failed"] or r["ok"] != n:
        problem(srv.name, "register %s*: %d ok, %d failed of %d" % (prefix, r["ok"], r["failed"], n))
    return r


def idle(srv, n, tls, hold):
    """Holds n sessions; RSS is sampled once all are online and settled."""
    pid = srv.pid()
    time.sleep(1)
    _, rss0 = proc_stats(pid)
    # Whitespace keepalives every --idle-keepalive s during the hold (the
    # issue: "stable ... with keepalive traffic"), then one ping round
    # trip on every session ('alive').
    args = ["--scenario", "idle", "--users", n, "--conns", n, "--login-rate", 1000,
            "--concurrency", 200, "--duration", hold, "--tls", "starttls" if tls else "none",
            "--keepalive", IDLE_KEEPALIVE]

    def sample():
        # Idle means quiet: RSS is read IDLE_SETTLE s after the last login
        # (at most half the hold), once the last writes, garbage
        # collection and Parley's detaching of quiet streams
        # (limits.detach_after, 10 s) have settled; keepalives go on.
        time.sleep(min(IDLE_SETTLE, hold / 2))
        return proc_stats(pid)[1], srv.online_count()

    r, got = run_marked(srv, args, sample)
    rss1, server_online = got if got else (None, None)
    r["rss_before_kib"] = rss0
    r["rss_with_sessions_kib"] = rss1
    r["server_reports_online"] = server_online
    r["kib_per_session"] = ((rss1 - rss0) / r["online"]
                            if rss1 is not None and r["online"] else None)
    label = "idle %s %d" % ("TLS" if tls else "TCP", n)
    if rss1 is None:
        problem(srv.name, "%s: never all online (%d)" % (label, r["online"]))
    check(srv, r, label, want_online=n)
    if server_online is not None and server_online < n:
        problem(srv.name, "%s: server reports %d sessions" % (label, server_online))
    if not r.get("verified") or r.get("alive", 0) < n:
        problem(srv.name, "%s: after the %g s hold %d of %d sessions answered a ping"
                % (label, hold, r.get("alive", 0), n))
    return r


def muc(srv, a):
    """(f) --muc-occupants sessions join one room, then --muc-senders of
    them send --muc-rate groupchat messages/s; every occupant counts what
    it receives.  CPU is read from the moment all are in the room (and
    the join presences have settled) to the end of the drain."""
    n = a.muc_occupants
    r, _ = run_marked(srv, ["--scenario", "muc", "--users", n, "--conns", n,
                            "--senders", a.muc_senders, "--rate", a.muc_rate,
                            "--room-config", srv.muc_room_config,
                            "--login-rate", 500, "--concurrency", 100,
                            "--duration", a.duration])
    cpu = r["cpu_window_s"] or 0
    delivered = r["received"] + r["echoes"]
    want = r["sent"] * n
    # Delivered/s over the time the deliveries took: sending plus the
    # drain (which ends at the last delivery), so that a server that falls
    # behind and catches up later shows its real fan-out rate (and its
    # backlog in drain_s and the latency).
    busy = r["send_s"] + r["drain_s"]
    r.update(offered_rate=a.muc_rate, occupants=n, server_cpu_s=cpu,
             delivered=delivered, expected_deliveries=want,
             sent_per_s=per(1, r["sent"], r["send_s"]),
             delivered_per_s=per(1, delivered, busy),
             cpu_s_per_100k_deliveries=per(1e5, cpu, delivered))
    check(srv, r, "muc", want_online=n)
    if r["joined"] < n:
        problem(srv.name, "muc: only %d of %d occupants joined" % (r["joined"], n))
    if r["room_config"] != srv.muc_room_config:
        problem(srv.name, "muc: room configured as %r, not %r"
                % (r["room_config"], srv.muc_room_config))
    if delivered != want or r["echoes"] != r["sent"]:
        problem(srv.name, "muc: sent %d x %d occupants = %d, delivered %d (%d of them "
                "echoes to the sender)" % (r["sent"], n, want, delivered, r["echoes"]))
    print("  muc %d occupants @%g/s: sent %.1f/s, delivered %.0f/s, p50 %.3f p99 %.3f "
          "p99.9 %.3f ms, %.2f CPU s/100k; in %.1f s of sending and draining, server "
          "CPU %.1f s, generator CPU %.1f s"
          % (n, a.muc_rate, r["sent_per_s"] or 0, r["delivered_per_s"] or 0, r["msg_p50_ms"],
             r["msg_p99_ms"], r["msg_p999_ms"], r["cpu_s_per_100k_deliveries"] or 0,
             r["send_s"] + r["drain_s"], cpu, r["loadgen_window_cpu_s"]), flush=True)
    return r


def roster_setup(srv, a):
    """(d) setup: the storm accounts' rosters, built in-band (loadgen.c,
    scenario roster): every account subscribes to its --contacts contacts
    and approves every request, with at most --roster-window requests
    awaiting approval at once, so that a server slower than the offered
    rate still approves steadily (sent open-loop, Prosody 0.12 approved 31
    of 20,200 in 300 s: every request queued ahead of the approvals).  The
    generator gives up when the rate so far says the setup would not
    finish within --storm-setup-s.  Returns (result, complete)."""
    register(srv, "storm", a.storm_users)
    r, cpu = cpu_of(srv, lambda: loadgen(
        srv.port, "--scenario", "roster", "--user-prefix", "storm", "--users", a.storm_users,
        "--contacts", a.contacts, "--rate", 5000, "--window", a.roster_window,
        "--login-rate", 1000, "--duration", a.storm_setup_s))
    r["server_cpu_s"] = cpu
    r["cpu_ms_per_subscription"] = per(1000, cpu, r["subscribed"])
    r["subscriptions_per_s"] = r["subscribed"] / r["approve_s"] if r["approve_s"] > 0 else None
    check(srv, r, "roster setup", want_online=a.storm_users)
    complete = r["subscribed"] >= r["expected"]
    print("  rosters: %d of %d subscriptions approved in %.1f s (%s/s, %s ms server CPU "
          "each, logins included)" % (r["subscribed"], r["expected"], r["approve_s"],
                                      fmt(r["subscriptions_per_s"], "%.0f"),
                                      fmt(r["cpu_ms_per_subscription"], "%.1f")), flush=True)
    if not complete:
        if r["stalled"]:
            why = "no approval for 30 s"
        else:
            why = "at this rate the setup needs at least %.0f s, over --storm-setup-s %g" % (
                r["projected_s"], a.storm_setup_s)
        # A size that would fit: fewer contacts per account, same accounts
        # (the server's cost per subscription grows with the roster, so
        # this is an upper bound).
        fit = int(r["subscriptions_per_s"] * a.storm_setup_s / a.storm_users) \
            if r["subscriptions_per_s"] else 0
        problem(srv.name, "roster setup incomplete (%s): no storm figure at %d users x %d "
                "contacts; at the rate seen, at most --contacts %d would fit "
                "(docs/benchmarks.md, 'Storm sizes')" % (why, a.storm_users, a.contacts, fit))
    return r, complete


def storm(srv, a, res):
    """(d) presence storm: with the rosters built, every account logs in
    together; counts the contacts' available presences."""
    r, complete = roster_setup(srv, a)
    res["roster_setup"] = r
    if not complete:
        return              # partial rosters would make the storm's figures meaningless
    time.sleep(2)
    r, cpu = cpu_of(srv, lambda: loadgen(
        srv.port, "--scenario", "storm", "--user-prefix", "storm", "--users",
        a.storm_users, "--contacts", a.contacts, "--login-rate", a.storm_rate,
        "--concurrency", 200, "--duration", 120))
    r["server_cpu_s"] = cpu
    r["cpu_ms_per_login"] = per(1000, cpu, r["ok"])
    r["cpu_s_per_100k_presences"] = per(1e5, cpu, r["presences"])
    check(srv, r, "storm", want_online=a.storm_users)
    if r["presences"] < r["expected"]:
        problem(srv.name, "storm: %d of %d contact presences delivered"
                % (r["presences"], r["expected"]))
    res["storm"] = r
    print("  storm: %d online in %.2f s, %d presences, %.2f CPU s"
          % (r["online"], r["all_online_s"], r["presences"], cpu), flush=True)


def steal_over(st, a, latency):
    """A phase's steal above --max-steal: on the server core for every
    phase (its CPU per operation), and for the latency phases also on the
    generator core (a burst there delays the generator's timestamps)."""
    return st["server_pct"] > a.max_steal or (latency and st["gen_pct"] > a.max_steal)


def steal_level(st, latency):
    """The steal steal_over() compares with --max-steal."""
    return max(st["server_pct"], st["gen_pct"] if latency else 0.0)


def wait_quiet(a):
    """Before a re-run: up to STEAL_WAIT s for the burst to pass (a second
    with the server core's steal under --max-steal)."""
    end = time.time() + STEAL_WAIT
    while time.time() < end:
        m = StealMeter()
        time.sleep(1)
        if m.read()["server_pct"] <= a.max_steal:
            return


def measured(a, label, run, describe, others=(), latency=False):
    """One measured phase: run() returns its figures, describe(r) the text
    of its line.  The steal on both cores and the wall time around it go
    into r["steal"] (chat_run measures its own window, "go" to drained),
    and the CPU the servers not being measured took meanwhile into
    r["steal"]["others_cpu_s"].  While the steal is above --max-steal the
    phase is re-run, --retries times at most; the figures are those of
    the attempt with the least steal (chosen by the steal, never by the
    figures, so the choice cannot flatter a server), every attempt is kept
    in r["attempts"], and a phase still above the limit has
    r["steal"]["over_limit"] set: its figures are marked in the table, not
    silently used."""
    attempts = []
    for i in range(a.retries + 1):
        if i:
            wait_quiet(a)
        time.sleep(PHASE_SETTLE)
        meter = StealMeter()
        o0 = sum(proc_stats(o.pid())[0] for o in others)
        r = run()
        o1 = sum(proc_stats(o.pid())[0] for o in others)
        st = r.setdefault("steal", meter.read())
        if others:
            st["others_cpu_s"] = o1 - o0
        st["over_limit"] = steal_over(st, a, latency)
        attempts.append(r)
        text = "steal " + steal_text(st)
        if others:
            text += ", other servers' CPU %.2f s" % st["others_cpu_s"]
        if st["over_limit"] and i < a.retries:
            text += " > %g %%: re-run %d of %d" % (a.max_steal, i + 1, a.retries)
        elif st["over_limit"]:
            text += " > %g %% after %d re-runs: figures marked *" % (a.max_steal, a.retries)
        print("  %s: %s [%s]" % (label, describe(r), text), flush=True)
        if not st["over_limit"]:
            break
    best = min(attempts, key=lambda r: steal_level(r["steal"], latency))
    return dict(best, attempts=attempts)


def noted(where, r):
    """Remembers a phase still above --max-steal after its re-runs."""
    if r["steal"]["over_limit"]:
        NOISY.append("%s: steal %s" % (where, steal_text(r["steal"])))


def login_phases(s, a, out, others=(), who="", where=""):
    """(a) logins: as many as the server takes, then one at a time."""
    def concurrent():
        r, cpu = cpu_of(s, lambda: loadgen(
            s.port, "--scenario", "login", "--users", a.users, "--rate", 100000,
            "--duration", a.duration, "--concurrency", a.login_concurrency, "--warmup", 1))
        r["server_cpu_s"] = cpu
        r["cpu_ms_per_login"] = per(1000, cpu, r["ok"])
        return r

    r = measured(a, who + "login", concurrent,
                 lambda r: "%.0f/s, %s ms CPU each" % (r["ok_per_s"],
                                                       fmt(r["cpu_ms_per_login"])), others)
    check(s, r, "login" + where)
    noted(s.name + " login" + where, r)
    out["login"] = r
    r = measured(a, who + "sequential login", lambda: loadgen(
        s.port, "--scenario", "login", "--users", a.users, "--rate", 100000,
        "--duration", 3, "--concurrency", 1, "--warmup", 0.5),
        lambda r: "p50 %.2f ms (generator CPU p50 %.2f ms; latency minus generator CPU "
                  "p50 %.2f ms, p99 %.2f ms)" % (r["login_p50_ms"], r["login_cpu_p50_ms"],
                                                 r["login_rest_p50_ms"],
                                                 r["login_rest_p99_ms"]),
        others, latency=True)
    check(s, r, "sequential login" + where)
    noted(s.name + " sequential login" + where, r)
    out["login_seq"] = r


def chat_phases(s, a, out, others=(), who="", where=""):
    """(c) one-to-one chat at each fixed offered rate."""
    for rate in a.chat_rate:
        r = measured(a, who + "chat", lambda: chat_run(s, a, rate), chat_line, others,
                     latency=True)
        what = "chat %g/s%s" % (rate, where)
        check(s, r, what, want_online=a.chat_conns)
        if r["received"] != r["sent"]:
            problem(s.name, "%s: sent %d, received %d" % (what, r["sent"], r["received"]))
        if r["gen_saturated"]:
            problem(s.name, "%s: the generator saturated its core (%.0f%%) or fell behind "
                    "the pace" % (what, 100 * (r["gen_core_util"] or 0)))
        noted("%s %s" % (s.name, what), r)
        out["chat_%g" % rate] = r


def start_server(s, a):
    """Starts s and registers the 'bench' accounts every selected scenario
    uses (main() zeroed the sizes of the scenarios left out)."""
    print("== %s on port %d (server on CPU %s, load generator on CPU %s)"
          % (s.name, s.port, SERVER_CPU, LOADGEN_CPU), flush=True)
    res = {}
    if not s.start():
        raise RuntimeError("%s did not start (see %s)" % (s.name, s.dir))
    need = max(max(a.idle, default=0), a.users if "login" in a.scenarios else 0,
               a.chat_conns if a.chat_rate else 0, a.muc_occupants,
               10 if a.offline_users else 0)
    t = time.time()
    if need:
        res["register"] = register(s, "bench", need)
        print("  registered %d in %.0f s" % (need, time.time() - t), flush=True)
    time.sleep(1)
    res["rss_start_kib"] = proc_stats(s.pid())[1]
    return res


def idle_phases(s, a, res):
    """(b) idle sessions, TLS then plain TCP, at each size."""
    for n in a.idle:
        for tls in [k == "tls" for k in a.idle_kinds]:
            # A fresh process: memory freed by earlier scenarios would
            # otherwise be reused and hide the sessions' cost.
            s.stop()
            if not s.start():
                raise RuntimeError("%s did not restart" % s.name)
            key = "idle_%s_%d" % ("tls" if tls else "tcp", n)
            res[key] = idle(s, n, tls, a.idle_hold)
            print("  %s: %s sessions, %s KiB each; after the %g s hold %d answered "
                  "a ping" % (key, res[key]["online"],
                              fmt(res[key]["kib_per_session"], "%.1f"), a.idle_hold,
                              res[key].get("alive", 0)), flush=True)


def rest_phases(s, a, res):
    """What follows the fixed-rate chat: (c) --chat-max, (d) storm, (e)
    offline, (f) MUC, each once per server."""
    # (c) the highest rate the server sustains and, at half of it, the latency.
    if a.chat_max:
        m = chat_max(s, a)
        res["chat_max"] = m
        print("  chat max: %s msg/s%s" % (
            fmt(m["max_rate"], "%.0f"),
            " (bounded by the generator, not the server)" if m["generator_bound"] else ""),
            flush=True)
        if m["max_rate"] and s.name == "parley":
            r = chat_run(s, a, m["max_rate"] / 2)
            res["chat_half_max"] = r
            print("  chat at half the maximum: " + chat_line(r), flush=True)

    # (d) presence storm: rosters built in-band, then everyone logs in.
    if a.storm_users:
        storm(s, a, res)

    # (e) offline store, then delivery at login.
    if a.offline_users:
        register(s, "off", a.offline_users)
        senders = 10
        r, _ = run_marked(s, [
            "--scenario", "send", "--users", senders, "--conns", senders,
            "--to-prefix", "off", "--to-first", 0, "--to-count", a.offline_users,
            "--messages", a.offline_msgs, "--user-prefix", "bench",
            "--rate", a.offline_rate, "--duration", 120])
        cpu = r["cpu_window_s"] or 0
        r["server_cpu_s"] = cpu
        r["cpu_ms_per_msg"] = per(1000, cpu, r["sent"])
        check(s, r, "offline store", want_online=senders)
        res["offline_store"] = r
        time.sleep(2)
        r, cpu = cpu_of(s, lambda: loadgen(
            s.port, "--scenario", "recv", "--user-prefix", "off", "--users",
            a.offline_users, "--conns", a.offline_users, "--expect", a.offline_msgs,
            "--login-rate", 1000, "--duration", 60))
        # Delivery happens at login: the cost is per recipient login
        # (with offline_msgs / offline_users messages each), to be
        # compared with a plain login.
        r["server_cpu_s"] = cpu
        r["cpu_ms_per_login"] = per(1000, cpu, r["ok"])
        r["cpu_ms_per_msg"] = per(1000, cpu, r["received"])
        check(s, r, "offline delivery", want_online=a.offline_users)
        if r["received"] != a.offline_msgs:
            problem(s.name, "offline: sent %d, delivered %d at login"
                    % (a.offline_msgs, r["received"]))
        res["offline_deliver"] = r
        print("  offline: stored %d (%.3f ms CPU each), delivered %d (%.3f ms CPU each, "
              "logins included)" % (res["offline_store"]["sent"],
                                    res["offline_store"]["cpu_ms_per_msg"] or 0,
                                    r["received"], r["cpu_ms_per_msg"] or 0), flush=True)
        if res["offline_store"]["sent"] != a.offline_msgs:
            problem(s.name, "offline: only %d of %d sent" % (res["offline_store"]["sent"],
                                                            a.offline_msgs))
    # (f) MUC fan-out: one room, --muc-occupants occupants.
    if a.muc_occupants:
        res["muc"] = muc(s, a)
    res["rss_end_kib"] = proc_stats(s.pid())[1]


def run_server(cls, tmp, certs, a):
    """One server, every selected scenario once, in today's order (--rounds
    1): login, idle, chat, then the rest; the server is stopped at the end."""
    s = cls(tmp, certs)
    try:
        res = start_server(s, a)
        if "login" in a.scenarios:
            login_phases(s, a, res)
        idle_phases(s, a, res)
        chat_phases(s, a, res)
        rest_phases(s, a, res)
    finally:
        s.stop()
    return res


def run_rounds(names, tmp, certs, a, results):
    """--rounds N > 1: every server is started and its accounts registered
    first; then N rounds, each measuring every server's login, sequential
    login and chat phases, the order rotated by one each round (P,E,S;
    E,S,P; S,P,E; ...) so that a steal burst or a busy neighbour hits a
    different server each time and each round's ratios compare servers
    measured minutes apart.  After the rounds each server runs its other
    scenarios (idle, --chat-max, storm, offline, MUC) once, as in a single
    pass, and is stopped.  results[name]["rounds"] holds every round.

    The servers not being measured stay up and idle; they are not frozen
    with SIGSTOP.  Measured (schedstat, 10 s windows, after logins and
    chat): an idle parleyd, beam.smp or prosody uses <= 0.1 ms of CPU per
    second, i.e. <= 0.01 % of CPU 0, once the first second after its own
    phase is over (ejabberd ~16 ms and Prosody ~6 ms in that second), and
    PHASE_SETTLE waits that second out.  SIGSTOP could not buy more than
    that, and it would cost: the stopped VM's due timers and unfinished
    work would run on SIGCONT, inside its own next phase; ejabberdctl
    cannot reach a stopped node; an interrupted run.py would leave stopped
    servers behind.  Every phase records the other servers' CPU
    (steal.others_cpu_s) so the assumption is checked on every run."""
    live = []           # [(server, its results)] in --servers order
    try:
        for name in names:
            s = SERVERS[name](tmp, certs)
            try:
                res = start_server(s, a)
            except KeyboardInterrupt:
                s.stop()
                raise
            except Exception as e:      # one server failing must not hide the others
                problem(name, "aborted: %s" % e)
                s.stop()
                continue
            res["rounds"] = []
            live.append((s, res))
            results[name] = res
        for k in range(a.rounds):
            order = live[k % len(live):] + live[:k % len(live)] if live else []
            print("== round %d of %d: %s" % (k + 1, a.rounds,
                                            ", ".join(s.name for s, _ in order)), flush=True)
            for pos, (s, res) in enumerate(order):
                rd = {"round": k + 1, "position": pos + 1,
                      "order": [o.name for o, _ in order]}
                res["rounds"].append(rd)
                others = [o for o, _ in live if o is not s]
                who, where = s.name + " ", " (round %d)" % (k + 1)
                try:
                    if "login" in a.scenarios:
                        login_phases(s, a, rd, others, who, where)
                    chat_phases(s, a, rd, others, who, where)
                except KeyboardInterrupt:
                    raise
                except Exception as e:
                    problem(s.name, "round %d aborted: %s" % (k + 1, e))
            dead = [(s, res) for s, res in live if s.proc.poll() is not None]
            for s, res in dead:
                problem(s.name, "exited during round %d; left out of the rest" % (k + 1))
                live.remove((s, res))
        rest = a.idle or a.chat_max or a.storm_users or a.offline_users or a.muc_occupants
        while live:
            s, res = live[0]
            if rest:
                print("== %s: the other scenarios" % s.name, flush=True)
            try:
                idle_phases(s, a, res)
                rest_phases(s, a, res)
            except KeyboardInterrupt:
                raise
            except Exception as e:
                problem(s.name, "aborted: %s" % e)
            finally:
                s.stop()
                live.pop(0)
    finally:
        for s, _ in live:
            s.stop()


def fmt(v, spec="%.2f"):
    return "-" if v is None else spec % v


def rows_for(a):
    """(label, getter on a server's results or one round's, format, the
    phase the figure comes from when rounds and steal apply to it)."""
    rows = []
    if "login" in a.scenarios:
        rows += [
            ("logins/s (concurrency %d)" % a.login_concurrency,
             lambda r: r["login"]["ok_per_s"], "%.0f", "login"),
            ("server CPU ms / login", lambda r: r["login"]["cpu_ms_per_login"], "%.3f",
             "login"),
            ("sequential login p50 ms", lambda r: r["login_seq"]["login_p50_ms"], "%.2f",
             "login_seq"),
            ("  generator CPU p50 ms", lambda r: r["login_seq"]["login_cpu_p50_ms"], "%.2f",
             "login_seq"),
            ("  latency - gen. CPU p50 ms", lambda r: r["login_seq"]["login_rest_p50_ms"],
             "%.2f", "login_seq"),
        ]
    for n in a.idle:
        for t in ("tls", "tcp"):
            rows.append(("KiB / idle %s session @%d" % (t.upper(), n),
                         lambda r, k="idle_%s_%d" % (t, n): r[k]["kib_per_session"], "%.1f"))
    for rate in a.chat_rate:
        k = "chat_%g" % rate
        rows += [row + (k,) for row in (
            ("chat @%g/s delivered/s" % rate, lambda r, k=k: r[k]["received_per_s"], "%.0f"),
            ("  p50 ms", lambda r, k=k: r[k]["msg_p50_ms"], "%.3f"),
            ("  p99 ms", lambda r, k=k: r[k]["msg_p99_ms"], "%.3f"),
            ("  p99.9 ms", lambda r, k=k: r[k]["msg_p999_ms"], "%.3f"),
            ("  server CPU s / 100k msgs", lambda r, k=k: r[k]["cpu_s_per_100k_msgs"], "%.2f"),
            ("  generator core use %", lambda r, k=k: 100 * r[k]["gen_core_util"], "%.0f"),
        )]
    if a.chat_max:
        rows += [
            ("chat max msg/s (p99<100ms)", lambda r: r["chat_max"]["max_rate"], "%.0f"),
            ("  Parley @ half max: p99 ms", lambda r: r["chat_half_max"]["msg_p99_ms"], "%.3f"),
        ]
    if a.storm_users:
        rows += [
            ("roster setup: subscriptions/s",
             lambda r: r["roster_setup"]["subscriptions_per_s"], "%.0f"),
            ("  server CPU ms / subscription",
             lambda r: r["roster_setup"]["cpu_ms_per_subscription"], "%.2f"),
            ("storm: s until all online", lambda r: r["storm"]["all_online_s"], "%.2f"),
            ("storm: server CPU s", lambda r: r["storm"]["server_cpu_s"], "%.2f"),
            ("storm: CPU ms / login", lambda r: r["storm"]["cpu_ms_per_login"], "%.2f"),
            ("storm: presences recvd", lambda r: r["storm"]["presences"], "%d"),
        ]
    if a.offline_users:
        rows += [
            ("offline store CPU ms/msg", lambda r: r["offline_store"]["cpu_ms_per_msg"], "%.3f"),
            ("offline: CPU ms / login+%d msgs" % (a.offline_msgs // max(a.offline_users, 1)),
             lambda r: r["offline_deliver"]["cpu_ms_per_login"], "%.3f"),
        ]
    if a.muc_occupants:
        rows += [
            ("muc %d occ. @%g/s: sent/s" % (a.muc_occupants, a.muc_rate),
             lambda r: r["muc"]["sent_per_s"], "%.1f"),
            ("  delivered stanzas/s", lambda r: r["muc"]["delivered_per_s"], "%.0f"),
            ("  s to drain after sending", lambda r: r["muc"]["drain_s"], "%.2f"),
            ("  p50 ms", lambda r: r["muc"]["msg_p50_ms"], "%.3f"),
            ("  p99 ms", lambda r: r["muc"]["msg_p99_ms"], "%.3f"),
            ("  p99.9 ms", lambda r: r["muc"]["msg_p999_ms"], "%.3f"),
            ("  server CPU s / 100k deliv.", lambda r: r["muc"]["cpu_s_per_100k_deliveries"],
             "%.2f"),
        ]
    # The other scenarios run once per server: no phase, no rounds.
    return [row if len(row) == 4 else row + (None,) for row in rows]


def figures(res, get, phase):
    """One row's figures for one server, each (value, still above
    --max-steal): one per round when the row's phase ran in rounds, else
    the single pass's one."""
    out = []
    for r in (res.get("rounds") if phase else None) or [res]:
        try:
            v = get(r)
        except (KeyError, TypeError):
            v = None
        out.append((v, bool(phase and r.get(phase, {}).get("steal", {}).get("over_limit"))))
    return out


def summary(figs):
    """(median, min, max, count, any figure marked) of a row's figures;
    the median of an even count is the mean of the middle two."""
    vals = sorted(v for v, _ in figs if v is not None)
    if not vals:
        return None
    n = len(vals)
    med = vals[n // 2] if n % 2 else (vals[n // 2 - 1] + vals[n // 2]) / 2
    return med, vals[0], vals[-1], n, any(over for v, over in figs if v is not None)


def cell(sm, spec):
    if sm is None:
        return "-"
    med, lo, hi, n, marked = sm
    text = spec % med
    if n > 1:
        text += " (%s-%s)" % (spec % lo, spec % hi)
    return text + ("*" if marked else "")


def ratio(p, o):
    """o / p of two summaries' medians, marked if either is."""
    if p is None or o is None or not p[0]:
        return "-"
    return "%.2fx%s" % (o[0] / p[0], "*" if p[4] or o[4] else "")


def table(results, a):
    """The main table: with rounds, each login/chat figure is the median
    over the rounds with (min-max), and the ratios are the medians'; a
    figure resting on a phase still above --max-steal is marked *."""
    names = [n for n in results if n != "generator"]
    others = [n for n in names if n != "parley"] if "parley" in names else []
    body, sums = [], []
    for label, get, spec, phase in rows_for(a):
        sm = {n: summary(figures(results[n], get, phase)) for n in names}
        sums.append((label.strip(), phase, sm))
        body.append((label, [cell(sm[n], spec) for n in names],
                     [ratio(sm["parley"], sm[n]) for n in others]))
    w = max([12] + [len(c) + 2 for _, cells, _ in body for c in cells])
    lines = ["%-30s" % "" + "".join("%*s" % (w, n) for n in names) +
             "".join("%16s" % ("%s/parley" % n) for n in others)]
    for label, cells, ratios in body:
        lines.append("%-30s" % label + "".join("%*s" % (w, c) for c in cells) +
                     "".join("%16s" % r for r in ratios))
    return "\n".join(lines), sums


def round_table(results, a):
    """Per round: CPU per login and per 100k messages of each peer over
    Parley's, and Parley's chat p99 (the issue's targets), so that a round
    hit by noise shows as one odd line instead of hiding in a median."""
    rounds = results.get("parley", {}).get("rounds")
    if not rounds or a.rounds < 2:
        return None
    peers = [n for n in results if n not in ("generator", "parley") and
             results[n].get("rounds")]
    cols = []           # (header, phase, getter); ratios for the peers, p99 for Parley
    if "login" in a.scenarios:
        cols += [("%s/P login" % n, n, "login", lambda r: r["login"]["cpu_ms_per_login"])
                 for n in peers]
    for rate in a.chat_rate:
        k = "chat_%g" % rate
        cols += [("%s/P msg@%g" % (n, rate), n, k,
                  lambda r, k=k: r[k]["cpu_s_per_100k_msgs"]) for n in peers]
        cols.append(("P p99@%g ms" % rate, None, k, lambda r, k=k: r[k]["msg_p99_ms"]))

    def at(name, number):
        return next((r for r in results[name]["rounds"] if r["round"] == number), {})

    lines = ["%-7s%-26s" % ("round", "order") +
             "".join("%*s" % (len(h) + 2, h) for h, _, _, _ in cols)]
    for p in rounds:
        line = "%-7d%-26s" % (p["round"], ",".join(p["order"]))
        for head, peer, phase, get in cols:
            mine = figures(p, get, phase)[0]
            if peer is None:
                text = fmt(mine[0], "%.3f") + ("*" if mine[1] else "")
            else:
                theirs = figures(at(peer, p["round"]), get, phase)[0]
                text = ratio(summary([mine]), summary([theirs]))
            line += "%*s" % (len(head) + 2, text)
        lines.append(line)
    return "\n".join(lines)


def fit_at_zero(points):
    """Least-squares line through (steal %, figure) points: its value at
    0 % steal, that value's standard error, and the slope; None with fewer
    than 4 points or no spread in the steal."""
    n = len(points)
    if n < 4:
        return None
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx < 1.0:
        return None
    slope = sum((x - mx) * (y - my) for x, y in points) / sxx
    at0 = my - slope * mx
    resid = sum((y - at0 - slope * x) ** 2 for x, y in points)
    se = math.sqrt(resid / (n - 2) * (1.0 / n + mx * mx / sxx))
    return at0, se, slope


def steal_fit_table(results, a):
    """Every attempt of every round (re-runs included) is a measurement at
    a known steal: the figures rise with it, nearly linearly (session 5's
    runs: Parley's CPU per 100k messages +0.3 s per point of steal).  A
    least-squares line per server and figure, read at 0 % steal, estimates
    the quiet machine's figure from all of them, instead of trusting the
    few attempts that happened to be calm; the ratios are of those
    estimates."""
    names = [n for n in results if n != "generator" and results[n].get("rounds")]
    if a.rounds < 2 or not names:
        return None
    rows = []
    if "login" in a.scenarios:
        rows.append(("server CPU ms / login", "login", "cpu_ms_per_login"))
    for rate in a.chat_rate:
        rows.append(("server CPU s / 100k msgs @%g" % rate, "chat_%g" % rate,
                     "cpu_s_per_100k_msgs"))
    others = [n for n in names if n != "parley"] if "parley" in names else []
    lines = ["%-30s" % "" + "".join("%22s" % n for n in names) +
             "".join("%16s" % ("%s/parley" % n) for n in others)]
    for label, phase, key in rows:
        fits = {}
        for n in names:
            pts = [(t["steal"]["server_pct"], t[key])
                   for rd in results[n]["rounds"] if phase in rd
                   for t in rd[phase].get("attempts", [rd[phase]])
                   if t.get(key) is not None and "steal" in t]
            fits[n] = (fit_at_zero(pts), len(pts))
        line = "%-30s" % label
        for n in names:
            f, k = fits[n]
            line += "%22s" % ("-" if f is None else "%.2f +-%.2f (n=%d)" % (f[0], f[1], k))
        for n in others:
            p, o = fits["parley"][0], fits[n][0]
            line += "%16s" % (fmt(o[0] / p[0], "%.2fx") if p and o and p[0] > 0 else "-")
        lines.append(line)
    return "\n".join(lines)


def merged(old, new):
    """--merge: the new figures over a server's old ones; login and chat
    figures from a single pass and from rounds replace each other."""
    if "rounds" in new:
        old = {k: v for k, v in old.items()
               if k not in ("login", "login_seq") and not k.startswith("chat_")
               or k in ("chat_max", "chat_half_max")}
    elif "login" in new or any(k.startswith("chat_") for k in new):
        old = {k: v for k, v in old.items() if k != "rounds"}
    return dict(old, **new)


def summaries(sums):
    """The table's rows for the JSON: per server the median, min, max, how
    many figures (rounds) and whether any was above --max-steal."""
    keys = ("median", "min", "max", "n", "steal_marked")
    return [{"row": label, "phase": phase,
             "servers": {n: sm and dict(zip(keys, sm)) for n, sm in row.items()}}
            for label, phase, row in sums]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--servers", default="parley,ejabberd,prosody")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS),
                    help="comma-separated subset of %s (default: all)" % ",".join(SCENARIOS))
    ap.add_argument("--users", type=int, default=1000, help="accounts the login scenario cycles")
    ap.add_argument("--login-concurrency", type=int, default=20)
    ap.add_argument("--idle", default="10000", help="comma-separated session counts")
    ap.add_argument("--idle-kinds", default="tls,tcp",
                    help="idle sessions over 'tls', plain 'tcp', or both (default)")
    ap.add_argument("--idle-hold", type=float, default=60,
                    help="s the idle sessions are held (RSS is read after min(25, hold/2) s)")
    ap.add_argument("--chat-conns", type=int, default=200)
    ap.add_argument("--chat-rate", default="1000", help="comma-separated offered msg/s")
    ap.add_argument("--chat-gens", type=int, default=1,
                    help="generator processes for chat (with --chat-split: this many "
                         "senders and as many receivers), all on the generator core")
    ap.add_argument("--chat-split", action=argparse.BooleanOptionalAction, default=True,
                    help="senders and receivers in separate processes (default on)")
    ap.add_argument("--chat-max", action="store_true",
                    help="search each server's highest sustained chat rate (delivered == "
                         "offered, p99 < 100 ms); Parley is then measured at half of it")
    ap.add_argument("--chat-max-start", type=float, default=2000)
    ap.add_argument("--chat-max-steps", type=int, default=8, help="runs at most per server")
    ap.add_argument("--chat-max-duration", type=float, default=5, help="s per search run")
    ap.add_argument("--selftest", action=argparse.BooleanOptionalAction, default=True,
                    help="with chat: first measure the generator against a TLS relay "
                         "instead of a server (its own latency)")
    ap.add_argument("--gen-rt", action=argparse.BooleanOptionalAction, default=True,
                    help="chat generators run SCHED_FIFO (chrt -f 10) on their core")
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--rounds", type=int, default=3,
                    help="login and chat: start every server first, then measure each "
                         "server's login, sequential login and chat phases this many times, "
                         "the server order rotated each round; the table shows the median "
                         "(min-max) and the ratios of the medians (default 3; 1 = today's "
                         "single pass, every scenario of one server before the next)")
    # 2 %: with the VM calm the host steals 0-1 % of a core (0-4 ticks per
    # 5 s per core here), in its bursts 5-30 % (4,000 ticks in one 136 s
    # run), and those bursts are what doubled a server's CPU per operation
    # and p99.  2 % of a 10 s phase is 20 ticks: a calm phase passes at the
    # first attempt, a phase a burst lands on does not.
    ap.add_argument("--max-steal", type=float, default=2,
                    help="%% of a login/chat phase's wall time the host may steal from the "
                         "server core (and, for the latency phases, the generator core) "
                         "before the phase is re-run (default 2; 100 never re-runs)")
    ap.add_argument("--retries", type=int, default=2,
                    help="re-runs at most of a phase above --max-steal; a figure still "
                         "above it is marked * in the table (default 2)")
    ap.add_argument("--storm-users", type=int, default=1010, help="0 skips the storm")
    ap.add_argument("--contacts", type=int, default=10,
                    help="roster size in the storm (default 10: Prosody 0.12 needs minutes "
                         "of CPU per 1,000 accounts for 100-contact rosters, "
                         "docs/benchmarks.md 'Storm sizes')")
    ap.add_argument("--storm-rate", type=float, default=2000, help="logins/s offered")
    ap.add_argument("--storm-setup-s", type=float, default=300,
                    help="budget for building the storm rosters in-band; a server whose "
                         "rate says it would need longer gets no storm figure")
    ap.add_argument("--roster-window", type=int, default=200,
                    help="storm setup: subscription requests awaiting approval at most")
    ap.add_argument("--offline-users", type=int, default=1000, help="0 skips offline")
    ap.add_argument("--offline-msgs", type=int, default=10000)
    ap.add_argument("--offline-rate", type=float, default=2000)
    ap.add_argument("--muc-occupants", type=int, default=1000,
                    help="room occupants in the MUC fan-out (each a session)")
    ap.add_argument("--muc-rate", type=float, default=20,
                    help="groupchat messages/s offered into the room (in total)")
    ap.add_argument("--muc-senders", type=int, default=2,
                    help="occupants that send (the rate is split over them)")
    ap.add_argument("--merge", action="store_true",
                    help="keep the other servers' results from bench/results/latest.json")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "latest.json"),
                    help="where the JSON results go (and --merge reads)")
    a = ap.parse_args()
    a.idle_kinds = [x for x in a.idle_kinds.split(",") if x]
    if not a.idle_kinds or any(k not in ("tls", "tcp") for k in a.idle_kinds):
        ap.error("--idle-kinds takes tls, tcp or tls,tcp")
    a.scenarios = [x for x in a.scenarios.split(",") if x]
    for x in a.scenarios:
        if x not in SCENARIOS:
            ap.error("unknown scenario %r (known: %s)" % (x, ",".join(SCENARIOS)))
    for x in a.servers.split(","):
        if x not in SERVERS:
            ap.error("unknown server %r (known: %s)" % (x, ",".join(SERVERS)))
    # A scenario left out is as if its size were 0 (rows_for skips it too).
    a.idle = [int(x) for x in a.idle.split(",") if x and int(x) > 0] \
        if "idle" in a.scenarios else []
    a.chat_rate = [float(x) for x in a.chat_rate.split(",") if x] \
        if "chat" in a.scenarios else []
    if "storm" not in a.scenarios:
        a.storm_users = 0
    if "offline" not in a.scenarios:
        a.offline_users = 0
    if "muc" not in a.scenarios:
        a.muc_occupants = 0
    if "chat" not in a.scenarios:
        a.chat_max = a.selftest = False
    if a.rounds < 1 or a.retries < 0:
        ap.error("--rounds must be at least 1 and --retries at least 0")
    if a.chat_conns % (2 * a.chat_gens):
        ap.error("--chat-conns must be a multiple of 2 x --chat-gens")
    if not os.access(LOADGEN, os.X_OK):
        sys.exit("run.py: %s not built (make bench builds it)" % LOADGEN)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))    # servers inherit it
    if a.idle and max(a.idle) + 100 > hard:
        sys.exit("run.py: %d idle sessions need more than the %d open files allowed"
                 % (max(a.idle), hard))
    # A SIGTERM must still stop the servers (the finally clauses).
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    tmp = tempfile.mkdtemp(prefix="parley-bench-")
    os.chmod(tmp, 0o755)
    certs = make_cert(tmp)
    for f in certs:
        os.chmod(f, 0o644)
    results = {}
    latest = a.out
    if a.merge and os.path.exists(latest):
        results = json.load(open(latest))["results"]
    started = time.time()
    run_steal = StealMeter()
    names = a.servers.split(",")
    try:
        if a.selftest:
            print("== generator self-latency: TLS relay on CPU %s, no server" % SERVER_CPU,
                  flush=True)
            try:
                results["generator"] = selftest(a, certs)
            except Exception as e:
                problem("generator", "self-test aborted: %s" % e)
        fresh = {}
        if a.rounds > 1 and ("login" in a.scenarios or a.chat_rate):
            run_rounds(names, tmp, certs, a, fresh)
        for name in names if not fresh else []:
            try:
                fresh[name] = run_server(SERVERS[name], tmp, certs, a)
            except KeyboardInterrupt:
                raise
            except Exception as e:      # one server failing must not hide the others
                problem(name, "aborted: %s" % e)
        for name, r in fresh.items():
            # --merge with --scenarios: keep this server's other figures.
            results[name] = merged(results.get(name, {}), r) if a.merge else r
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    machine = {
        "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                     if l.startswith("model name")), platform.machine()),
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
        "kernel": platform.release(),
        "pinning": "server on CPU %s, load generator on CPU %s (taskset)" % (SERVER_CPU,
                                                                              LOADGEN_CPU),
    }
    print()
    print("machine: %s, %d cores, %d GiB, Linux %s; %s" % (
        machine["cpu"], machine["cores"], machine["memory_gib"], machine["kernel"],
        machine["pinning"]))
    print("command: bench/run.py %s   (%.0f s)" % (" ".join(sys.argv[1:]), time.time() - started))
    main_table, sums = table(results, a)
    print(main_table)
    for k, r in sorted(results.get("generator", {}).items()):
        print("generator self-latency (TLS relay instead of a server) @%g/s: p50 %s p99 %s "
              "p99.9 %s ms; subtract it from the servers' chat figures at most"
              % (r["offered_rate"], fmt(r["msg_p50_ms"], "%.3f"), fmt(r["msg_p99_ms"], "%.3f"),
                 fmt(r["msg_p999_ms"], "%.3f")))
        print("  the relay's own CPU: %s s / 100k msgs (TLS in and out and the kernel's "
              "wake-ups, no XMPP: the floor under every server's figure)"
              % fmt(r.get("cpu_s_per_100k_msgs")))
    per_round = round_table(results, a)
    if per_round:
        print("\nper round: each peer's server CPU per operation over Parley's (login: per "
              "login; msg: per 100k messages)%s" % (" and Parley's chat p99" if a.chat_rate
                                                     else ""))
        print(per_round)
    fitted = steal_fit_table(results, a)
    if fitted:
        print("\nsteal-adjusted: a least-squares line of each figure against its phase's "
              "steal on the server core, over every attempt, read at 0 % steal (+- its "
              "standard error)")
        print(fitted)
    steal = run_steal.read()
    print("\nsteal over the whole run: %s" % steal_text(steal))
    if NOISY:
        print("\nSTEAL ABOVE --max-steal %g %% AFTER %d RE-RUN(S) (figures marked *, "
              "from the attempt with the least steal):" % (a.max_steal, a.retries))
        for n in NOISY:
            print("  " + n)
    if PROBLEMS:
        print("\nFAILED CHECKS (the figures above them are not trustworthy):")
        for p in PROBLEMS:
            print("  " + p)
    else:
        print("\nall sanity checks passed (sessions online, no failed logins, "
              "every message delivered)")
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    args = dict(vars(a))
    with open(a.out, "w") as f:
        json.dump({"machine": machine, "args": args, "argv": sys.argv[1:],
                   "problems": PROBLEMS, "steal": steal, "noisy": NOISY,
                   "summary": summaries(sums), "results": results}, f, indent=1)
    sys.exit(1 if PROBLEMS else 0)


if __name__ == "__main__":
    main()
