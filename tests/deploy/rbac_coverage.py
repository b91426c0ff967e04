#!/usr/bin/python3
"""Does a ClusterRole grant exactly the API requests in a request log?

A request log is JSON lines, one per request the agent made, such as the fake
API server's --request-log writes:

  {"method":"GET","path":"/api/v1/services","query":{"watch":["true"]},
   "verb":"watch","apiGroup":"","resource":"services","namespace":null,"name":null}

`verb`, `apiGroup`, `resource`, `name` are used when present; otherwise they
are worked out from method, path and query as the API server does
(k8s.io/apiserver requestinfo.go): GET of a collection is list, or watch with
watch=true/1 (or a /watch/ path); a list or watch whose fieldSelector is
exactly metadata.name=X is a request for the name X. Query values may be
strings or lists of strings. Entries without a resource (nonResourceURL) are
granted to every authenticated user by the default system:discovery and
system:public-info-viewer ClusterRoles when they are GETs of /api, /apis,
/version, /healthz, /livez, /readyz or /openapi (and below); any other needs a
nonResourceURLs rule in the role.

The check is both ways:
  missing: a request the role does not grant (the agent would get 403);
  unused:  an (apiGroup, resource, verb) the role grants and no request used;
  wildcard: a "*" in the role, which no log can show to be needed.

Usage: rbac_coverage.py CLUSTERROLE.yaml REQUESTS.jsonl   (exit 0 exact, 1 not)
"""

import json
import re
import sys
import urllib.parse
from dataclasses import dataclass, field

# What the default discovery ClusterRoles grant every authenticated user.
DEFAULT_NON_RESOURCE_URLS = ("/api", "/api/*", "/apis", "/apis/*", "/version", "/version/", "/healthz", "/livez",
                             "/readyz", "/openapi", "/openapi/*")

METHOD_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


@dataclass(frozen=True)
class Request:
    verb: str
    api_group: str = ""
    resource: str = ""  # "" for a non-resource URL; "pods/log" for a subresource
    name: str = ""
    url: str = ""  # the non-resource URL

    def __str__(self):
        if not self.resource:
            return "%s %s (non-resource URL)" % (self.verb, self.url)
        group = self.api_group or "core"
        return "%s %s (group %s)%s" % (self.verb, self.resource, group, " name " + self.name if self.name else "")


@dataclass
class Coverage:
    requests: int = 0
    missing: list = field(default_factory=list)
    unused: list = field(default_factory=list)
    wildcards: list = field(default_factory=list)

    @property
    def exact(self):
        return self.requests > 0 and not self.missing and not self.unused and not self.wildcards

    def problems(self):
        out = []
        if self.requests == 0:
            out.append("the log has no request")
        out += ["not granted: " + m for m in self.missing]
        out += ["granted but never used: " + u for u in self.unused]
        out += ["wildcard in the role: " + w for w in self.wildcards]
        return out


def _query_value(query, key):
    value = (query or {}).get(key)
    if isinstance(value, list):
        return value[-1] if value else None
    return value


def _name_from_field_selector(selector):
    if not selector:
        return ""
    m = re.fullmatch(r"metadata\.name==?([^,=!]+)", selector.strip())
    return m.group(1) if m else ""


def request_of(entry):
    """The RBAC request of one log entry."""
    method = (entry.get("method") or "GET").upper()
    query = entry.get("query") or {}
    path = entry.get("path") or ""
    if "?" in path:
        path, raw = path.split("?", 1)
        query = {**urllib.parse.parse_qs(raw, keep_blank_values=True), **query}
    resource = entry.get("resource")
    group = entry.get("apiGroup")
    name = entry.get("name") or ""
    subresource = entry.get("subresource") or ""
    watch_path = False
    if not resource and not entry.get("nonResourceURL"):
        parts = [p for p in path.split("/") if p]
        if len(parts) >= 2 and parts[0] == "api":
            group, rest = "", parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, rest = parts[1], parts[3:]
        else:
            rest = None
        if rest:
            if rest[0] == "watch":  # the old /watch/ paths
                watch_path, rest = True, rest[1:]
            if len(rest) >= 3 and rest[0] == "namespaces":
                rest = rest[2:]
            if rest:
                resource = rest[0]
                name = rest[1] if len(rest) > 1 else ""
                subresource = rest[2] if len(rest) > 2 else ""
    if not resource:
        url = entry.get("nonResourceURL") or path
        return Request(verb=(entry.get("verb") or method.lower()), url=url)
    if subresource and "/" not in resource:
        resource = resource + "/" + subresource
    verb = entry.get("verb")
    if not verb:
        if method in ("GET", "HEAD"):
            if name:
                verb = "watch" if watch_path else "get"
            else:
                watching = watch_path or str(_query_value(query, "watch") or "").lower() in ("true", "1")
                verb = "watch" if watching else "list"
        elif method == "DELETE" and not name:
            verb = "deletecollection"
        else:
            verb = METHOD_VERBS.get(method, method.lower())
    if verb in ("list", "watch") and not name:
        name = _name_from_field_selector(_query_value(query, "fieldSelector"))
    return Request(verb=verb, api_group=group or "", resource=resource, name=name)


def read_log(path):
    entries = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError as e:
                raise ValueError("%s:%d: not JSON: %s" % (path, number, e)) from None
            if not isinstance(entry, dict):
                raise ValueError("%s:%d: not a JSON object" % (path, number))
            entries.append(entry)
    return entries


def _url_matches(pattern, url):
    if pattern == "*":
        return True
    if pattern.endswith("*"):
        return url.startswith(pattern[:-1])
    return url == pattern


def check(role, entries):
    """Coverage of the log entries by the ClusterRole (a parsed dict)."""
    rules = role.get("rules") or []
    cov = Coverage()
    grants = set()  # (group, resource, verb) the role names, without wildcards
    for i, rule in enumerate(rules):
        for key in ("apiGroups", "resources", "verbs", "nonResourceURLs", "resourceNames"):
            if "*" in (rule.get(key) or []):
                cov.wildcards.append("rules[%d].%s" % (i, key))
        if rule.get("nonResourceURLs"):
            continue
        for g in rule.get("apiGroups") or []:
            for r in rule.get("resources") or []:
                for v in rule.get("verbs") or []:
                    if "*" not in (g, r, v):
                        grants.add((g, r, v))

    def grants_request(req):
        for rule in rules:
            verbs = rule.get("verbs") or []
            if req.verb not in verbs and "*" not in verbs:
                continue
            if not req.resource:
                if any(_url_matches(p, req.url) for p in rule.get("nonResourceURLs") or []):
                    return True
                continue
            groups, resources = rule.get("apiGroups") or [], rule.get("resources") or []
            if req.api_group not in groups and "*" not in groups:
                continue
            if req.resource not in resources and "*" not in resources:
                continue
            names = rule.get("resourceNames") or []
            if names and req.name not in names:
                continue
            return True
        return False

    used = set()
    urls = []  # the non-resource requests, for the role's nonResourceURLs rules
    seen_missing = set()
    for entry in entries:
        req = request_of(entry)
        cov.requests += 1
        if req.resource:
            used.add((req.api_group, req.resource, req.verb))
        else:
            urls.append(req)
            if req.verb == "get" and any(_url_matches(p, req.url) for p in DEFAULT_NON_RESOURCE_URLS):
                continue  # every authenticated user may
        if not grants_request(req) and str(req) not in seen_missing:
            seen_missing.add(str(req))
            cov.missing.append(str(req))
    for g, r, v in sorted(grants - used):
        cov.unused.append("%s %s (group %s)" % (v, r, g or "core"))
    for rule in rules:
        for pattern in rule.get("nonResourceURLs") or []:
            for v in rule.get("verbs") or []:
                if not any(u.verb == v and _url_matches(pattern, u.url) for u in urls):
                    cov.unused.append("%s %s (non-resource URL)" % (v, pattern))
    return cov


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    import yaml  # python3-yaml

    with open(argv[1], encoding="utf-8") as f:
        roles = [d for d in yaml.safe_load_all(f) if d and d.get("kind") == "ClusterRole"]
    if len(roles) != 1:
        print("%s: expected one ClusterRole, found %d" % (argv[1], len(roles)), file=sys.stderr)
        return 2
    cov = check(roles[0], read_log(argv[2]))
    for p in cov.problems():
        print(p)
    print("%d requests: %s" % (cov.requests, "the role grants exactly what they use" if cov.exact else "NOT exact"))
    return 0 if cov.exact else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
