#!/usr/bin/python3
"""The deployment files in deploy/: Kubernetes manifests, RBAC, the systemd unit.

  /usr/bin/python3 tests/deploy/deploy_test.py

Debian's python3 (python3-yaml). Exit 0 when every check passes, 1 when one
fails, 77 when none failed but some were skipped because a tool is missing
(python3-yaml, kubectl, systemd-analyze); with CI=true a skip is a failure.

- Manifests: every YAML under deploy/kubernetes parses and has apiVersion,
  kind and metadata.name; the kustomization lists exactly the files; one
  namespace everywhere; the binding ties the role to the service account;
  the DaemonSet has what a node agent needs (hostNetwork, tolerations,
  priority, probes on the health port, NODE_NAME from spec.nodeName, the
  capabilities, the mounts); its args, with $(VAR) expanded as the kubelet
  does, are an in-cluster `socklb run` with a real --api-server. Then
  `kubectl kustomize` must render the same objects. (`kubectl apply
  --dry-run=client` and `kubectl create --dry-run=client` need an API server
  even with --validate=false: they ask it for the resource mapping.)
- RBAC: the ClusterRole must grant exactly the requests in a log of the
  agent's API requests: $SOCKLB_REQUEST_LOG when set (a fake API server's
  --request-log), else tests/deploy/sample_request_log.jsonl. Self-checks
  show the check fails on a write, on a secrets read and on an unused grant.
- systemd: the unit's hardening settings, and `systemd-analyze verify` of a
  copy whose ExecStart names a stub executable (verify rejects a unit whose
  binary is missing; the agent is not installed here). verify exits 0 even
  on an unknown key, so any message about the unit fails the check; a copy
  with a misspelt key shows it does.
"""

import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
K8S_DIR = os.path.join(ROOT, "deploy", "kubernetes")
UNIT = os.path.join(ROOT, "deploy", "systemd", "socklb.service")
SAMPLE_LOG = os.path.join(HERE, "sample_request_log.jsonl")
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import rbac_coverage  # noqa: E402

try:
    import yaml
except ImportError:  # python3-yaml
    yaml = None

HEALTH_PORT = 10256
CAPABILITIES = {"BPF", "PERFMON", "NET_ADMIN", "SYS_ADMIN", "SYS_PTRACE", "SYS_RESOURCE"}
UNIT_CAPABILITIES = {"CAP_BPF", "CAP_PERFMON", "CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_SYS_PTRACE"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
# `socklb run` flags in API mode (plus the manifest-mode ones that must not appear)
RUN_FLAGS = {"--kubeconfig", "--api-server", "--manifests", "--node-name", "--zone", "--cgroup", "--bpffs",
             "--service-cidr", "--health-addr", "--metrics-addr", "--log-format", "--max-services",
             "--max-backends", "--max-affinity", "--max-socket-flows", "--full-resync"}
KUBERNETES_SERVICE_NAMES = {"kubernetes", "kubernetes.default", "kubernetes.default.svc",
                            "kubernetes.default.svc.cluster.local"}


class Failure(Exception):
    pass


class Skip(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise Failure(message)


CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


# ---------------------------------------------------------------- helpers

def need_yaml():
    if yaml is None:
        raise Skip("python3-yaml is not installed (apt-get install python3-yaml)")


_objects = None


def k8s_objects():
    """{file name: [documents]} of deploy/kubernetes, parsed once."""
    global _objects
    need_yaml()
    if _objects is None:
        _objects = {}
        for name in sorted(os.listdir(K8S_DIR)):
            if name.endswith((".yaml", ".yml")):
                with open(os.path.join(K8S_DIR, name), encoding="utf-8") as f:
                    _objects[name] = [d for d in yaml.safe_load_all(f) if d is not None]
    return _objects


def resources():
    """Every Kubernetes object (not the Kustomization)."""
    return [d for docs in k8s_objects().values() for d in docs if d.get("kind") != "Kustomization"]


def one(kind):
    found = [d for d in resources() if d.get("kind") == kind]
    expect(len(found) == 1, "expected one %s in deploy/kubernetes, found %d" % (kind, len(found)))
    return found[0]


def agent_container(ds):
    containers = ds["spec"]["template"]["spec"].get("containers") or []
    named = [c for c in containers if c.get("name") == "socklb"]
    expect(len(named) == 1, "the DaemonSet has no container named socklb")
    return named[0]


def expand(text, env, unresolved):
    """$(VAR) and $$ as the kubelet expands command and args."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("$(", i) and ")" in text[i:]:
            j = text.index(")", i)
            name = text[i + 2:j]
            if name in env:
                out.append(env[name])
            else:
                unresolved.append(name)
                out.append(text[i:j + 1])
            i = j + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def container_env(container, node_name="node-1"):
    """The container's environment: its ConfigMaps (envFrom), then env."""
    configmaps = {d["metadata"]["name"]: d.get("data") or {} for d in resources() if d["kind"] == "ConfigMap"}
    env = {}
    for source in container.get("envFrom") or []:
        ref = (source.get("configMapRef") or {}).get("name")
        expect(ref in configmaps, "envFrom names ConfigMap %r, which deploy/kubernetes does not define" % ref)
        env.update({k: str(v) for k, v in configmaps[ref].items()})
    for var in container.get("env") or []:
        if "value" in var:
            env[var["name"]] = str(var["value"])
        elif ((var.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath") == "spec.nodeName":
            env[var["name"]] = node_name
        else:
            env[var["name"]] = "<%s>" % var["name"]
    return env


def run_args(container):
    """(global options, {flag: [values]}) of the agent's expanded args."""
    env = container_env(container)
    unresolved = []
    args = [expand(str(a), env, unresolved) for a in container.get("args") or []]
    expect(not unresolved, "args refer to undefined variables: %s" % ", ".join(sorted(set(unresolved))))
    expect("run" in args, "args have no `run` subcommand: %s" % args)
    split = args.index("run")
    flags = {}
    rest = args[split + 1:]
    i = 0
    while i < len(rest):
        flag = rest[i]
        expect(flag.startswith("--"), "unexpected argument %r in %s" % (flag, rest))
        if "=" in flag:
            flag, value = flag.split("=", 1)
            i += 1
        else:
            expect(i + 1 < len(rest), "%s has no value" % flag)
            value = rest[i + 1]
            i += 2
        expect(flag in RUN_FLAGS, "unknown `socklb run` flag %s" % flag)
        flags.setdefault(flag, []).append(value)
    return args[:split], flags


def probe_port(container, probe):
    port = ((container.get(probe) or {}).get("httpGet") or {}).get("port")
    if isinstance(port, str):  # a named port
        named = [p for p in container.get("ports") or [] if p.get("name") == port]
        expect(named, "%s uses port %r, which the container does not name" % (probe, port))
        port = named[0]["containerPort"]
    return port


def mount_for(container, pod_spec, host_path):
    """The container's mount of the hostPath volume at host_path."""
    volumes = {v["name"]: v for v in pod_spec.get("volumes") or []}
    for m in container.get("volumeMounts") or []:
        v = volumes.get(m["name"]) or {}
        if (v.get("hostPath") or {}).get("path") == host_path:
            return m
    raise Failure("container %s does not mount the host's %s" % (container.get("name"), host_path))


def under(path, directory):
    path, directory = os.path.normpath(path), os.path.normpath(directory)
    return path == directory or path.startswith(directory + "/")


def tool(name):
    path = shutil.which(name)
    if not path:
        raise Skip("%s is not installed" % name)
    return path


# ---------------------------------------------------------------- manifests

@check
def manifests_parse_and_name_themselves():
    objects = k8s_objects()
    expect(objects, "no YAML in deploy/kubernetes")
    for name, docs in objects.items():
        expect(docs, "%s has no document" % name)
        for d in docs:
            expect(isinstance(d, dict), "%s: a document is not a mapping" % name)
            expect(d.get("apiVersion") and d.get("kind"), "%s: a document lacks apiVersion or kind" % name)
            if d["kind"] == "Kustomization":
                continue
            expect((d.get("metadata") or {}).get("name"), "%s: %s has no metadata.name" % (name, d["kind"]))


@check
def kustomization_lists_every_file():
    kustomizations = [d for d in k8s_objects().get("kustomization.yaml", []) if d.get("kind") == "Kustomization"]
    expect(len(kustomizations) == 1, "deploy/kubernetes/kustomization.yaml is missing or not a Kustomization")
    listed = kustomizations[0].get("resources") or []
    files = sorted(n for n in k8s_objects() if n != "kustomization.yaml")
    expect(sorted(listed) == files, "kustomization resources %s != files %s" % (sorted(listed), files))
    expect(len(listed) == len(set(listed)), "kustomization lists a file twice")


@check
def one_namespace_everywhere():
    ns = one("Namespace")["metadata"]["name"]
    expect(ns == "socklb-system", "namespace is %r, not socklb-system" % ns)
    for d in resources():
        got = d["metadata"].get("namespace")
        if d["kind"] in CLUSTER_SCOPED:
            expect(got is None, "%s %s is cluster-scoped but names namespace %r" % (d["kind"], d["metadata"]["name"], got))
        else:
            expect(got == ns, "%s %s is in namespace %r, not %r" % (d["kind"], d["metadata"]["name"], got, ns))
    for s in one("ClusterRoleBinding").get("subjects") or []:
        if s.get("kind") == "ServiceAccount":
            expect(s.get("namespace") == ns, "the binding's ServiceAccount subject is in %r" % s.get("namespace"))


@check
def namespace_admits_the_agent():
    labels = one("Namespace")["metadata"].get("labels") or {}
    expect(labels.get("pod-security.kubernetes.io/enforce") == "privileged",
           "the namespace must enforce the privileged Pod Security level (hostNetwork, hostPID, hostPath, capabilities)")


@check
def binding_ties_role_to_service_account():
    role, sa, binding = one("ClusterRole"), one("ServiceAccount"), one("ClusterRoleBinding")
    ref = binding.get("roleRef") or {}
    expect(ref.get("apiGroup") == "rbac.authorization.k8s.io" and ref.get("kind") == "ClusterRole"
           and ref.get("name") == role["metadata"]["name"], "roleRef %s is not ClusterRole %s" % (ref, role["metadata"]["name"]))
    subjects = [s for s in binding.get("subjects") or []
                if s.get("kind") == "ServiceAccount" and s.get("name") == sa["metadata"]["name"]
                and s.get("namespace") == sa["metadata"]["namespace"]]
    expect(subjects, "the binding's subjects do not include ServiceAccount %s/%s"
           % (sa["metadata"]["namespace"], sa["metadata"]["name"]))
    expect(sa.get("automountServiceAccountToken") is not False, "the ServiceAccount must mount its token (in-cluster mode)")
    ds = one("DaemonSet")["spec"]["template"]["spec"]
    expect(ds.get("serviceAccountName") == sa["metadata"]["name"],
           "the DaemonSet runs as %r, not ServiceAccount %r" % (ds.get("serviceAccountName"), sa["metadata"]["name"]))
    expect(ds.get("automountServiceAccountToken") is not False, "the DaemonSet must mount the service account token")


@check
def clusterrole_is_exactly_the_agents_requests():
    rules = one("ClusterRole").get("rules") or []
    got = {(g, r, v) for rule in rules for g in rule.get("apiGroups") or [] for r in rule.get("resources") or []
           for v in rule.get("verbs") or []}
    want = {("", "services", "list"), ("", "services", "watch"),
            ("discovery.k8s.io", "endpointslices", "list"), ("discovery.k8s.io", "endpointslices", "watch"),
            ("", "nodes", "get"), ("", "nodes", "list"), ("", "nodes", "watch")}
    expect(got == want, "ClusterRole grants %s; expected exactly %s" % (sorted(got), sorted(want)))
    expect(not any(r.get("nonResourceURLs") or r.get("resourceNames") for r in rules), "unexpected rule kinds")


@check
def daemonset_is_a_node_agent():
    ds = one("DaemonSet")
    spec = ds["spec"]["template"]["spec"]
    selector = ds["spec"]["selector"].get("matchLabels") or {}
    labels = ds["spec"]["template"]["metadata"].get("labels") or {}
    expect(selector and all(labels.get(k) == v for k, v in selector.items()), "the selector does not match the pod labels")
    expect(spec.get("hostNetwork") is True, "hostNetwork must be true")
    expect(spec.get("hostPID") is True, "hostPID must be true (cgroup.procs and /proc/PID/ns/net of pods)")
    expect(spec.get("dnsPolicy") == "ClusterFirstWithHostNet", "dnsPolicy must be ClusterFirstWithHostNet")
    expect(spec.get("priorityClassName") == "system-node-critical", "priorityClassName must be system-node-critical")
    expect({"operator": "Exists"} in (spec.get("tolerations") or []),
           "tolerations must include {operator: Exists} (every taint)")
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        expect(c.get("image") == "socklb:latest", "container %s: image %r is not the socklb:latest placeholder"
               % (c.get("name"), c.get("image")))


@check
def daemonset_node_name_from_downward_api():
    c = agent_container(one("DaemonSet"))
    node = [e for e in c.get("env") or [] if e.get("name") == "NODE_NAME"]
    expect(node and node[0].get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "spec.nodeName",
           "NODE_NAME must come from fieldRef spec.nodeName")
    args = [str(a) for a in c.get("args") or []]
    expect("--node-name" in args and args[args.index("--node-name") + 1] == "$(NODE_NAME)",
           "args must pass --node-name $(NODE_NAME)")


@check
def daemonset_runs_the_agent_in_cluster():
    c = agent_container(one("DaemonSet"))
    global_options, flags = run_args(c)
    expect("--kubeconfig" not in flags and "--manifests" not in flags,
           "in-cluster mode takes neither --kubeconfig nor --manifests")
    expect(not any("KUBERNETES_SERVICE" in str(a) for a in c.get("args") or []),
           "--api-server must not be the kubernetes Service (KUBERNETES_SERVICE_HOST): socklb translates it")
    api = flags.get("--api-server") or []
    expect(len(api) == 1, "exactly one --api-server is needed, got %s" % api)
    m = re.fullmatch(r"https://(\[[0-9a-fA-F:.]+\]|[^/:]+)(:\d+)?/?", api[0])
    expect(m, "--api-server %r is not https://HOST[:PORT]" % api[0])
    host = m.group(1).strip("[]")
    expect(host not in KUBERNETES_SERVICE_NAMES, "--api-server %r is the kubernetes Service" % api[0])
    try:
        ip = ipaddress.ip_address(host)
        cidrs = [ipaddress.ip_network(v) for v in flags.get("--service-cidr") or []]
        expect(not any(ip in n for n in cidrs), "--api-server %s is a ClusterIP (in --service-cidr)" % host)
    except ValueError:
        pass  # a host name
    expect(flags.get("--log-format") == ["json"], "--log-format must be json")
    expect(global_options == [] or (len(global_options) == 2 and global_options[0] == "--log-level"),
           "unexpected options before run: %s" % global_options)
    if global_options:
        expect(global_options[1] in ("trace", "debug", "info", "warn", "error"), "bad --log-level %r" % global_options[1])
    cidrs = flags.get("--service-cidr") or []
    expect(cidrs, "--service-cidr must be set to the cluster's Service CIDRs")
    for v in cidrs:
        try:
            ipaddress.ip_network(v)
        except ValueError:
            raise Failure("--service-cidr %r is not a CIDR" % v)
    for flag in ("--max-services", "--max-backends"):
        for v in flags.get(flag) or []:
            expect(v.isdigit() and int(v) > 0, "%s %r is not a positive number" % (flag, v))
    health = flags.get("--health-addr") or []
    expect(len(health) == 1 and health[0].rsplit(":", 1)[-1] == str(HEALTH_PORT),
           "--health-addr %s does not listen on port %d" % (health, HEALTH_PORT))
    expect(len(flags.get("--metrics-addr") or []) == 1, "--metrics-addr must be set once")


@check
def daemonset_probes_the_health_port():
    c = agent_container(one("DaemonSet"))
    for probe, path in (("livenessProbe", "/livez"), ("readinessProbe", "/healthz")):
        get = (c.get(probe) or {}).get("httpGet") or {}
        expect(get.get("path") == path, "%s must GET %s, not %r" % (probe, path, get.get("path")))
        expect(probe_port(c, probe) == HEALTH_PORT, "%s must use port %d" % (probe, HEALTH_PORT))
    if c.get("startupProbe"):
        expect(probe_port(c, "startupProbe") == HEALTH_PORT, "startupProbe must use port %d" % HEALTH_PORT)
    expect(any(p.get("containerPort") == HEALTH_PORT for p in c.get("ports") or []),
           "the container must declare port %d (on a host-network pod it reserves the node's port)" % HEALTH_PORT)


@check
def daemonset_capabilities_not_privileged():
    ds = one("DaemonSet")
    c = agent_container(ds)
    sc = c.get("securityContext") or {}
    expect(sc.get("privileged") in (None, False), "the agent must not be privileged")
    caps = sc.get("capabilities") or {}
    expect(set(caps.get("add") or []) == CAPABILITIES,
           "capabilities.add %s != %s" % (sorted(caps.get("add") or []), sorted(CAPABILITIES)))
    expect("ALL" in (caps.get("drop") or []), "capabilities.drop must include ALL")
    expect(sc.get("runAsUser") == 0, "added capabilities are effective for uid 0 only: runAsUser must be 0")
    expect(sc.get("allowPrivilegeEscalation") is not False,
           "Kubernetes refuses allowPrivilegeEscalation: false together with SYS_ADMIN")
    for init in ds["spec"]["template"]["spec"].get("initContainers") or []:
        isc = init.get("securityContext") or {}
        expect(not isc.get("privileged") and not (isc.get("capabilities") or {}).get("add"),
               "init container %s needs no privilege" % init.get("name"))


@check
def daemonset_mounts_bpffs_and_cgroup():
    ds = one("DaemonSet")
    spec = ds["spec"]["template"]["spec"]
    c = agent_container(ds)
    _, flags = run_args(c)
    bpffs = mount_for(c, spec, "/sys/fs/bpf")
    expect(bpffs["mountPath"] == "/sys/fs/bpf", "the bpffs must be at the host's path, /sys/fs/bpf, in the container")
    expect(bpffs.get("mountPropagation") == "HostToContainer",
           "bpffs mountPropagation must be HostToContainer (Bidirectional needs a privileged container)")
    expect(not bpffs.get("readOnly"), "the bpffs mount must be writable (pins)")
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        for m in container.get("volumeMounts") or []:
            if m.get("mountPropagation") == "Bidirectional":
                expect((container.get("securityContext") or {}).get("privileged"),
                       "Bidirectional propagation in %s, which is not privileged: Kubernetes refuses it" % container["name"])
    bpffs_dir = (flags.get("--bpffs") or [""])[0]
    expect(under(bpffs_dir, bpffs["mountPath"]) and bpffs_dir != bpffs["mountPath"],
           "--bpffs %r is not a directory in the bpffs mount %s" % (bpffs_dir, bpffs["mountPath"]))
    cgroup = mount_for(c, spec, "/sys/fs/cgroup")
    expect(cgroup.get("readOnly") is True, "the cgroup mount should be read-only (attach needs an O_RDONLY fd only)")
    expect(cgroup["mountPath"] != "/sys/fs/cgroup", "the host's cgroups must not hide the container's /sys/fs/cgroup")
    cgroup_dir = (flags.get("--cgroup") or [""])[0]
    expect(under(cgroup_dir, cgroup["mountPath"]),
           "--cgroup %r is not in the host's cgroup mount %s (the default would be the container's own cgroup)"
           % (cgroup_dir, cgroup["mountPath"]))
    for init in spec.get("initContainers") or []:
        if init.get("name") == "check-bpffs":
            expect(mount_for(init, spec, "/sys/fs/bpf")["mountPath"] == "/sys/fs/bpf", "check-bpffs must see /sys/fs/bpf")


@check
def daemonset_has_resources():
    ds = one("DaemonSet")
    for c in (ds["spec"]["template"]["spec"].get("containers") or []) + \
            (ds["spec"]["template"]["spec"].get("initContainers") or []):
        r = c.get("resources") or {}
        expect((r.get("requests") or {}).get("memory") and (r.get("requests") or {}).get("cpu"),
               "container %s needs cpu and memory requests" % c.get("name"))
        expect((r.get("limits") or {}).get("memory"), "container %s needs a memory limit" % c.get("name"))


@check
def bpffs_check_script_tells_bpffs_apart():
    """The check-bpffs init container's script, run here: passes on a bpffs, fails elsewhere."""
    ds = one("DaemonSet")
    inits = [c for c in ds["spec"]["template"]["spec"].get("initContainers") or [] if c.get("name") == "check-bpffs"]
    expect(inits, "the DaemonSet has no check-bpffs init container")
    command = [expand(str(a), {}, []) for a in (inits[0].get("command") or []) + (inits[0].get("args") or [])]
    expect(command[:2] == ["/bin/sh", "-c"] and len(command) == 3, "check-bpffs must run /bin/sh -c SCRIPT")
    script = command[2]
    expect("/sys/fs/bpf" in script, "the script does not look at /sys/fs/bpf")
    with tempfile.TemporaryDirectory() as not_bpffs:
        r = subprocess.run(["/bin/sh", "-c", script.replace("/sys/fs/bpf", not_bpffs)], capture_output=True, text=True)
        expect(r.returncode != 0 and "not a BPF filesystem" in r.stderr,
               "the script passed on %s, which is not a bpffs: %r" % (not_bpffs, r.stderr))
    r = subprocess.run(["stat", "-f", "-c", "%T", "/sys/fs/bpf"], capture_output=True, text=True)
    if r.stdout.strip() != "bpf_fs":
        raise Skip("the failing half passed; /sys/fs/bpf is not a bpffs on this machine, so the passing half cannot run")
    r = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True)
    expect(r.returncode == 0, "the script failed on this machine's bpffs: %r" % r.stderr)


@check
def kubectl_kustomize_renders_the_same_objects():
    need_yaml()
    kubectl = tool("kubectl")
    env = dict(os.environ, KUBECONFIG=os.devnull)
    with tempfile.TemporaryDirectory() as home:
        env["HOME"] = home  # no cache or config of the user's
        r = subprocess.run([kubectl, "kustomize", K8S_DIR], capture_output=True, text=True, env=env, timeout=120)
    expect(r.returncode == 0, "kubectl kustomize failed: %s" % r.stderr.strip())
    rendered = [d for d in yaml.safe_load_all(r.stdout) if d]

    def key(d):
        return (d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"])

    expect(sorted(map(key, rendered)) == sorted(map(key, resources())),
           "kustomize rendered %s, the files hold %s" % (sorted(map(key, rendered)), sorted(map(key, resources()))))
    by_key = {key(d): d for d in resources()}
    for d in rendered:
        expect(d == by_key[key(d)], "kustomize changed %s %s" % (d["kind"], d["metadata"]["name"]))


# ---------------------------------------------------------------- RBAC

def clusterrole():
    need_yaml()
    return one("ClusterRole")


@check
def rbac_grants_exactly_the_logged_requests():
    log = os.environ.get("SOCKLB_REQUEST_LOG") or SAMPLE_LOG
    expect(os.path.isfile(log), "SOCKLB_REQUEST_LOG=%s: no such file" % log)
    cov = rbac_coverage.check(clusterrole(), rbac_coverage.read_log(log))
    print("    %s: %d requests" % (os.path.relpath(log, ROOT) if log == SAMPLE_LOG else log, cov.requests))
    expect(cov.exact, "ClusterRole vs %s:\n      %s" % (log, "\n      ".join(cov.problems())))


@check
def rbac_check_catches_writes_secrets_and_unused_grants():
    role = clusterrole()
    sample = rbac_coverage.read_log(SAMPLE_LOG)
    write = {"method": "POST", "path": "/api/v1/namespaces/default/services", "query": {}, "verb": "create",
             "apiGroup": "", "resource": "services", "namespace": "default", "name": None}
    secret = {"method": "GET", "path": "/api/v1/namespaces/kube-system/secrets/x", "query": {}}
    event = {"method": "POST", "path": "/apis/events.k8s.io/v1/namespaces/default/events", "query": {}}
    for extra, what in ((write, "create services"), (secret, "get secrets"), (event, "create events")):
        cov = rbac_coverage.check(role, sample + [extra])
        expect(not cov.exact and any(m.startswith(what) for m in cov.missing),
               "a log with %s was not reported as not covered: %s" % (what, cov.problems()))
    wider = json.loads(json.dumps(role))
    wider["rules"][0]["verbs"] = list(wider["rules"][0]["verbs"]) + ["delete"]
    cov = rbac_coverage.check(wider, sample)
    expect(not cov.exact and cov.unused, "a role with an unused delete grant was reported exact")
    wild = {"rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}
    expect(rbac_coverage.check(wild, sample).wildcards, "a wildcard role was not reported")
    no_watch = [e for e in sample if not (e.get("resource") == "nodes" and e.get("verb") == "watch")]
    cov = rbac_coverage.check(role, no_watch)
    expect(any(u.startswith("watch nodes") for u in cov.unused), "an unused watch nodes grant was not reported")
    expect(not rbac_coverage.check(role, []).exact, "an empty log was reported exact")


# ---------------------------------------------------------------- systemd

def unit_settings():
    settings, section = {}, None
    with open(UNIT, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                section = line.strip("[]")
                continue
            k, _, v = line.partition("=")
            settings.setdefault((section, k.strip()), []).append(v.strip())
    return settings


@check
def systemd_unit_is_hardened():
    s = unit_settings()

    def value(key, section="Service"):
        v = s.get((section, key))
        expect(v, "%s= is not set in [%s]" % (key, section))
        return v[-1]

    exec_start = value("ExecStart").split()
    expect(exec_start[:2] == ["/usr/local/bin/socklb", "run"], "ExecStart must be /usr/local/bin/socklb run ...")
    for flag, want in (("--manifests", "/etc/socklb/manifests"), ("--bpffs", "/sys/fs/bpf/socklb"),
                       ("--log-format", "json"), ("--cgroup", None)):
        expect(flag in exec_start, "ExecStart lacks %s" % flag)
        if want:
            expect(exec_start[exec_start.index(flag) + 1] == want, "ExecStart: %s must be %s" % (flag, want))
    for key, want in (("Type", "simple"), ("Restart", "on-failure"), ("KillSignal", "SIGTERM"),
                      ("LimitMEMLOCK", "infinity"), ("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                      ("ProtectHome", "yes"), ("PrivateTmp", "yes"), ("ProtectKernelModules", "yes"),
                      ("ProtectKernelLogs", "yes"), ("ProtectControlGroups", "yes"),
                      ("SystemCallArchitectures", "native"), ("LockPersonality", "yes"),
                      ("MemoryDenyWriteExecute", "yes")):
        expect(value(key) == want, "%s=%s, expected %s" % (key, value(key), want))
    expect("/sys/fs/bpf" in value("ReadWritePaths").split(), "ReadWritePaths= must include /sys/fs/bpf")
    families = set(value("RestrictAddressFamilies").split())
    expect(families and not any(f.startswith("~") for f in families) and {"AF_INET", "AF_INET6"} <= families,
           "RestrictAddressFamilies= must be an allow list with AF_INET and AF_INET6")
    namespaces = value("RestrictNamespaces").split()
    expect(namespaces == ["net"], "RestrictNamespaces= must be net: closing sockets setns()es into network namespaces")
    for key in ("CapabilityBoundingSet", "AmbientCapabilities"):
        expect(set(value(key).split()) == UNIT_CAPABILITIES,
               "%s=%s, expected %s" % (key, value(key), " ".join(sorted(UNIT_CAPABILITIES))))


def systemd_verify(unit_text):
    """Messages of `systemd-analyze verify` about a copy of the unit whose ExecStart runs a stub."""
    analyze = tool("systemd-analyze")
    with tempfile.TemporaryDirectory() as d:
        stub = os.path.join(d, "socklb")
        with open(stub, "w") as f:
            f.write("#!/bin/sh\nexit 0\n")
        os.chmod(stub, 0o755)
        path = os.path.join(d, "socklb.service")
        with open(path, "w") as f:
            f.write(unit_text.replace("ExecStart=/usr/local/bin/socklb ", "ExecStart=%s " % stub))
        r = subprocess.run([analyze, "verify", "--man=no", path], capture_output=True, text=True, timeout=120)
        messages = [line for line in (r.stdout + r.stderr).splitlines() if "socklb" in line]
        if r.returncode != 0 and not messages:
            messages = ["systemd-analyze verify exited %d: %s" % (r.returncode, (r.stdout + r.stderr).strip())]
        return messages


@check
def systemd_analyze_verify_accepts_the_unit():
    with open(UNIT, encoding="utf-8") as f:
        text = f.read()
    expect("ExecStart=/usr/local/bin/socklb " in text, "ExecStart does not start with /usr/local/bin/socklb")
    messages = systemd_verify(text)
    expect(not messages, "systemd-analyze verify:\n      " + "\n      ".join(messages))
    broken = systemd_verify(text.replace("ProtectKernelLogs=yes", "ProtectKernelLog=yes"))
    expect(broken, "systemd-analyze verify did not report a misspelt key: this check could not fail")


@check
def systemd_security_exposure_stays_ok():
    """`systemd-analyze security --offline` of the unit: 'OK' or better (5.0 or less)."""
    analyze = tool("systemd-analyze")
    with tempfile.TemporaryDirectory() as d:
        stub = os.path.join(d, "socklb")
        with open(stub, "w") as f:
            f.write("#!/bin/sh\nexit 0\n")
        os.chmod(stub, 0o755)
        path = os.path.join(d, "socklb.service")
        with open(UNIT, encoding="utf-8") as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(text.replace("ExecStart=/usr/local/bin/socklb ", "ExecStart=%s " % stub))
        r = subprocess.run([analyze, "security", "--offline=true", "--no-pager", path],
                           capture_output=True, text=True, timeout=120)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout)
    if r.returncode != 0 and not m:
        raise Skip("systemd-analyze security --offline is not supported here: %s" % r.stderr.strip()[:200])
    expect(m, "no exposure level in: %s" % r.stdout[-300:])
    print("    exposure %s" % m.group(1))
    expect(float(m.group(1)) <= 5.0, "exposure %s is above 5.0 (MEDIUM)" % m.group(1))


# ---------------------------------------------------------------- runner

def main():
    ci = os.environ.get("CI") == "true"
    passed, failed, skipped = 0, 0, 0
    for fn in CHECKS:
        name = fn.__name__
        try:
            fn()
        except Skip as e:
            skipped += 1
            print("SKIP %s: %s" % (name, e))
        except Failure as e:
            failed += 1
            print("FAIL %s: %s" % (name, e))
        except Exception:  # a bug in a file's shape (a missing key) is a failure too
            failed += 1
            print("FAIL %s: %s" % (name, traceback.format_exc().strip().splitlines()[-1]))
        else:
            passed += 1
            print("ok   %s" % name)
    print("deploy: %d passed, %d failed, %d skipped" % (passed, failed, skipped))
    if failed:
        return 1
    if skipped:
        if ci:
            print("deploy: CI=true, and a skip is a failure there: install what is missing")
            return 1
        return 77
    return 0


if __name__ == "__main__":
    sys.exit(main())
