#!/usr/bin/python3
"""The fake API server against real Kubernetes clients.

Starts tests/fake_apiserver/fake_apiserver.py (plain HTTP, then HTTPS with a
token and client certificates) and drives it with Debian's python3-kubernetes
(kubernetes.client, kubernetes.watch) and with kubectl. Every check asserts
concrete names, counts and values. Exits 0 when all pass, 1 when one fails,
77 (skipped) when python3-kubernetes, kubectl or openssl is missing -- and 1
instead of 77 under CI=true.

Run with Debian's python: /usr/bin/python3 tests/fake_apiserver/real_clients_test.py
"""

import ctypes
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "fake_apiserver.py")
MAKE_CERTS = os.path.join(HERE, "make_certs.sh")
SKIP = 77


def skip_or_fail(reason):
    if os.environ.get("CI") == "true":
        print("FAIL: %s (a skip is a failure under CI=true)" % reason)
        sys.exit(1)
    print("SKIP: %s" % reason)
    sys.exit(SKIP)


try:
    import kubernetes
    from kubernetes import client as k8s
    from kubernetes import watch as k8s_watch
    from kubernetes.client.rest import ApiException
except ImportError as e:
    skip_or_fail("python3-kubernetes is not installed (%s); apt-get install python3-kubernetes" % e)
KUBECTL = shutil.which("kubectl")
if KUBECTL is None:
    skip_or_fail("kubectl is not on PATH (Debian: apt-get install kubernetes-client)")
if shutil.which("openssl") is None:
    skip_or_fail("the openssl CLI is not installed (apt-get install openssl)")


def die_with_parent():
    """In the child: SIGTERM when this test process dies, even by SIGKILL (prctl PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)


def on_sigterm(signum, frame):
    raise SystemExit("terminated (signal %d)" % signum)  # runs the finally blocks: servers stopped, tmp removed


class CheckFailed(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise CheckFailed(what)


def expect_eq(got, want, what):
    if got != want:
        raise CheckFailed("%s: got %r, want %r" % (what, got, want))


# ---------------------------------------------------------------------------
# The fake, as a child process


class Fake:
    def __init__(self, tmp, name, *extra):
        self.dir = os.path.join(tmp, name)
        os.mkdir(self.dir)
        self.log = os.path.join(self.dir, "requests.jsonl")
        port_file = os.path.join(self.dir, "port")
        ctl_file = os.path.join(self.dir, "control-port")
        self.stderr = open(os.path.join(self.dir, "stderr"), "w")
        self.proc = subprocess.Popen(
            [sys.executable, FAKE, "--port-file", port_file, "--control-port-file", ctl_file,
             "--request-log", self.log] + list(extra),
            stdin=subprocess.DEVNULL, stdout=self.stderr, stderr=self.stderr, preexec_fn=die_with_parent)
        deadline = time.monotonic() + 15
        while not (os.path.exists(port_file) and os.path.exists(ctl_file)):
            if self.proc.poll() is not None:
                raise CheckFailed("fake API server exited with %s: %s" % (self.proc.returncode, self.errors()))
            if time.monotonic() > deadline:
                raise CheckFailed("fake API server did not write its port files in 15 s")
            time.sleep(0.05)
        self.port = int(open(port_file).read())
        self.ctl_port = int(open(ctl_file).read())

    def errors(self):
        self.stderr.flush()
        with open(self.stderr.name) as f:
            return f.read()[-2000:]

    def ctl(self, path, body=None, method=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.ctl_port, path), data=data,
                                     method=method or ("POST" if data is not None else "GET"))
        with urllib.request.urlopen(req, timeout=120) as r:
            return json.loads(r.read())

    def put(self, *objs):
        return self.ctl("/objects", {"objects": list(objs)})

    def rv(self):
        return int(self.ctl("/stats")["resourceVersion"])

    def wait_watches(self, n, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ctl("/stats")["openWatches"] >= n:
                return
            time.sleep(0.02)
        raise CheckFailed("expected %d open watches on the fake, there are %d" %
                          (n, self.ctl("/stats")["openWatches"]))

    def requests(self):
        return self.ctl("/requests")["requests"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()
        return self.proc.returncode


def svc(ns, name, ip, port=80, labels=None, **spec):
    o = {"kind": "Service", "metadata": {"name": name, "namespace": ns},
         "spec": dict({"clusterIP": ip, "ports": [{"name": "http", "port": port, "targetPort": 8080}],
                       "selector": {"app": name}}, **spec)}
    if labels:
        o["metadata"]["labels"] = labels
    return o


def node(name, ip, ready="True"):
    return {"kind": "Node", "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name,
                                                                  "node-role.kubernetes.io/worker": ""}},
            "spec": {"podCIDR": "10.244.1.0/24"},
            "status": {"conditions": [{"type": "Ready", "status": ready}],
                       "addresses": [{"type": "InternalIP", "address": ip}],
                       # every field: the python client refuses a NodeSystemInfo without one
                       "nodeInfo": {"kubeletVersion": "v1.30.2", "kubeProxyVersion": "v1.30.2",
                                    "osImage": "Debian GNU/Linux 12 (bookworm)", "kernelVersion": "6.1.0-18-amd64",
                                    "containerRuntimeVersion": "containerd://1.7.13", "architecture": "amd64",
                                    "operatingSystem": "linux", "bootID": "b-" + name, "machineID": "m-" + name,
                                    "systemUUID": "u-" + name}}}


def python_client(host, token=None, ca=None, cert=None, key=None):
    c = k8s.Configuration()
    c.host = host
    if token is not None:
        c.api_key = {"authorization": token}
        c.api_key_prefix = {"authorization": "Bearer"}
    if ca:
        c.ssl_ca_cert = ca
    if cert:
        c.cert_file, c.key_file = cert, key
    c.retries = False
    return k8s.ApiClient(c)


def api_error(fn, *args, **kwargs):
    """The ApiException fn raises (a check fails if it raises none)."""
    try:
        fn(*args, **kwargs)
    except ApiException as e:
        return e
    raise CheckFailed("%s did not fail" % getattr(fn, "__name__", fn))


# ---------------------------------------------------------------------------
# Checks on the plain-HTTP fake, with python3-kubernetes


def check_paged_list(fake, core):
    out = fake.ctl("/generate", {"services": 3000, "backends": 2, "namespace": "bench",
                                 "first_cluster_ip": "10.96.0.1", "first_pod_ip": "10.244.0.1",
                                 "port": 80, "target_port": 8080})
    expect_eq(out["added"], 6000, "objects /generate added")
    first = core.list_namespaced_service("bench", limit=500)
    expect_eq(len(first.items), 500, "first page size")
    expect_eq(first.metadata.remaining_item_count, 2500, "remainingItemCount on the first page")
    expect(first.metadata._continue, "first page has a continue token")
    # the rest of the pages must be the snapshot of the first page's resourceVersion
    fake.put(svc("bench", "svc-new-after-first-page", "10.96.200.1"))
    fake.ctl("/delete", {"objects": [{"kind": "Service", "namespace": "bench", "name": "svc-2999"}]})
    names, rvs, pages, cont = [i.metadata.name for i in first.items], {first.metadata.resource_version}, 1, \
        first.metadata._continue
    ips = {i.metadata.name: i.spec.cluster_ip for i in first.items}
    while cont:
        page = core.list_namespaced_service("bench", limit=500, _continue=cont)
        names += [i.metadata.name for i in page.items]
        ips.update({i.metadata.name: i.spec.cluster_ip for i in page.items})
        rvs.add(page.metadata.resource_version)
        cont = page.metadata._continue
        pages += 1
    expect_eq(pages, 6, "pages of 500 for 3000 services")
    expect_eq(len(names), 3000, "services listed across pages")
    expect_eq(set(names), {"svc-%d" % i for i in range(3000)}, "names across pages (snapshot of page 1)")
    expect_eq(len(rvs), 1, "one resourceVersion for every page")
    expect_eq(ips["svc-0"], "10.96.0.1", "clusterIP of svc-0")
    expect_eq(ips["svc-2999"], str(ipaddress.ip_address("10.96.0.1") + 2999), "clusterIP of svc-2999")
    expect_eq(names, sorted(names), "list order (by name within a namespace, as etcd keys)")
    # a new list sees the changes
    now = core.list_namespaced_service("bench")
    now_names = {i.metadata.name for i in now.items}
    expect("svc-new-after-first-page" in now_names and "svc-2999" not in now_names,
           "an unpaged list after the changes shows them")
    expect_eq(len(now.items), 3000, "services after one add and one delete")
    return "3000 services in 6 pages of 500 (limit/_continue), one resourceVersion, a consistent snapshot " \
           "across a concurrent add and delete, clusterIPs 10.96.0.1..%s" % ips["svc-2999"]


def check_expired_continue(fake, core):
    first = core.list_namespaced_service("bench", limit=100)
    fake.ctl("/compact", {})
    e = api_error(core.list_namespaced_service, "bench", limit=100, _continue=first.metadata._continue)
    expect_eq(e.status, 410, "continue after compaction: HTTP status")
    body = json.loads(e.body)
    expect_eq((body["kind"], body["reason"], body["code"]), ("Status", "Expired", 410), "continue 410 Status")
    e = api_error(core.list_namespaced_service, "bench", limit=100, _continue="not-a-token")
    expect_eq(e.status, 400, "malformed continue token: HTTP status")
    return "a continue token from before /compact -> ApiException 410 Expired Status; a malformed one -> 400"


def check_endpointslices(fake, disc):
    one = disc.list_namespaced_endpoint_slice("bench", label_selector="kubernetes.io/service-name=svc-7")
    expect_eq(len(one.items), 1, "slices of svc-7")
    s = one.items[0]
    expect_eq(s.address_type, "IPv4", "addressType")
    expect_eq([a for ep in s.endpoints for a in ep.addresses], ["10.244.0.15", "10.244.0.16"], "svc-7 endpoints")
    expect(all(ep.conditions.ready for ep in s.endpoints), "svc-7 endpoints ready")
    expect_eq([(p.port, p.protocol) for p in s.ports], [(8080, "TCP")], "svc-7 slice ports")
    total, cont, pages = 0, None, 0
    while True:
        page = disc.list_endpoint_slice_for_all_namespaces(limit=1000, _continue=cont)
        total += len(page.items)
        pages += 1
        cont = page.metadata._continue
        if not cont:
            break
    expect_eq((total, pages), (3000, 3), "all endpointslices in pages of 1000")
    return "DiscoveryV1Api: svc-7's slice by label selector (10.244.0.15, 10.244.0.16 ready, port 8080/TCP); " \
           "3000 slices cluster-wide in 3 pages"


def check_label_selectors(fake, core):
    fake.put(svc("sel", "plain", "10.96.50.1", labels={"app": "a"}),
             svc("sel", "headless", "None", labels={"app": "b", "service.kubernetes.io/headless": ""}),
             svc("sel", "other-proxy", "10.96.50.3",
                 labels={"app": "c", "service.kubernetes.io/service-proxy-name": "foo"}),
             svc("sel", "unlabelled", "10.96.50.4"))

    def names(sel):
        return sorted(i.metadata.name for i in core.list_namespaced_service("sel", label_selector=sel).items)
    cases = [("!service.kubernetes.io/headless,!service.kubernetes.io/service-proxy-name",
              ["plain", "unlabelled"]),
             ("service.kubernetes.io/headless", ["headless"]),
             ("app=a", ["plain"]), ("app==b", ["headless"]), ("app!=a", ["headless", "other-proxy", "unlabelled"]),
             ("app in (a,c)", ["other-proxy", "plain"]), ("app notin (a,c)", ["headless", "unlabelled"]),
             ("app,app!=b", ["other-proxy", "plain"])]
    for sel, want in cases:
        expect_eq(names(sel), want, "label selector %r" % sel)
    e = api_error(core.list_namespaced_service, "sel", label_selector="app=(")
    expect_eq(e.status, 400, "invalid label selector")
    return "label selectors (kube-proxy's !a,!b; key; =; ==; !=; in; notin; AND) pick exactly the expected " \
           "services; a bad selector -> 400"


def check_nodes(fake, core):
    fake.put(node("node-a", "192.168.10.1"), node("node-b", "192.168.10.2", ready="False"))
    n = core.read_node("node-a")
    expect_eq(n.metadata.name, "node-a", "read_node name")
    expect_eq([(a.type, a.address) for a in n.status.addresses], [("InternalIP", "192.168.10.1")],
              "node-a addresses")
    expect_eq(n.spec.pod_cidr, "10.244.1.0/24", "node-a podCIDR")
    expect(n.metadata.uid and n.metadata.creation_timestamp and n.metadata.resource_version,
           "node-a has uid, creationTimestamp, resourceVersion")
    lst = core.list_node(field_selector="metadata.name=node-b")
    expect_eq([i.metadata.name for i in lst.items], ["node-b"], "list_node by field selector")
    expect_eq(lst.items[0].status.conditions[0].status, "False", "node-b Ready condition")
    e = api_error(core.read_node, "node-zz")
    body = json.loads(e.body)
    expect_eq((e.status, body["reason"], body["details"]["name"]), (404, "NotFound", "node-zz"), "missing node")
    return "read_node node-a (addresses, podCIDR, uid/creationTimestamp/resourceVersion), list_node with " \
           "fieldSelector metadata.name=node-b, a missing node -> 404 NotFound Status"


def watch_collect(fake, fn, args, kwargs, actions, stop_when, timeout=10, watches_before=0):
    """Watch in this thread, do `actions` in another once the watch is open; return the events."""
    w = k8s_watch.Watch()
    events = []
    errors = []

    def act():
        try:
            fake.wait_watches(watches_before + 1)
            for a in actions:
                a()
        except Exception as e:  # surfaced below
            errors.append(e)
            w.stop()
    t = threading.Thread(target=act)
    t.start()
    try:
        for ev in w.stream(fn, *args, timeout_seconds=timeout, **kwargs):
            events.append(ev)
            if stop_when(events):
                w.stop()
                break
    finally:
        t.join()
    if errors:
        raise errors[0]
    return events


def check_watch_events(fake, core):
    fake.put(svc("watch", "pre-existing", "10.96.60.1"))
    start_rv = core.list_namespaced_service("watch").metadata.resource_version
    actions = [lambda: fake.put(svc("watch", "w1", "10.96.60.2")),
               lambda: fake.put(svc("watch", "w1", "10.96.60.2", port=81)),
               lambda: fake.ctl("/delete", {"objects": [{"kind": "Service", "namespace": "watch", "name": "w1"}]})]
    t0 = time.monotonic()
    evs = watch_collect(fake, core.list_namespaced_service, ("watch",), {"resource_version": start_rv},
                        actions, lambda e: e[-1]["type"] == "DELETED")
    expect_eq([(e["type"], e["object"].metadata.name) for e in evs],
              [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")], "watch events")
    expect_eq(evs[1]["object"].spec.ports[0].port, 81, "MODIFIED carries the new port")
    expect_eq(evs[2]["object"].spec.ports[0].port, 81, "DELETED carries the last state")
    rvs = [int(e["object"].metadata.resource_version) for e in evs]
    expect(rvs == sorted(rvs) and len(set(rvs)) == 3 and rvs[0] > int(start_rv),
           "event resourceVersions increase past the list's: %r" % rvs)
    expect(time.monotonic() - t0 < 8, "events arrived promptly (flushed as they happen)")
    # resume from the list's RV: the history replays the three events
    evs2 = []
    for ev in k8s_watch.Watch().stream(core.list_namespaced_service, "watch", resource_version=start_rv,
                                       timeout_seconds=1):
        evs2.append((ev["type"], ev["object"].metadata.name))
    expect_eq(evs2, [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")], "replay from history")
    return "Watch().stream(list_namespaced_service, resource_version=list RV) yields ADDED, MODIFIED (new " \
           "port), DELETED (last state) for control-API changes, RVs increasing; a watch resumed from the " \
           "same RV replays them; timeout_seconds=1 ends the stream"


def check_watch_selector_transitions(fake, core):
    start_rv = str(fake.rv())
    actions = [lambda: fake.put(svc("trans", "t1", "10.96.61.1")),                       # not selected
               lambda: fake.put(svc("trans", "t1", "10.96.61.1", labels={"tier": "x"})),  # enters
               lambda: fake.put(svc("trans", "t1", "10.96.61.1", labels={"tier": "x", "v": "2"})),
               lambda: fake.put(svc("trans", "t1", "10.96.61.1", labels={"tier": "y"}))]  # leaves
    evs = watch_collect(fake, core.list_namespaced_service, ("trans",),
                        {"resource_version": start_rv, "label_selector": "tier=x"}, actions,
                        lambda e: e[-1]["type"] == "DELETED")
    expect_eq([(e["type"], e["object"].metadata.labels) for e in evs],
              [("ADDED", {"tier": "x"}), ("MODIFIED", {"tier": "x", "v": "2"}),
               ("DELETED", {"tier": "x", "v": "2"})], "label-selected watch events")
    return "a watch with label_selector tier=x: a label change into the selection is ADDED, out of it " \
           "DELETED (with the last selected state), as a real server sends"


def check_bookmarks(fake, core):
    fake.put(node("node-bm", "192.168.10.9"))
    rv = fake.rv()
    t0 = time.monotonic()
    evs = list(k8s_watch.Watch().stream(core.list_node, resource_version=str(rv), allow_watch_bookmarks=True,
                                        timeout_seconds=3))
    took = time.monotonic() - t0
    bms = [e for e in evs if e["type"] == "BOOKMARK"]
    expect_eq(len(evs), len(bms), "only bookmarks on a quiet watch")
    expect(2 <= len(bms) <= 4, "bookmarks every second over a 3 s watch: got %d" % len(bms))
    expect_eq({(b["raw_object"]["kind"], b["raw_object"]["metadata"]["resourceVersion"]) for b in bms},
              {("Node", str(rv))}, "bookmark objects")
    expect(2.5 <= took <= 6, "timeoutSeconds=3 ended the stream after %.1f s" % took)
    none = list(k8s_watch.Watch().stream(core.list_node, resource_version=str(rv), timeout_seconds=2))
    expect_eq(none, [], "no bookmarks without allow_watch_bookmarks")
    return "allow_watch_bookmarks=True: %d BOOKMARK events (kind Node, resourceVersion %d = current) in a " \
           "3 s watch that timeout_seconds ended after %.1f s; none without it" % (len(bms), rv, took)


def count_watch_requests(fake, path, rv):
    return sum(1 for r in fake.requests()
               if r["verb"] == "watch" and r["path"] == path and r["query"].get("resourceVersion") == rv)


def check_410(fake, core):
    old = str(fake.rv())
    fake.put(svc("gone", "g1", "10.96.62.1"))
    fake.ctl("/compact", {})
    path = "/api/v1/namespaces/gone/services"
    # http mode: the watch request itself fails
    fake.ctl("/watch-410", {"mode": "http"})
    e = api_error(lambda: list(k8s_watch.Watch().stream(core.list_namespaced_service, "gone",
                                                        resource_version=old)))
    expect_eq(e.status, 410, "http mode: ApiException status")
    expect_eq(json.loads(e.body)["reason"], "Expired", "http mode: Status reason")
    expect_eq(count_watch_requests(fake, path, old), 1, "http mode: watch requests made")
    # event mode without timeout_seconds: the client retries once from the same RV, then raises
    fake.ctl("/watch-410", {"mode": "event"})
    e = api_error(lambda: list(k8s_watch.Watch().stream(core.list_namespaced_service, "gone",
                                                        resource_version=old)))
    expect_eq(e.status, 410, "event mode: ApiException status")
    expect("too old resource version" in str(e.reason), "event mode: reason %r" % e.reason)
    expect_eq(count_watch_requests(fake, path, old), 3, "event mode: one retry after the ERROR event")
    # event mode with timeout_seconds: no retry
    e = api_error(lambda: list(k8s_watch.Watch().stream(core.list_namespaced_service, "gone",
                                                        resource_version=old, timeout_seconds=5)))
    expect_eq(e.status, 410, "event mode, timeout_seconds: ApiException status")
    expect_eq(count_watch_requests(fake, path, old), 4, "event mode, timeout_seconds: no retry")
    # a resourceVersion from the future: 504 Timeout "Too large resource version", as a real server says
    e = api_error(lambda: list(k8s_watch.Watch().stream(core.list_namespaced_service, "gone",
                                                        resource_version=str(fake.rv() + 1000))))
    expect_eq((e.status, json.loads(e.body)["details"]["causes"][0]["reason"]), (504, "ResourceVersionTooLarge"),
              "watch from a future resourceVersion")
    # an open watch ended by /compact close_watches, in event mode
    w = k8s_watch.Watch()
    res = {}

    def run():
        try:
            for ev in w.stream(core.list_namespaced_service, "gone", resource_version=str(fake.rv()),
                               timeout_seconds=20):
                res.setdefault("events", []).append(ev)
        except ApiException as ex:
            res["exc"] = ex
    before = fake.ctl("/stats")["openWatches"]
    t = threading.Thread(target=run)
    t.start()
    fake.wait_watches(before + 1)
    fake.ctl("/compact", {"close_watches": True})
    t.join(10)
    expect(not t.is_alive(), "the open watch ended after /compact close_watches")
    expect("exc" in res and res["exc"].status == 410, "open watch closed by compaction raises 410: %r" % res)
    return "resume from a compacted RV: --watch-410 http -> the call raises ApiException 410 (1 request); " \
           "event mode -> ERROR event, the client retries once from the same RV (2 requests) then raises " \
           "ApiException 410, with timeout_seconds it raises at once; /compact close_watches ends an open " \
           "watch with a 410 ApiException"


def check_drop_and_down(fake, core):
    import urllib3
    # an abrupt drop: the client's chunked read breaks (ProtocolError), it is not a clean end
    res = {}

    def run():
        try:
            resp = core.list_namespaced_service("watch", watch=True, resource_version=str(fake.rv()),
                                                _preload_content=False)
            for _ in resp.stream(1024):
                pass
            res["clean_end"] = True
        except (urllib3.exceptions.ProtocolError, urllib3.exceptions.HTTPError) as ex:
            res["exc"] = ex
    before = fake.ctl("/stats")["openWatches"]
    t = threading.Thread(target=run)
    t.start()
    fake.wait_watches(before + 1)
    dropped = fake.ctl("/drop-watches", {})["dropped"]
    t.join(10)
    expect(not t.is_alive() and dropped >= 1, "the watch ended after /drop-watches")
    expect("exc" in res, "an abrupt drop is an error for the client, not a clean end: %r" % res)
    # a client that goes away is noticed (the open-watch count falls) within about a second
    before = fake.ctl("/stats")["openWatches"]
    resp = core.list_node(watch=True, _preload_content=False)
    fake.wait_watches(before + 1)
    resp.close()          # as kubernetes.watch does: close, then release
    resp.release_conn()
    deadline = time.monotonic() + 5
    while fake.ctl("/stats")["openWatches"] > before and time.monotonic() < deadline:
        time.sleep(0.05)
    expect_eq(fake.ctl("/stats")["openWatches"], before, "open watches after the client closed its stream")
    # down: connection refused; up: the same port works again
    expect_eq(len(core.list_node().items), 3, "nodes before /down")
    fake.ctl("/down", {})
    try:
        try:
            core.list_node(_request_timeout=5)
            raise CheckFailed("a list succeeded while the API listener was down")
        except urllib3.exceptions.HTTPError as ex:  # retries are off: NewConnectionError
            expect("connection refused" in str(ex).lower(), "down: connection refused, got %r" % ex)
        expect_eq(fake.ctl("/stats")["apiUp"], False, "stats while down")
    finally:
        fake.ctl("/up", {})
    expect_eq(len(core.list_node().items), 3, "nodes after /up on the same port")
    return "/drop-watches breaks an open stream mid-chunk (urllib3 %s); a closed client stream leaves the " \
           "watch count; /down -> connection refused; /up -> the same port serves again" % type(res["exc"]).__name__


def check_forbidden_and_initial_events(fake, core, host):
    fake.ctl("/forbid", {"resource": "nodes", "on": True})
    try:
        e = api_error(core.list_node)
        body = json.loads(e.body)
        expect_eq((e.status, body["reason"]), (403, "Forbidden"), "forbidden list")
        expect('cannot list resource "nodes" in API group "" at the cluster scope' in body["message"],
               "403 message: %r" % body["message"])
        # only the verbs asked for
        fake.ctl("/forbid", {"resource": "nodes", "on": True, "verbs": ["watch"]})
        expect_eq(len(core.list_node().items), 3, "list while only watch is forbidden")
        e = api_error(core.list_node, watch=True, _preload_content=False)
        expect_eq(e.status, 403, "watch while watch is forbidden")
    finally:
        fake.ctl("/forbid", {"resource": "nodes", "on": False})
    expect_eq(len(core.list_node().items), 3, "nodes after the 403 is lifted")
    # sendInitialEvents (the WatchList protocol) is refused so a client falls back to list+watch
    req = urllib.request.Request(host + "/api/v1/services?watch=true&sendInitialEvents=true"
                                 "&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true")
    try:
        urllib.request.urlopen(req, timeout=5)
        raise CheckFailed("sendInitialEvents=true was accepted")
    except urllib.error.HTTPError as ex:
        body = json.loads(ex.read())
        expect_eq((ex.code, body["kind"], body["reason"]), (422, "Status", "Invalid"), "sendInitialEvents")
    return "/forbid nodes -> ApiException 403 Forbidden with RBAC's message; sendInitialEvents=true -> 422 " \
           "Invalid Status"


def check_request_log(fake):
    with open(fake.log) as f:
        lines = [json.loads(line) for line in f]
    expect(len(lines) > 20, "request log lines")
    verbs = {(r.get("verb"), r.get("resource")) for r in lines}
    for want in [("list", "services"), ("watch", "services"), ("list", "endpointslices"), ("get", "nodes"),
                 ("list", "nodes"), ("watch", "nodes")]:
        expect(want in verbs, "request log has %r" % (want,))
    slice_req = next(r for r in lines if r.get("resource") == "endpointslices")
    expect_eq((slice_req["apiGroup"], slice_req["method"]), ("discovery.k8s.io", "GET"), "endpointslices entry")
    expect(all({"method", "path", "query", "verb"} <= set(r) for r in lines), "every entry has the fields")
    expect_eq(len(lines), len(fake.requests()), "GET /requests matches the log file")
    return "%d request-log lines; verbs list/watch/get with apiGroup, resource, namespace, name" % len(lines)


# ---------------------------------------------------------------------------
# TLS fake: python3-kubernetes and kubectl


def check_tls_python(fake, host, certs):
    ca = os.path.join(certs, "ca.crt")
    ok = k8s.CoreV1Api(python_client(host, token="tok-1", ca=ca))
    names = sorted(i.metadata.name for i in ok.list_service_for_all_namespaces().items)
    expect_eq(names, ["api", "dns", "web"], "TLS + token: services")
    e = api_error(k8s.CoreV1Api(python_client(host, token="wrong", ca=ca)).list_service_for_all_namespaces)
    body = json.loads(e.body)
    expect_eq((e.status, body["kind"], body["reason"], body["message"]), (401, "Status", "Unauthorized",
                                                                          "Unauthorized"), "wrong token")
    e = api_error(k8s.CoreV1Api(python_client(host, ca=ca)).list_node)
    expect_eq(e.status, 401, "no token, no client certificate")
    cert = k8s.CoreV1Api(python_client(host, ca=ca, cert=os.path.join(certs, "client.crt"),
                                       key=os.path.join(certs, "client.key")))
    expect_eq([n.metadata.name for n in cert.list_node().items], ["node-1"], "client certificate alone")
    last = fake.requests()[-1]
    expect_eq(last["user"], "socklb-test-client", "user of the client certificate (its CN)")
    # rotation
    fake.ctl("/token", {"token": "tok-2"})
    expect_eq(api_error(ok.list_node).status, 401, "the old token after rotation")
    rotated = k8s.CoreV1Api(python_client(host, token="tok-2", ca=ca))
    expect_eq(len(rotated.list_node().items), 1, "the new token after rotation")
    fake.ctl("/token", {"token": "tok-1"})
    # the server certificate is really checked: a client without the CA refuses it
    e = api_error(k8s.CoreV1Api(python_client(host, token="tok-1")).list_node, _request_timeout=5)
    expect(e.status == 0 and "CERTIFICATE_VERIFY_FAILED" in str(e.reason), "no CA: %r" % e)
    return "HTTPS: CA + token lists services; wrong token and no credentials -> 401 Unauthorized Status; a " \
           "client certificate alone authenticates (user = its CN); token rotation via /token; without the " \
           "CA the client refuses the server"


def kubectl(fake, certs, tmp, *args, token="tok-1", check=True, extra=()):
    cmd = [KUBECTL, "--kubeconfig=/dev/null", "--cache-dir=" + os.path.join(tmp, "kube-cache"),
           "--server=https://127.0.0.1:%d" % fake.port,
           "--certificate-authority=" + os.path.join(certs, "ca.crt"), "--request-timeout=20s"]
    if token:
        cmd.append("--token=" + token)
    cmd += list(extra) + list(args)
    env = dict(os.environ, HOME=tmp, KUBECONFIG="/dev/null")
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
    if check and p.returncode != 0:
        raise CheckFailed("%s failed (%d): %s" % (" ".join(args), p.returncode, p.stderr.strip()[-800:]))
    return p


def table(text):
    lines = [line.split() for line in text.strip().splitlines()]
    return lines[0], lines[1:]


def check_kubectl(fake, certs, tmp):
    before = len(fake.requests())
    head, rows = table(kubectl(fake, certs, tmp, "get", "services", "-A").stdout)
    agent = next(r.get("userAgent", "?") for r in fake.requests()[before:] if r.get("resource") == "services")
    expect_eq(head, ["NAMESPACE", "NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"], "svc header")
    expect_eq([r[:6] for r in rows],
              [["default", "web", "ClusterIP", "10.96.0.10", "<none>", "80/TCP"],
               ["kube-system", "dns", "ClusterIP", "10.96.0.53", "<none>", "53/UDP,53/TCP"],
               ["prod", "api", "NodePort", "10.96.7.7", "<none>", "443:30443/TCP"]], "kubectl get services -A")
    head, rows = table(kubectl(fake, certs, tmp, "get", "endpointslices", "-A").stdout)
    expect_eq(head, ["NAMESPACE", "NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"], "slice header")
    expect_eq(len(rows), 2, "kubectl get endpointslices -A rows")
    expect_eq(rows[0][:8], ["default", "web-x1", "IPv4", "8080", "10.244.1.1,10.244.1.2,10.244.1.3", "+", "1",
                            "more..."], "web-x1 row (4 endpoints print as 3 + 1 more)")
    expect_eq(rows[1][:5], ["kube-system", "dns-x1", "IPv4", "53,53", "10.244.2.5"], "dns-x1 row")
    head, rows = table(kubectl(fake, certs, tmp, "get", "nodes").stdout)
    expect_eq(head, ["NAME", "STATUS", "ROLES", "AGE", "VERSION"], "node header")
    expect_eq([r[:3] + r[4:] for r in rows], [["node-1", "Ready", "worker", "v1.30.2"]], "kubectl get nodes")
    head, rows = table(kubectl(fake, certs, tmp, "get", "nodes", "-o", "wide").stdout)
    expect_eq(rows[0][5], "192.168.10.1", "INTERNAL-IP in -o wide")
    doc = json.loads(kubectl(fake, certs, tmp, "get", "services", "-A", "-o", "json").stdout)
    expect_eq(doc["kind"], "List", "-o json kind")
    expect_eq(sorted((i["metadata"]["namespace"], i["metadata"]["name"], i["spec"]["clusterIP"], i["kind"])
                     for i in doc["items"]),
              [("default", "web", "10.96.0.10", "Service"), ("kube-system", "dns", "10.96.0.53", "Service"),
               ("prod", "api", "10.96.7.7", "Service")], "kubectl get services -A -o json")
    one = json.loads(kubectl(fake, certs, tmp, "get", "service", "-n", "prod", "api", "-o", "json").stdout)
    expect_eq(one["spec"]["ports"][0]["nodePort"], 30443, "kubectl get service api -o json")
    bad = kubectl(fake, certs, tmp, "get", "services", "-A", token="wrong", check=False)
    expect(bad.returncode != 0 and "Unauthorized" in bad.stderr, "kubectl, wrong token: %r" % bad.stderr[-300:])
    cert = kubectl(fake, certs, tmp, "get", "nodes", "-o", "name", token=None,
                   extra=["--client-certificate=" + os.path.join(certs, "client.crt"),
                          "--client-key=" + os.path.join(certs, "client.key")])
    expect_eq(cert.stdout.split(), ["node/node-1"], "kubectl with a client certificate")
    # more than kubectl's chunk of 500: it pages with continue, and the table holds together
    fake.ctl("/generate", {"services": 1200, "backends": 1, "namespace": "many", "first_cluster_ip": "10.100.0.1",
                           "first_pod_ip": "10.200.0.1"})
    before = len(fake.requests())
    head, rows = table(kubectl(fake, certs, tmp, "get", "services", "-n", "many").stdout)
    expect_eq(len(rows), 1200, "kubectl rows for 1200 services")
    expect_eq(head.count("NAME"), 1, "one header across pages")
    expect_eq(sorted(r[0] for r in rows), sorted("svc-%d" % i for i in range(1200)), "kubectl names")
    lists = [r for r in fake.requests()[before:] if r["verb"] == "list"]
    expect_eq(([r["query"].get("limit") for r in lists], sum(1 for r in lists if r["query"].get("continue"))),
              (["500", "500", "500"], 2), "kubectl's paged list requests")
    return agent.split(" ")[0] + " over TLS with --token and --certificate-authority: get services -A, endpointslices -A, " \
           "nodes (and -o wide), services -A -o json, one service -o json, a client certificate instead of a " \
           "token, 'Unauthorized' with a wrong token, 1200 services in 3 pages of 500 printed as one table"


def check_kubectl_versions(fake, certs, tmp):
    """google-cloud-sdk's kubectl is a dispatcher that runs the kubectl.X.Y matching the server's /version."""
    seen = []
    try:
        for version in ("v1.27.3", "v1.33.1"):
            fake.ctl("/server-version", {"version": version})
            before = len(fake.requests())
            head, rows = table(kubectl(fake, certs, tmp, "get", "services", "-A").stdout)
            expect_eq(head, ["NAMESPACE", "NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"],
                      "svc header with server %s" % version)
            expect_eq([r[1] for r in rows if r[0] != "many"], ["web", "dns", "api"],
                      "svc rows with server %s" % version)
            expect_eq(len(rows), 1203, "svc rows with server %s (with the 1200 generated)" % version)
            agents = {r.get("userAgent", "?").split(" ")[0] for r in fake.requests()[before:]
                      if r.get("resource") == "services"}
            seen.append("%s -> %s" % (version, ",".join(sorted(agents))))
    finally:
        fake.ctl("/server-version", {"version": "v1.30.0"})
    return "kubectl get services -A against /version %s" % "; ".join(seen)


def check_kubectl_watch(fake, certs, tmp):
    cmd = [KUBECTL, "--kubeconfig=/dev/null", "--cache-dir=" + os.path.join(tmp, "kube-cache"),
           "--server=https://127.0.0.1:%d" % fake.port, "--certificate-authority=" + os.path.join(certs, "ca.crt"),
           "--token=tok-1", "get", "services", "-n", "default", "--watch", "--output-watch-events"]
    before = fake.ctl("/stats")["openWatches"]
    path = os.path.join(tmp, "kubectl-watch.out")

    def read_output():
        # a file object of its own: kubectl's stdout shares no file offset with
        # it (a seek on a shared one made kubectl write over its own first lines)
        with open(path) as f:
            return f.read()

    with open(path, "w") as out:
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ, HOME=tmp))
    try:
        fake.wait_watches(before + 1, timeout=20)
        fake.put(svc("default", "watched", "10.96.0.99", port=9090))
        fake.ctl("/delete", {"objects": [{"kind": "Service", "namespace": "default", "name": "watched"}]})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if "DELETED" in read_output():
                break
            time.sleep(0.1)
    finally:
        p.terminate()
        p.wait(5)
    lines = [line.split() for line in read_output().strip().splitlines()]
    expect_eq(lines[0][:4], ["EVENT", "NAME", "TYPE", "CLUSTER-IP"], "kubectl --watch header")
    got = [(line[0], line[1], line[3], line[5]) for line in lines[1:]]
    expect_eq(got, [("ADDED", "web", "10.96.0.10", "80/TCP"), ("ADDED", "watched", "10.96.0.99", "9090/TCP"),
                    ("DELETED", "watched", "10.96.0.99", "9090/TCP")], "kubectl --watch events")
    return "kubectl get services --watch --output-watch-events prints the list, then ADDED and DELETED rows " \
           "for control-API changes"


def check_sigterm(fake):
    t = time.monotonic()
    code = fake.stop()
    took = time.monotonic() - t
    expect_eq(code, 0, "exit status after SIGTERM")
    expect(took < 3, "exit within 3 s of SIGTERM, took %.2f s" % took)
    return "exit 0 %.2f s after SIGTERM" % took


# ---------------------------------------------------------------------------


def main():
    signal.signal(signal.SIGTERM, on_sigterm)
    t_start = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="fake-apiserver-test-")
    fakes = []
    results = []

    def run(name, fn, *args):
        t = time.monotonic()
        try:
            what = fn(*args)
            results.append((True, name))
            print("ok   %-28s %s (%.1f s)" % (name, what, time.monotonic() - t), flush=True)
        except Exception as e:
            results.append((False, name))
            detail = str(e) if isinstance(e, CheckFailed) else traceback.format_exc()
            print("FAIL %-28s %s" % (name, detail), flush=True)

    try:
        print("python3-kubernetes %s, %s" % (kubernetes.__version__, subprocess.run(
            [KUBECTL, "version", "--client"], capture_output=True, text=True).stdout.splitlines()[0]))
        # plain HTTP
        fake = Fake(tmp, "http", "--bookmark-interval", "1")
        fakes.append(fake)
        host = "http://127.0.0.1:%d" % fake.port
        api = python_client(host)
        core, disc = k8s.CoreV1Api(api), k8s.DiscoveryV1Api(api)
        run("paged list", check_paged_list, fake, core)
        run("expired continue", check_expired_continue, fake, core)
        run("endpointslices", check_endpointslices, fake, disc)
        run("label selectors", check_label_selectors, fake, core)
        run("nodes", check_nodes, fake, core)
        run("watch events", check_watch_events, fake, core)
        run("watch selector transitions", check_watch_selector_transitions, fake, core)
        run("bookmarks + timeoutSeconds", check_bookmarks, fake, core)
        run("410 http/event", check_410, fake, core)
        run("drop, down, up", check_drop_and_down, fake, core)
        run("403, sendInitialEvents", check_forbidden_and_initial_events, fake, core, host)
        run("request log", check_request_log, fake)

        # HTTPS, token, client CA
        certs = os.path.join(tmp, "certs")
        subprocess.run(["bash", MAKE_CERTS, certs], check=True, capture_output=True, timeout=60)
        tls = Fake(tmp, "tls", "--tls-cert", os.path.join(certs, "server.crt"),
                   "--tls-key", os.path.join(certs, "server.key"), "--client-ca", os.path.join(certs, "ca.crt"),
                   "--token", "tok-1")
        fakes.append(tls)
        tls.put(svc("default", "web", "10.96.0.10"),
                svc("prod", "api", "10.96.7.7", port=443, type="NodePort"),
                svc("kube-system", "dns", "10.96.0.53", port=53),
                node("node-1", "192.168.10.1"),
                {"kind": "EndpointSlice", "metadata": {"name": "web-x1", "namespace": "default",
                                                       "labels": {"kubernetes.io/service-name": "web"}},
                 "endpoints": [{"addresses": ["10.244.1.%d" % i], "conditions": {"ready": True}}
                               for i in (1, 2, 3, 4)],
                 "ports": [{"name": "http", "port": 8080}]},
                {"kind": "EndpointSlice", "metadata": {"name": "dns-x1", "namespace": "kube-system",
                                                       "labels": {"kubernetes.io/service-name": "dns"}},
                 "endpoints": [{"addresses": ["10.244.2.5"], "conditions": {"ready": True}}],
                 "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53}]})
        # patch what the helpers cannot say: prod/api's nodePort, dns's two protocols
        tls.put(dict(svc("prod", "api", "10.96.7.7", type="NodePort"),
                     spec={"clusterIP": "10.96.7.7", "type": "NodePort",
                           "ports": [{"port": 443, "targetPort": 8443, "nodePort": 30443}]}),
                dict(svc("kube-system", "dns", "10.96.0.53"),
                     spec={"clusterIP": "10.96.0.53", "ports": [{"name": "dns", "port": 53, "protocol": "UDP"},
                                                                {"name": "dns-tcp", "port": 53}]}))
        run("TLS python client", check_tls_python, tls, "https://127.0.0.1:%d" % tls.port, certs)
        run("kubectl", check_kubectl, tls, certs, tmp)
        run("kubectl --watch", check_kubectl_watch, tls, certs, tmp)
        run("kubectl versions", check_kubectl_versions, tls, certs, tmp)
        for f in fakes:
            run("SIGTERM (%s fake)" % os.path.basename(f.dir), check_sigterm, f)
    except Exception:
        traceback.print_exc()
        results.append((False, "setup"))
    finally:
        for f in fakes:
            try:
                f.stop()
            except Exception:
                pass
        shutil.rmtree(tmp, ignore_errors=True)
    failed = [n for ok, n in results if not ok]
    print("%d checks, %d failed%s (%.1f s)" % (len(results), len(failed),
                                               (": " + ", ".join(failed)) if failed else "",
                                               time.monotonic() - t_start))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
