#!/usr/bin/python3
"""A protocol-level fake Kubernetes API server, for tests and benchmarks.

Serves v1 services, discovery.k8s.io/v1 endpointslices and v1 nodes read-only
(get, list with limit/continue and label/field selectors, watch with
resourceVersion, bookmarks and timeoutSeconds), the discovery documents
kubectl needs, Table output for kubectl, bearer-token and client-certificate
authentication over optional TLS, and a request log with the RBAC verb of each
request. Objects are written, and faults injected, through a separate plain
HTTP control API. See README.md beside this file.

Standard library only.
"""

import argparse
import bisect
import collections
import datetime
import http
import http.server
import ipaddress
import json
import os
import queue
import re
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.parse
import uuid
import base64

# ---------------------------------------------------------------------------
# Resources

class Resource:
    def __init__(self, name, group, version, kind, namespaced, singular, short_names, categories):
        self.name = name
        self.group = group
        self.version = version
        self.kind = kind
        self.list_kind = kind + "List"
        self.namespaced = namespaced
        self.singular = singular
        self.short_names = short_names
        self.categories = categories

    @property
    def api_version(self):
        return self.version if not self.group else self.group + "/" + self.version


RESOURCES = {
    "services": Resource("services", "", "v1", "Service", True, "service", ["svc"], ["all"]),
    "endpointslices": Resource("endpointslices", "discovery.k8s.io", "v1", "EndpointSlice", True,
                               "endpointslice", [], []),
    "nodes": Resource("nodes", "", "v1", "Node", False, "node", ["no"], []),
}
KIND_TO_RESOURCE = {r.kind: r for r in RESOURCES.values()}
READ_VERBS = ["get", "list", "watch"]
JSON_SEP = (",", ":")


def dumps(obj):
    return json.dumps(obj, separators=JSON_SEP).encode()


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_obj(code, reason, message, details=None):
    s = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
         "message": message, "reason": reason, "code": code}
    if details:
        s["details"] = details
    return s


class ApiError(Exception):
    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.status = status_obj(code, reason, message, details)
        self.code = code


def bad_request(message):
    return ApiError(400, "BadRequest", message)


# ---------------------------------------------------------------------------
# Selectors (the subset of k8s.io/apimachinery/pkg/labels and fields that
# clients such as kube-proxy send)

_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                        r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_SET_REQ = re.compile(r"^\s*(\S+?)\s+(in|notin)\s*\((.*)\)\s*$")


def _split_top(s):
    """Split on commas that are not inside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def _check_key(key, sel):
    if len(key) > 316 or not _LABEL_KEY.match(key):
        raise bad_request('unable to parse requirement: invalid label key "%s" in selector "%s"' % (key, sel))


def _check_value(value, sel):
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        raise bad_request('unable to parse requirement: invalid label value "%s" in selector "%s"' % (value, sel))


def parse_label_selector(sel):
    """Returns a list of (key, op, values) requirements, all of which must hold."""
    reqs = []
    if sel is None or sel.strip() == "":
        return reqs
    for part in _split_top(sel):
        p = part.strip()
        if not p:
            raise bad_request('unable to parse requirement: found \'\', expected: identifier in "%s"' % sel)
        m = _SET_REQ.match(p)
        if m:
            key, op, vals = m.group(1), m.group(2), [v.strip() for v in m.group(3).split(",")]
            _check_key(key, sel)
            for v in vals:
                _check_value(v, sel)
            reqs.append((key, op, frozenset(vals)))
        elif p.startswith("!"):
            key = p[1:].strip()
            _check_key(key, sel)
            reqs.append((key, "!exists", None))
        elif "!=" in p:
            key, value = (x.strip() for x in p.split("!=", 1))
            _check_key(key, sel)
            _check_value(value, sel)
            reqs.append((key, "!=", value))
        elif "==" in p or "=" in p:
            key, value = (x.strip() for x in p.split("==" if "==" in p else "=", 1))
            _check_key(key, sel)
            _check_value(value, sel)
            reqs.append((key, "=", value))
        else:
            _check_key(p, sel)
            reqs.append((p, "exists", None))
    return reqs


def labels_match(reqs, labels):
    for key, op, val in reqs:
        have = labels.get(key)
        if op == "=":
            if have != val:
                return False
        elif op == "!=":
            if have == val:
                return False
        elif op == "exists":
            if have is None:
                return False
        elif op == "!exists":
            if have is not None:
                return False
        elif op == "in":
            if have is None or have not in val:
                return False
        elif op == "notin":
            if have is not None and have in val:
                return False
    return True


FIELDS = ("metadata.name", "metadata.namespace")


def parse_field_selector(sel):
    reqs = []
    if sel is None or sel.strip() == "":
        return reqs
    for part in sel.split(","):
        p = part.strip()
        for op in ("!=", "==", "="):
            if op in p:
                key, value = (x.strip() for x in p.split(op, 1))
                break
        else:
            raise bad_request('invalid selector: \'%s\'; can\'t understand \'%s\'' % (sel, p))
        if key not in FIELDS:
            raise bad_request('field label not supported: %s' % key)
        reqs.append((key, "!=" if op == "!=" else "=", value))
    return reqs


def fields_match(reqs, entry):
    for key, op, val in reqs:
        have = entry.name if key == "metadata.name" else entry.ns
        if (have == val) != (op == "="):
            return False
    return True


# ---------------------------------------------------------------------------
# Store

class Entry:
    """One version of one object: its JSON, encoded once when written."""
    __slots__ = ("ns", "name", "rv", "labels", "data", "uid", "created")

    def __init__(self, ns, name, rv, labels, data, uid, created):
        self.ns, self.name, self.rv, self.labels = ns, name, rv, labels
        self.data, self.uid, self.created = data, uid, created


class Event:
    __slots__ = ("rv", "type", "entry", "prev", "synthetic")

    def __init__(self, rv, type_, entry, prev=None, synthetic=False):
        self.rv, self.type, self.entry, self.prev, self.synthetic = rv, type_, entry, prev, synthetic


DROP = object()      # close the watch abruptly
GONE = object()      # history compacted under an open watch


class Watcher:
    def __init__(self, resource, ns, lsel, fsel):
        self.q = queue.SimpleQueue()
        self.resource, self.ns, self.lsel, self.fsel = resource, ns, lsel, fsel
        self.progress = -1

    def matches(self, entry):
        if self.ns is not None and entry.ns != self.ns:
            return False
        return labels_match(self.lsel, entry.labels) and fields_match(self.fsel, entry)


EMPTY_LABELS = {}


class Store:
    def __init__(self, initial_rv=100):
        self.lock = threading.Lock()
        self.rv = initial_rv
        self.compacted_rv = initial_rv
        self.objects = {r: {} for r in RESOURCES}
        self.sorted_keys = {r: None for r in RESOURCES}
        self.history = {r: [] for r in RESOURCES}
        self.history_rvs = {r: [] for r in RESOURCES}
        self.watchers = {r: set() for r in RESOURCES}
        self.snapshots = collections.OrderedDict()
        self.snapshot_seq = 0

    # All _..._locked methods run with self.lock held.
    def _emit_locked(self, res, ev):
        self.history[res].append(ev)
        self.history_rvs[res].append(ev.rv)
        for w in self.watchers[res]:
            w.q.put(ev)

    def _keys_locked(self, res):
        keys = self.sorted_keys[res]
        if keys is None:
            keys = sorted(self.objects[res])
            self.sorted_keys[res] = keys
        return keys

    def put_locked(self, obj, defaults=True):
        validate_object(obj)
        kind = obj["kind"]
        r = KIND_TO_RESOURCE[kind]
        rest = {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}
        obj.clear()
        obj.update(kind=kind, apiVersion=r.api_version)
        obj.update(rest)
        md = obj["metadata"]
        if r.namespaced:
            md["namespace"] = md.get("namespace") or "default"
        else:
            md.pop("namespace", None)
        if defaults:
            apply_defaults(kind, obj)
        key = (md.get("namespace", ""), md["name"])
        objs = self.objects[r.name]
        old = objs.get(key)
        self.rv += 1
        md["resourceVersion"] = str(self.rv)
        uid = old.uid if old else (md.get("uid") or str(uuid.uuid4()))
        created = old.created if old else (md.get("creationTimestamp") or now_iso())
        md["uid"] = uid
        md["creationTimestamp"] = created
        labels = md.get("labels") or EMPTY_LABELS
        e = Entry(key[0], key[1], self.rv, labels, dumps(obj), uid, created)
        objs[key] = e
        if old is None:
            self.sorted_keys[r.name] = None
        self._emit_locked(r.name, Event(self.rv, "MODIFIED" if old else "ADDED", e, old))
        return e

    def delete_locked(self, kind, ns, name):
        r = KIND_TO_RESOURCE.get(kind)
        if r is None:
            raise ValueError("unsupported kind %r" % kind)
        key = ((ns or "default") if r.namespaced else "", name)
        old = self.objects[r.name].pop(key, None)
        if old is None:
            return False
        self.sorted_keys[r.name] = None
        self.rv += 1
        e = Entry(old.ns, old.name, self.rv, old.labels, with_rv(old.data, self.rv), old.uid, old.created)
        self._emit_locked(r.name, Event(self.rv, "DELETED", e))
        return True

    def compact_locked(self):
        self.compacted_rv = self.rv
        for r in RESOURCES:
            self.history[r] = []
            self.history_rvs[r] = []
        self.snapshots.clear()


def validate_object(obj):
    if not isinstance(obj, dict):
        raise ValueError("an object must be a JSON object")
    kind = obj.get("kind")
    if kind not in KIND_TO_RESOURCE:
        raise ValueError("unsupported kind %r (want one of %s)" % (kind, ", ".join(KIND_TO_RESOURCE)))
    md = obj.get("metadata")
    if not isinstance(md, dict) or not md.get("name") or not isinstance(md["name"], str):
        raise ValueError("%s without metadata.name" % kind)
    labels = md.get("labels") or {}
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        raise ValueError("%s %s: metadata.labels must map strings to strings" % (kind, md["name"]))


def with_rv(data, rv):
    obj = json.loads(data)
    obj["metadata"]["resourceVersion"] = str(rv)
    return dumps(obj)


def apply_defaults(kind, obj):
    """The few defaults a real API server fills in that clients rely on."""
    if kind == "Service":
        spec = obj.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if spec.get("clusterIP") and "clusterIPs" not in spec:
            spec["clusterIPs"] = [spec["clusterIP"]]
        for p in spec.get("ports") or []:
            p.setdefault("protocol", "TCP")
            if "port" in p:
                p.setdefault("targetPort", p["port"])
    elif kind == "EndpointSlice":
        obj.setdefault("addressType", "IPv4")
        for p in obj.get("ports") or []:
            p.setdefault("protocol", "TCP")


# ---------------------------------------------------------------------------
# Tables (what `kubectl get` prints; cells as the real printers make them)

def human_duration(seconds):
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return "%ds" % s
    minutes = s // 60
    if minutes < 10:
        return "%dm" % minutes if s % 60 == 0 else "%dm%ds" % (minutes, s % 60)
    if minutes < 180:
        return "%dm" % minutes
    hours = s // 3600
    if hours < 8:
        return "%dh" % hours if minutes % 60 == 0 else "%dh%dm" % (hours, minutes % 60)
    if hours < 48:
        return "%dh" % hours
    if hours < 24 * 8:
        return "%dd" % (hours // 24) if hours % 24 == 0 else "%dd%dh" % (hours // 24, hours % 24)
    if hours < 24 * 365 * 2:
        return "%dd" % (hours // 24)
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return "%dy" % (hours // 24 // 365) if dy == 0 else "%dy%dd" % (hours // 24 // 365, dy)
    return "%dy" % (hours // 24 // 365)


def age(ts):
    if not ts:
        return "<unknown>"
    try:
        t = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return "<unknown>"
    return human_duration((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds())


def _col(name, typ, fmt, desc, priority=0):
    return {"name": name, "type": typ, "format": fmt, "description": desc, "priority": priority}


NAME_DESC = ("Name must be unique within a namespace. Is required when creating resources, although some "
             "resources may allow a client to request the generation of an appropriate name automatically. "
             "Name is primarily intended for creation idempotence and configuration definition. Cannot be "
             "updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names")
AGE_DESC = ("CreationTimestamp is a timestamp representing the server time when this object was created. "
            "It is not guaranteed to be set in happens-before order across separate operations. Clients may "
            "not set this value. It is represented in RFC3339 form and is in UTC.")

COLUMNS = {
    "services": [
        _col("Name", "string", "name", NAME_DESC),
        _col("Type", "string", "", "type determines how the Service is exposed."),
        _col("Cluster-IP", "string", "", "clusterIP is the IP address of the service."),
        _col("External-IP", "string", "", "externalIPs is a list of IP addresses for which nodes in the "
             "cluster will also accept traffic for this service."),
        _col("Port(s)", "string", "", "The list of ports that are exposed by this service."),
        _col("Age", "string", "", AGE_DESC),
        _col("Selector", "string", "", "Route service traffic to pods with label keys and values matching "
             "this selector.", 1),
    ],
    "endpointslices": [
        _col("Name", "string", "name", NAME_DESC),
        _col("AddressType", "string", "", "addressType specifies the type of address carried by this "
             "EndpointSlice."),
        _col("Ports", "string", "", "ports specifies the list of network ports exposed by each endpoint in "
             "this slice."),
        _col("Endpoints", "string", "", "endpoints is a list of unique endpoints in this slice."),
        _col("Age", "string", "", AGE_DESC),
    ],
    "nodes": [
        _col("Name", "string", "name", NAME_DESC),
        _col("Status", "string", "", "The status of the node"),
        _col("Roles", "string", "", "The roles of the node"),
        _col("Age", "string", "", AGE_DESC),
        _col("Version", "string", "", "Kubelet Version reported by the node."),
        _col("Internal-IP", "string", "", "List of internal IPs of the node.", 1),
        _col("External-IP", "string", "", "List of external IPs of the node.", 1),
        _col("OS-Image", "string", "", "OS Image reported by the node from /etc/os-release.", 1),
        _col("Kernel-Version", "string", "", "Kernel Version reported by the node.", 1),
        _col("Container-Runtime", "string", "", "Container Runtime Version reported by the node.", 1),
    ],
}


def _more(items, limit=3):
    s = ",".join(items[:limit])
    if len(items) > limit:
        return "%s + %d more..." % (s, len(items) - limit)
    return s or "<unset>"


def cells(res, o):
    md = o.get("metadata", {})
    if res == "services":
        spec = o.get("spec", {})
        typ = spec.get("type", "ClusterIP")
        ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
        ext = list(spec.get("externalIPs") or [])
        if typ == "LoadBalancer":
            lb = [i.get("ip") or i.get("hostname") for i in
                  (o.get("status", {}).get("loadBalancer", {}).get("ingress") or [])]
            ext = [x for x in lb if x] + ext
            external = ",".join(ext) if ext else "<pending>"
        elif typ == "ExternalName":
            external = spec.get("externalName", "<none>")
        else:
            external = ",".join(ext) if ext else "<none>"
        ports = []
        for p in spec.get("ports") or []:
            if p.get("nodePort"):
                ports.append("%d:%d/%s" % (p.get("port", 0), p["nodePort"], p.get("protocol", "TCP")))
            else:
                ports.append("%d/%s" % (p.get("port", 0), p.get("protocol", "TCP")))
        sel = spec.get("selector") or {}
        return [md.get("name"), typ, ips[0] if ips else "<none>", external, ",".join(ports) or "<none>",
                age(md.get("creationTimestamp")),
                ",".join("%s=%s" % kv for kv in sorted(sel.items())) or "<none>"]
    if res == "endpointslices":
        ports = []
        for p in o.get("ports") or []:
            ports.append(str(p["port"]) if p.get("port") is not None else (p.get("name") or "*"))
        addrs = [a for ep in (o.get("endpoints") or []) for a in (ep.get("addresses") or [])]
        return [md.get("name"), o.get("addressType", ""), _more(ports), _more(addrs),
                age(md.get("creationTimestamp"))]
    # nodes
    st = o.get("status", {})
    ready = "Unknown"
    for c in st.get("conditions") or []:
        if c.get("type") == "Ready":
            ready = {"True": "Ready", "False": "NotReady"}.get(c.get("status"), "Unknown")
    if o.get("spec", {}).get("unschedulable"):
        ready += ",SchedulingDisabled"
    roles = set()
    for k, v in (md.get("labels") or {}).items():
        if k.startswith("node-role.kubernetes.io/"):
            roles.add(k[len("node-role.kubernetes.io/"):])
        elif k == "kubernetes.io/role" and v:
            roles.add(v)
    info = st.get("nodeInfo", {})
    addrs = st.get("addresses") or []
    internal = [a["address"] for a in addrs if a.get("type") == "InternalIP"]
    external = [a["address"] for a in addrs if a.get("type") == "ExternalIP"]
    return [md.get("name"), ready, ",".join(sorted(roles)) or "<none>", age(md.get("creationTimestamp")),
            info.get("kubeletVersion", ""), internal[0] if internal else "<none>",
            external[0] if external else "<none>", info.get("osImage") or "<unknown>",
            info.get("kernelVersion") or "<unknown>", info.get("containerRuntimeVersion") or "<unknown>"]


def table_row(res, data, include):
    o = json.loads(data)
    row = {"cells": cells(res, o)}
    if include == "Object":
        row["object"] = o
    elif include != "None":
        row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                         "metadata": o.get("metadata", {})}
    return row


def table_bytes(res, table_version, datas, include, list_meta, headers=True):
    t = {"kind": "Table", "apiVersion": "meta.k8s.io/" + table_version, "metadata": list_meta or {},
         "columnDefinitions": COLUMNS[res] if headers else [],
         "rows": [table_row(res, d, include) for d in datas]}
    return dumps(t)


# ---------------------------------------------------------------------------
# Continue tokens

def encode_continue(snap_id, rv, offset):
    raw = dumps({"v": "fake.k8s.io/v1", "id": snap_id, "rv": rv, "off": offset})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_continue(token):
    try:
        pad = "=" * (-len(token) % 4)
        d = json.loads(base64.urlsafe_b64decode(token + pad))
        return int(d["id"]), int(d["rv"]), int(d["off"])
    except Exception:
        raise bad_request("continue key is not valid: illegal base64 data or malformed token")


EXPIRED_CONTINUE = ("The provided continue parameter is too old to display a consistent list result. You can "
                    "start a new list without the continue parameter, or use the continue token in this "
                    "response to retrieve the remainder of the results. Continuing with the provided token "
                    "results in an inconsistent list - objects that were created, modified, or deleted "
                    "between the time the first chunk was returned and now may show up in the list.")

# ---------------------------------------------------------------------------
# Server state shared by the API and control handlers


class State:
    def __init__(self, args):
        self.args = args
        self.store = Store()
        self.token = args.token
        self.token_user = args.token_user
        self.watch_410 = args.watch_410
        self.bookmark_interval = args.bookmark_interval
        self.server_version = args.server_version
        self.forbidden = {}          # resource -> set of verbs ("*" = all)
        self.meta_lock = threading.Lock()
        self.requests = []
        self.request_counts = collections.Counter()
        self.log_file = open(args.request_log, "a", buffering=1) if args.request_log else None
        self.api = None              # current ApiServer, None while down
        self.api_address = None
        self.api_lock = threading.Lock()
        self.ssl_ctx = None
        if args.tls_cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(args.tls_cert, args.tls_key)
            ctx.set_alpn_protocols(["http/1.1"])
            if args.client_ca:
                ctx.load_verify_locations(args.client_ca)
                ctx.verify_mode = ssl.CERT_OPTIONAL
            self.ssl_ctx = ctx

    def record(self, entry):
        with self.meta_lock:
            self.requests.append(entry)
            self.request_counts["%s %s" % (entry["verb"], entry.get("resource") or entry["path"])] += 1
            if self.log_file:
                self.log_file.write(json.dumps(entry, separators=JSON_SEP) + "\n")

    def all_watchers(self):
        with self.store.lock:
            return [w for ws in self.store.watchers.values() for w in ws]


# ---------------------------------------------------------------------------
# API server


class ApiServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, state):
        host = address[0]
        if ":" in host:
            self.address_family = socket.AF_INET6
        self.state = state
        self.conns = set()
        self.conns_lock = threading.Lock()
        super().__init__(address, ApiHandler)

    def finish_request(self, request, client_address):
        try:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        ctl = request.dup()          # lets another thread shut the connection down
        with self.conns_lock:
            self.conns.add(ctl)
        conn = request
        try:
            if self.state.ssl_ctx is not None:
                request.settimeout(10)
                conn = self.state.ssl_ctx.wrap_socket(request, server_side=True)
                conn.settimeout(None)
            self.RequestHandlerClass(conn, client_address, self)
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            with self.conns_lock:
                self.conns.discard(ctl)
            if conn is not request:
                try:
                    conn.close()
                except OSError:
                    pass
            try:
                ctl.close()
            except OSError:
                pass

    def kill_connections(self):
        with self.conns_lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (OSError, ssl.SSLError)):
            return
        super().handle_error(request, client_address)


def parse_accept(header):
    """('json', None) or ('table', 'v1'|'v1beta1'), or None if nothing acceptable."""
    if not header:
        return ("json", None)
    for rng in header.split(","):
        parts = [p.strip() for p in rng.split(";")]
        mtype = parts[0].lower()
        params = {}
        for p in parts[1:]:
            if "=" in p:
                k, v = p.split("=", 1)
                params[k.strip().lower()] = v.strip()
        if mtype not in ("application/json", "application/*", "*/*"):
            continue
        as_ = params.get("as")
        if as_ is None:
            return ("json", None)
        if as_ == "Table" and params.get("g") == "meta.k8s.io" and params.get("v") in ("v1", "v1beta1"):
            return ("table", params["v"])
    return None


API_PATH = re.compile(
    r"^/(?:api/(?P<cv>v1)|apis/(?P<g>[^/]+)/(?P<gv>[^/]+))"
    r"(?:/namespaces/(?P<ns>[^/]+))?/(?P<res>[^/]+)(?:/(?P<name>[^/]+))?/?$")


class ApiHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    _entry = None
    server_version = "fake-apiserver"
    sys_version = ""

    def log_message(self, fmt, *args):
        if self.server.state.args.verbose:
            sys.stderr.write("api: %s %s\n" % (self.address_string(), fmt % args))

    # -- responses
    def send_bytes(self, code, body, ctype="application/json"):
        self.record(code)
        head = ("HTTP/1.1 %d %s\r\nContent-Type: %s\r\nCache-Control: no-cache, private\r\n"
                "Date: %s\r\nContent-Length: %d\r\n\r\n" %
                (code, http.HTTPStatus(code).phrase, ctype, self.date_time_string(), len(body)))
        self.wfile.write(head.encode() + body)
        self.log_message('"%s" %d %d', self.requestline, code, len(body))

    def send_json(self, code, obj):
        self.send_bytes(code, dumps(obj))

    def send_status(self, err):
        self.send_json(err.code, err.status)

    # -- methods
    def do_GET(self):
        self.handle_api("GET")

    def do_POST(self):
        self.handle_api("POST")

    def do_PUT(self):
        self.handle_api("PUT")

    def do_PATCH(self):
        self.handle_api("PATCH")

    def do_DELETE(self):
        self.handle_api("DELETE")

    def authenticate(self, st):
        """Returns the user name, or None if the request is not authenticated."""
        cert = None
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                cert = self.connection.getpeercert()
            except (ValueError, OSError):
                cert = None
        if cert:
            for rdn in cert.get("subject", ()):
                for k, v in rdn:
                    if k == "commonName":
                        return v
            return "system:unknown-cert-user"
        auth = self.headers.get("Authorization", "")
        if st.token is not None:
            if auth == "Bearer " + st.token:
                return st.token_user
            return None
        return "system:anonymous"

    def handle_api(self, method):
        st = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
        m = API_PATH.match(path)
        res = None
        entry = {"method": method, "path": path, "query": query}
        if self.headers.get("User-Agent"):
            entry["userAgent"] = self.headers["User-Agent"]
        if m and (m.group("res") in RESOURCES):
            r = RESOURCES[m.group("res")]
            group = m.group("g") or ""
            version = m.group("cv") or m.group("gv")
            name = m.group("name")
            ns = m.group("ns")
            if r.group == group and r.version == version and (ns is None or r.namespaced):
                res = r
            watching = query.get("watch", "").lower() in ("true", "1")
            if method == "GET":
                verb = "watch" if watching else ("get" if name else "list")
            else:
                verb = {"POST": "create", "PUT": "update", "PATCH": "patch",
                        "DELETE": "delete" if name else "deletecollection"}[method]
            entry.update({"verb": verb, "apiGroup": group, "resource": m.group("res"),
                          "namespace": ns, "name": name})
        else:
            entry.update({"verb": method.lower(), "nonResourceURL": path})
        user = self.authenticate(st)
        entry["user"] = user
        self._entry = entry
        try:
            if user is None:
                raise ApiError(401, "Unauthorized", "Unauthorized")
            if res is None:
                if "resource" in entry:
                    raise ApiError(404, "NotFound", "the server could not find the requested resource")
                if method != "GET":
                    raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the "
                                   "requested resource")
                return self.serve_discovery(path)
            verbs = st.forbidden.get(res.name)
            if verbs and ("*" in verbs or entry["verb"] in verbs):
                scope = ('in the namespace "%s"' % ns) if ns else "at the cluster scope"
                details = {"kind": res.name}
                if res.group:
                    details["group"] = res.group
                if name:
                    details["name"] = name
                raise ApiError(403, "Forbidden", '%s%s is forbidden: User "%s" cannot %s resource "%s" in API '
                               'group "%s" %s' % (res.name, ("." + res.group) if res.group else "", user,
                                                  entry["verb"], res.name, res.group, scope), details)
            if method != "GET":
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the "
                               "requested resource (the fake API server is read-only; use its control API)")
            accept = parse_accept(self.headers.get("Accept"))
            if accept is None:
                raise ApiError(406, "NotAcceptable", "only the following media types are accepted: "
                               "application/json, application/json;as=Table;v=v1;g=meta.k8s.io")
            if watching:
                return self.serve_watch(res, ns, name, query, accept)
            if name:
                self.serve_get(res, ns, name, accept)
            else:
                self.serve_list(res, ns, query, accept)
        except ApiError as e:
            self.send_status(e)

    def record(self, code):
        """Logs this request (once), with the status it is answered with."""
        entry = self._entry
        if entry is not None:
            self._entry = None
            entry["code"] = code
            self.server.state.record(entry)

    # -- discovery
    def serve_discovery(self, path):
        st = self.server.state
        path = path.rstrip("/") or "/"
        if path == "/version":
            major, minor = re.match(r"v?(\d+)\.(\d+)", st.server_version).groups()
            return self.send_json(200, {"major": major, "minor": minor, "gitVersion": st.server_version,
                                        "gitCommit": "0000000000000000000000000000000000000000",
                                        "gitTreeState": "clean", "buildDate": "2024-04-17T00:00:00Z",
                                        "goVersion": "go1.22.2", "compiler": "gc",
                                        "platform": "linux/amd64"})
        if path in ("/healthz", "/livez", "/readyz"):
            return self.send_bytes(200, b"ok", "text/plain; charset=utf-8")
        host, port = st.api_address
        addr = ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)
        if path == "/api":
            return self.send_json(200, {"kind": "APIVersions", "versions": ["v1"],
                                        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                                        "serverAddress": addr}]})
        group_doc = {"name": "discovery.k8s.io",
                     "versions": [{"groupVersion": "discovery.k8s.io/v1", "version": "v1"}],
                     "preferredVersion": {"groupVersion": "discovery.k8s.io/v1", "version": "v1"}}
        if path == "/apis":
            return self.send_json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [group_doc]})
        if path == "/apis/discovery.k8s.io":
            return self.send_json(200, dict(group_doc, kind="APIGroup", apiVersion="v1"))
        for gv, group in (("/api/v1", ""), ("/apis/discovery.k8s.io/v1", "discovery.k8s.io")):
            if path == gv:
                resources = []
                for r in RESOURCES.values():
                    if r.group != group:
                        continue
                    d = {"name": r.name, "singularName": r.singular, "namespaced": r.namespaced,
                         "kind": r.kind, "verbs": list(READ_VERBS)}
                    if r.short_names:
                        d["shortNames"] = r.short_names
                    if r.categories:
                        d["categories"] = r.categories
                    resources.append(d)
                return self.send_json(200, {"kind": "APIResourceList", "apiVersion": "v1",
                                            "groupVersion": gv.split("/", 2)[-1] if group else "v1",
                                            "resources": resources})
        self.send_bytes(404, b"404 page not found\n", "text/plain; charset=utf-8")

    # -- get
    def serve_get(self, res, ns, name, accept):
        store = self.server.state.store
        with store.lock:
            e = store.objects[res.name].get((ns or "", name))
        if e is None or (res.namespaced and ns is None):
            details = {"name": name, "kind": res.name}
            if res.group:
                details["group"] = res.group
            raise ApiError(404, "NotFound", '%s%s "%s" not found' % (
                res.name, ("." + res.group) if res.group else "", name), details)
        if accept[0] == "table":
            self.send_bytes(200, table_bytes(res.name, accept[1], [e.data], self.include_object(),
                                             {"resourceVersion": str(e.rv)}))
        else:
            self.send_bytes(200, e.data)

    def include_object(self):
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        return (q.get("includeObject") or ["Metadata"])[-1]

    # -- list
    def serve_list(self, res, ns, query, accept):
        store = self.server.state.store
        lsel = parse_label_selector(query.get("labelSelector"))
        fsel = parse_field_selector(query.get("fieldSelector"))
        limit = query.get("limit", "")
        try:
            limit = int(limit) if limit else 0
        except ValueError:
            raise bad_request("limit: Invalid value: %r: must be an integer" % limit)
        cont = query.get("continue", "")
        rv_param = query.get("resourceVersion", "")
        rv_match = query.get("resourceVersionMatch", "")
        shape = (res.name, ns, query.get("labelSelector", ""), query.get("fieldSelector", ""))
        with store.lock:
            current = store.rv
            if cont:
                if rv_param:
                    raise bad_request("specifying resource version is not allowed when using continue")
                snap_id, snap_rv, offset = decode_continue(cont)
                snap = store.snapshots.get(snap_id)
                if snap is None or snap_rv < store.compacted_rv:
                    raise ApiError(410, "Expired", EXPIRED_CONTINUE)
                if snap[1] != shape:
                    raise bad_request("continue key is not valid: it was issued for a different list")
                store.snapshots.move_to_end(snap_id)
                rv, items = snap[0], snap[2]
            else:
                if rv_param and rv_param != "0":
                    try:
                        want = int(rv_param)
                    except ValueError:
                        raise bad_request("resourceVersion: Invalid value: %r: must be an integer" % rv_param)
                    if want > current:
                        raise ApiError(504, "Timeout", "Too large resource version: %d, current: %d" %
                                       (want, current),
                                       {"causes": [{"reason": "ResourceVersionTooLarge",
                                                    "message": "Too large resource version"}],
                                        "retryAfterSeconds": 1})
                    if rv_match == "Exact" and want != current:
                        raise ApiError(410, "Expired", "too old resource version: %d (%d)" % (want, current))
                objs = store.objects[res.name]
                keys = store._keys_locked(res.name)
                if ns is not None:
                    lo = bisect.bisect_left(keys, (ns, ""))
                    hi = bisect.bisect_left(keys, (ns + "\x00", ""))
                    keys = keys[lo:hi]
                items = [objs[k] for k in keys]
                if lsel or fsel:
                    items = [e for e in items if labels_match(lsel, e.labels) and fields_match(fsel, e)]
                rv, offset, snap_id = current, 0, None
                if limit and len(items) > limit:
                    store.snapshot_seq += 1
                    snap_id = store.snapshot_seq
                    store.snapshots[snap_id] = (rv, shape, items)
                    while len(store.snapshots) > 64:
                        store.snapshots.popitem(last=False)
        end = len(items) if not limit else min(len(items), offset + limit)
        page = items[offset:end]
        meta = {"resourceVersion": str(rv)}
        if end < len(items):
            meta["continue"] = encode_continue(snap_id, rv, end)
            if not lsel and not fsel:
                meta["remainingItemCount"] = len(items) - end
        if accept[0] == "table":
            body = table_bytes(res.name, accept[1], [e.data for e in page], self.include_object(), meta)
        else:
            body = b"".join((b'{"kind":"', res.list_kind.encode(), b'","apiVersion":"', res.api_version.encode(),
                             b'","metadata":', dumps(meta), b',"items":[', b",".join(e.data for e in page),
                             b"]}"))
        self.send_bytes(200, body)

    # -- watch
    def serve_watch(self, res, ns, name, query, accept):
        st = self.server.state
        store = st.store
        lsel = parse_label_selector(query.get("labelSelector"))
        fsel = parse_field_selector(query.get("fieldSelector"))
        if name:
            fsel.append(("metadata.name", "=", name))
        if query.get("sendInitialEvents", "").lower() in ("true", "1"):
            raise ApiError(422, "Invalid", 'ListOptions.meta.k8s.io "" is invalid: sendInitialEvents: '
                           'Forbidden: sendInitialEvents is not supported by this fake API server '
                           '(the WatchList feature is off); list, then watch from the list\'s resourceVersion',
                           {"group": "meta.k8s.io", "kind": "ListOptions",
                            "causes": [{"reason": "FieldValueForbidden",
                                        "message": "Forbidden: sendInitialEvents is not supported",
                                        "field": "sendInitialEvents"}]})
        try:
            timeout = float(query["timeoutSeconds"]) if query.get("timeoutSeconds") else None
        except ValueError:
            raise bad_request("timeoutSeconds: Invalid value: must be an integer")
        bookmarks = query.get("allowWatchBookmarks", "").lower() in ("true", "1")
        rv_param = query.get("resourceVersion", "")
        want = None
        if rv_param and rv_param != "0":
            try:
                want = int(rv_param)
            except ValueError:
                raise bad_request("resourceVersion: Invalid value: %r: must be an integer" % rv_param)
        w = Watcher(res.name, ns, lsel, fsel)
        gone = None
        with store.lock:
            if want is not None and want > store.rv:
                # a real server waits up to 3 s for the version to appear, then answers this
                raise ApiError(504, "Timeout", "Too large resource version: %d, current: %d" % (want, store.rv),
                               {"causes": [{"reason": "ResourceVersionTooLarge",
                                            "message": "Too large resource version"}],
                                "retryAfterSeconds": 1})
            if want is not None and want < store.compacted_rv:
                gone = status_obj(410, "Expired", "too old resource version: %d (%d)" % (want, store.compacted_rv))
            elif want is not None:
                rvs = store.history_rvs[res.name]
                hist = store.history[res.name]
                for ev in hist[bisect.bisect_right(rvs, want):]:
                    w.q.put(ev)
                w.progress = want
                store.watchers[res.name].add(w)
            else:
                objs = store.objects[res.name]
                for k in store._keys_locked(res.name):
                    e = objs[k]
                    w.q.put(Event(e.rv, "ADDED", e, None, True))
                w.progress = -1
                store.watchers[res.name].add(w)
        if gone is not None and st.watch_410 == "http":
            raise ApiError(410, "Expired", gone["message"])
        self.close_connection = False
        self.record(200)
        self.wfile.write(("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-cache, "
                          "private\r\nDate: %s\r\nTransfer-Encoding: chunked\r\n\r\n" %
                          self.date_time_string()).encode())
        self.log_message('"%s" 200 (watch)', self.requestline)
        if gone is not None:
            self.wfile.write(chunk(b'{"type":"ERROR","object":' + dumps(gone) + b'}\n') + b"0\r\n\r\n")
            return
        try:
            self.watch_loop(res, w, accept, timeout, bookmarks)
        finally:
            with store.lock:
                store.watchers[res.name].discard(w)

    def watch_loop(self, res, w, accept, timeout, bookmarks):
        st = self.server.state
        store = st.store
        now = time.monotonic()
        deadline = now + timeout if timeout else None
        interval = st.bookmark_interval
        next_bm = now + interval if bookmarks and interval > 0 else None
        table = accept[0] == "table"
        while True:
            now = time.monotonic()
            # wake at least once a second to notice a client that went away
            wake = min([t for t in (deadline, next_bm) if t is not None], default=now + 1.0)
            try:
                item = w.q.get(timeout=max(0.0, min(wake, now + 1.0) - now))
            except queue.Empty:
                item = None
                if self.peer_gone():
                    self.close_connection = True
                    return
            out = []
            while item is not None:
                if item is DROP:
                    if out:
                        self.wfile.write(b"".join(out))
                    self.abort()
                    return
                if item is GONE:
                    if out:
                        self.wfile.write(b"".join(out))
                    if st.watch_410 == "event":
                        s = status_obj(410, "Expired", "too old resource version: %d (%d)" %
                                       (max(w.progress, 0), store.compacted_rv))
                        self.wfile.write(chunk(b'{"type":"ERROR","object":' + dumps(s) + b'}\n') + b"0\r\n\r\n")
                    else:
                        self.abort()
                    return
                line = self.event_line(res, w, item, table)
                if line is not None:
                    out.append(chunk(line))
                if len(out) >= 256:
                    self.wfile.write(b"".join(out))
                    out = []
                try:
                    item = w.q.get_nowait()
                except queue.Empty:
                    item = None
            if out:
                self.wfile.write(b"".join(out))
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                self.wfile.write(b"0\r\n\r\n")
                return
            if next_bm is not None and now >= next_bm:
                with store.lock:
                    rv = store.rv if w.q.empty() else w.progress
                if rv >= 0:
                    bm = {"kind": res.kind, "apiVersion": res.api_version,
                          "metadata": {"resourceVersion": str(rv)}}
                    self.wfile.write(chunk(b'{"type":"BOOKMARK","object":' + dumps(bm) + b'}\n'))
                next_bm = now + interval

    def event_line(self, res, w, ev, table):
        if not ev.synthetic:
            w.progress = ev.rv
        cur = ev.type != "DELETED" and w.matches(ev.entry)
        old = w.matches(ev.prev) if ev.prev is not None else (ev.type == "DELETED" and w.matches(ev.entry))
        if cur and ev.prev is not None and old:
            typ, data = "MODIFIED", ev.entry.data
        elif cur:
            typ, data = "ADDED", ev.entry.data
        elif old and ev.type == "DELETED":
            typ, data = "DELETED", ev.entry.data
        elif old:
            # left the selection: DELETED with the previous content at this event's version
            typ, data = "DELETED", with_rv(ev.prev.data, ev.rv)
        else:
            return None
        if table:
            data = table_bytes(res.name, "v1", [data], self.include_object(),
                               {"resourceVersion": str(ev.rv)})
        return b'{"type":"' + typ.encode() + b'","object":' + data + b'}\n'

    def peer_gone(self):
        """True once the client closed its end (TCP CLOSE_WAIT or CLOSE)."""
        try:
            state = self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
        except (OSError, ValueError, AttributeError):
            return True
        return state in (7, 8)  # TCP_CLOSE, TCP_CLOSE_WAIT

    def abort(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except (OSError, ValueError):
            pass


def chunk(data):
    return b"%x\r\n" % len(data) + data + b"\r\n"


# ---------------------------------------------------------------------------
# Bulk generation for benchmarks


def _ip_str(v6, n):
    if v6:
        return str(ipaddress.IPv6Address(n))
    return "%d.%d.%d.%d" % (n >> 24, (n >> 16) & 255, (n >> 8) & 255, n & 255)


def generate(state, spec):
    """N services and N EndpointSlices of B ready endpoints each, encoded straight to JSON.

    Built in batches outside the store lock (all but the resourceVersion), each
    batch then inserted under the lock, so the peak memory is the result plus
    one batch. Objects that already exist become ordinary updates.
    """
    n = int(spec.get("services", 0))
    b = int(spec.get("backends", 1))
    ns = spec.get("namespace", "bench")
    prefix = spec.get("name_prefix", "svc-")
    start = int(spec.get("start", 0))
    port = int(spec.get("port", 80))
    tport = int(spec.get("target_port", port))
    proto = spec.get("protocol", "TCP")
    target_refs = bool(spec.get("target_refs", True))
    ci = ipaddress.ip_address(spec.get("first_cluster_ip", "10.96.0.1"))
    pi = ipaddress.ip_address(spec.get("first_pod_ip", "10.244.0.1"))
    if ci.version != pi.version:
        raise ValueError("first_cluster_ip and first_pod_ip must be of one IP family")
    if n < 0 or b < 0:
        raise ValueError("services and backends must be >= 0")
    v6 = ci.version == 6
    ci, pi = int(ci), int(pi)
    family = "IPv6" if v6 else "IPv4"
    ts = now_iso()
    jns = json.dumps(ns)
    svc_tail = ('","creationTimestamp":"%s"},"spec":{"ports":[{"name":"http","protocol":"%s","port":%d,'
                '"targetPort":%d}],' % (ts, proto, port, tport))
    if target_refs:
        ep_fmt = ('{"addresses":["%s"],"conditions":{"ready":true,"serving":true,"terminating":false},'
                  '"targetRef":{"kind":"Pod","namespace":' + jns.replace("%", "%%") + ',"name":"%s-%d"}}')
    else:
        ep_fmt = '{"addresses":["%s"],"conditions":{"ready":true,"serving":true,"terminating":false}}'
    store = state.store
    added = 0
    for batch_start in range(start, start + n, 2000):
        built = []
        for i in range(batch_start, min(start + n, batch_start + 2000)):
            name = "%s%d" % (prefix, i)
            cip = _ip_str(v6, ci + i - start)
            suid = str(uuid.uuid4())
            spre = ('{"kind":"Service","apiVersion":"v1","metadata":{"name":"%s","namespace":%s,"uid":"%s",'
                    '"resourceVersion":"' % (name, jns, suid)).encode()
            spost = (svc_tail + '"selector":{"app":"%s"},"clusterIP":"%s","clusterIPs":["%s"],'
                     '"type":"ClusterIP","sessionAffinity":"None","ipFamilies":["%s"],'
                     '"ipFamilyPolicy":"SingleStack","internalTrafficPolicy":"Cluster"},'
                     '"status":{"loadBalancer":{}}}' % (name, cip, cip, family)).encode()
            base = pi + (i - start) * b
            if target_refs:
                eps = ",".join(ep_fmt % (_ip_str(v6, base + j), name, j) for j in range(b))
            else:
                eps = ",".join(ep_fmt % _ip_str(v6, base + j) for j in range(b))
            sname = "%s-%05x" % (name, i & 0xfffff)
            slabels = {"endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                       "kubernetes.io/service-name": name}
            euid = str(uuid.uuid4())
            epre = ('{"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1","metadata":{"name":"%s",'
                    '"namespace":%s,"uid":"%s","resourceVersion":"' % (sname, jns, euid)).encode()
            epost = ('","creationTimestamp":"%s","labels":{"endpointslice.kubernetes.io/managed-by":'
                     '"endpointslice-controller.k8s.io","kubernetes.io/service-name":"%s"},"ownerReferences":'
                     '[{"apiVersion":"v1","kind":"Service","name":"%s","uid":"%s","controller":true,'
                     '"blockOwnerDeletion":true}]},"addressType":"%s","endpoints":[%s],"ports":[{"name":"http",'
                     '"protocol":"%s","port":%d}]}' % (ts, name, name, suid, family, eps, proto, tport)).encode()
            built.append((name, suid, spre, spost, sname, euid, slabels, epre, epost))
        with store.lock:
            svcs, slices = store.objects["services"], store.objects["endpointslices"]
            for name, suid, spre, spost, sname, euid, slabels, epre, epost in built:
                for objs, res, key, uid, pre, post, labels in (
                        (svcs, "services", (ns, name), suid, spre, spost, EMPTY_LABELS),
                        (slices, "endpointslices", (ns, sname), euid, epre, epost, slabels)):
                    if key in objs:
                        # already there (a repeated /generate): an ordinary update, keeping uid and age
                        store.put_locked(json.loads(pre + b"0" + post), defaults=False)
                        continue
                    store.rv += 1
                    e = Entry(key[0], key[1], store.rv, labels, pre + str(store.rv).encode() + post, uid, ts)
                    objs[key] = e
                    store._emit_locked(res, Event(store.rv, "ADDED", e))
                    added += 1
            store.sorted_keys["services"] = None
            store.sorted_keys["endpointslices"] = None
    with store.lock:
        rv = store.rv
    return {"resourceVersion": str(rv), "services": n, "endpointslices": n, "added": added}


# ---------------------------------------------------------------------------
# Control server


class ControlServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address, handler):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)


class ControlHandler(http.server.BaseHTTPRequestHandler):
    server_version = "fake-apiserver-control"
    sys_version = ""

    def log_message(self, fmt, *args):
        if self.server.state.args.verbose:
            sys.stderr.write("control: %s\n" % (fmt % args))

    def reply(self, code, obj):
        body = dumps(obj)
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        return json.loads(raw) if raw.strip() else {}

    def do_GET(self):
        st = self.server.state
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/stats":
            with st.store.lock:
                store = st.store
                watches = {r: len(ws) for r, ws in store.watchers.items()}
                stats = {"resourceVersion": str(store.rv), "compactedResourceVersion": str(store.compacted_rv),
                         "objects": {r: len(o) for r, o in store.objects.items()},
                         "historyEvents": {r: len(h) for r, h in store.history.items()},
                         "openWatches": sum(watches.values()), "watchesByResource": watches}
            with st.meta_lock:
                stats["requests"] = dict(st.request_counts)
                stats["requestCount"] = len(st.requests)
            stats["apiUp"] = st.api is not None
            stats["watch410"] = st.watch_410
            stats["forbidden"] = {r: sorted(v) for r, v in st.forbidden.items()}
            return self.reply(200, stats)
        if url.path == "/requests":
            q = urllib.parse.parse_qs(url.query)
            since = int((q.get("since") or ["0"])[0])
            with st.meta_lock:
                reqs = st.requests[since:]
            return self.reply(200, {"requests": reqs, "next": since + len(reqs)})
        if url.path == "/healthz":
            return self.reply(200, {"ok": True})
        self.reply(404, {"error": "no such control endpoint: GET %s" % url.path})

    def do_POST(self):
        st = self.server.state
        path = urllib.parse.urlsplit(self.path).path
        try:
            body = self.body()
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
            result = self.dispatch(st, path, body)
        except (ValueError, KeyError, TypeError) as e:
            return self.reply(400, {"error": str(e)})
        if result is None:
            return self.reply(404, {"error": "no such control endpoint: POST %s" % path})
        self.reply(200, result)

    def dispatch(self, st, path, body):
        store = st.store
        if path == "/objects":
            objs = body.get("objects", body.get("items"))
            if not isinstance(objs, list):
                raise ValueError('want {"objects": [...]}')
            defaults = body.get("defaults", True)
            for o in objs:  # all or nothing: check every object before writing any
                validate_object(o)
            with store.lock:
                for o in objs:
                    store.put_locked(o, defaults)
                return {"resourceVersion": str(store.rv), "count": len(objs)}
        if path == "/delete":
            deleted, missing = 0, []
            for o in body.get("objects", []):
                if not isinstance(o, dict) or o.get("kind") not in KIND_TO_RESOURCE or not o.get("name"):
                    raise ValueError("want {\"kind\": Service|EndpointSlice|Node, \"namespace\", \"name\"}, got %r"
                                     % (o,))
            with store.lock:
                for o in body.get("objects", []):
                    if store.delete_locked(o["kind"], o.get("namespace"), o["name"]):
                        deleted += 1
                    else:
                        missing.append(o)
                return {"resourceVersion": str(store.rv), "deleted": deleted, "missing": missing}
        if path == "/generate":
            return generate(st, body)
        if path == "/drop-watches":
            ws = st.all_watchers()
            for w in ws:
                w.q.put(DROP)
            return {"dropped": len(ws)}
        if path == "/compact":
            with store.lock:
                store.compact_locked()
                rv = store.rv
                ws = [w for s in store.watchers.values() for w in s] if body.get("close_watches") else []
            for w in ws:
                w.q.put(GONE)
            return {"compactedResourceVersion": str(rv), "closedWatches": len(ws)}
        if path == "/down":
            return {"down": api_down(st)}
        if path == "/up":
            return {"up": api_up(st)}
        if path == "/token":
            tok = body.get("token")
            if tok is not None and not isinstance(tok, str):
                raise ValueError("token must be a string or null")
            st.token = tok
            if body.get("user"):
                st.token_user = body["user"]
            return {"token_set": tok is not None}
        if path == "/forbid":
            res = body["resource"]
            if res not in RESOURCES:
                raise ValueError("unknown resource %r" % res)
            verbs = body.get("verbs") or ["*"]
            if body.get("on", True):
                st.forbidden[res] = set(verbs)
            else:
                st.forbidden.pop(res, None)
            return {"forbidden": {r: sorted(v) for r, v in st.forbidden.items()}}
        if path == "/watch-410":
            mode = body.get("mode")
            if mode not in ("http", "event"):
                raise ValueError('mode must be "http" or "event"')
            st.watch_410 = mode
            return {"mode": mode}
        if path == "/server-version":
            v = body.get("version", "")
            if not re.match(r"^v\d+\.\d+\.\d+", v):
                raise ValueError('version must look like "v1.30.0"')
            st.server_version = v
            return {"version": v}
        if path == "/bookmark-interval":
            st.bookmark_interval = float(body["seconds"])
            return {"seconds": st.bookmark_interval}
        if path == "/clear-requests":
            with st.meta_lock:
                n = len(st.requests)
                st.requests = []
                st.request_counts.clear()
            return {"cleared": n}
        return None


# ---------------------------------------------------------------------------
# API listener lifecycle


def api_up(st):
    with st.api_lock:
        if st.api is not None:
            return False
        srv = ApiServer(st.api_address, st)
        st.api_address = srv.server_address[:2]
        st.api = srv
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True,
                         name="api").start()
        return True


def api_down(st):
    with st.api_lock:
        srv = st.api
        if srv is None:
            return False
        st.api = None
        srv.shutdown()
        srv.server_close()
        srv.kill_connections()
    for w in st.all_watchers():
        w.q.put(DROP)
    return True


def parse_listen(s):
    if s.startswith("["):
        host, _, port = s[1:].partition("]:")
    else:
        host, _, port = s.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError("want HOST:PORT, got %r" % s)
    return (host, int(port))


def write_atomic(path, text):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv=None):
    p = argparse.ArgumentParser(
        description="Protocol-level fake Kubernetes API server (services, endpointslices, nodes; "
                    "list/get/watch) with a plain-HTTP control API. See tests/fake_apiserver/README.md.")
    p.add_argument("--port-file", required=True, help="write the API port here once listening")
    p.add_argument("--listen", type=parse_listen, default=("127.0.0.1", 0), metavar="HOST:PORT",
                   help="API listen address (default 127.0.0.1:0, an ephemeral port)")
    p.add_argument("--control-port-file", help="write the control port here once listening")
    p.add_argument("--control-listen", type=parse_listen, default=("127.0.0.1", 0), metavar="HOST:PORT",
                   help="control listen address, plain HTTP, no auth (default 127.0.0.1:0)")
    p.add_argument("--tls-cert", metavar="PEM", help="serve HTTPS with this certificate (chain)")
    p.add_argument("--tls-key", metavar="PEM", help="private key of --tls-cert")
    p.add_argument("--client-ca", metavar="PEM", help="accept client certificates signed by this CA; "
                   "a verified client certificate authenticates on its own (user = its CN)")
    p.add_argument("--token", help="require 'Authorization: Bearer TOKEN' (or a client certificate)")
    p.add_argument("--token-user", default="system:serviceaccount:kube-system:socklb",
                   help="user name the token authenticates as (in 403 messages and the request log)")
    p.add_argument("--request-log", metavar="FILE.jsonl", help="append one JSON line per API request")
    p.add_argument("--bookmark-interval", type=float, default=1.0, metavar="SECONDS",
                   help="BOOKMARK period for watches with allowWatchBookmarks=true (default 1)")
    p.add_argument("--watch-410", choices=("http", "event"), default="event",
                   help="a watch from a compacted resourceVersion gets an HTTP 410 or (default) "
                        "an ERROR event carrying a 410 Status")
    p.add_argument("--server-version", default="v1.30.0", metavar="vX.Y.Z",
                   help="gitVersion that /version reports (default v1.30.0); the kubectl dispatcher of "
                        "google-cloud-sdk picks its kubectl.X.Y from it")
    p.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = p.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        p.error("--tls-cert and --tls-key go together")
    if args.client_ca and not args.tls_cert:
        p.error("--client-ca needs --tls-cert/--tls-key")

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    st = State(args)
    st.api_address = args.listen
    api_up(st)
    ctl = ControlServer(args.control_listen, ControlHandler)
    ctl.state = st
    threading.Thread(target=ctl.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True,
                     name="control").start()
    if args.control_port_file:
        write_atomic(args.control_port_file, "%d\n" % ctl.server_address[1])
    write_atomic(args.port_file, "%d\n" % st.api_address[1])
    sys.stderr.write("fake-apiserver: API on %s://%s:%d, control on http://%s:%d\n" % (
        "https" if st.ssl_ctx else "http", st.api_address[0], st.api_address[1],
        ctl.server_address[0], ctl.server_address[1]))
    sys.stderr.flush()
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    srv = st.api
    if srv is not None:
        srv.socket.close()
        srv.kill_connections()
    ctl.socket.close()
    if st.log_file:
        st.log_file.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
