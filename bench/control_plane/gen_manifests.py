#!/usr/bin/env python3
"""Writes a synthetic cluster for the control-plane benchmarks.

N Services, each with one EndpointSlice of B endpoints, in block-style YAML as
kubectl prints it. Services go to services-NNN.yaml and slices to
slices-NNN.yaml (FILES of each), so one endpoint change rewrites one slice
file. ClusterIPs count up from 10.96.0.1 (inside the default service CIDR),
pod addresses from 10.128.0.1; nothing here is ever connected to.

  gen_manifests.py --out DIR --services 10000 --backends 10 --files 8
  gen_manifests.py --out DIR ... --rewrite-slice 42 --generation 7
      rewrites only the slice file that holds service 42, with the endpoints
      of that service shifted by GENERATION (an endpoint change), atomically.
"""

import argparse
import ipaddress
import os
import sys

SERVICE_BASE = int(ipaddress.IPv4Address("10.96.0.1"))
POD_BASE = int(ipaddress.IPv4Address("10.128.0.1"))
CHANGED_BASE = int(ipaddress.IPv4Address("10.192.0.1"))


def service_yaml(i):
    return f"""---
apiVersion: v1
kind: Service
metadata:
  name: svc-{i}
  namespace: bench
  labels:
    app: svc-{i}
spec:
  type: ClusterIP
  clusterIP: {ipaddress.IPv4Address(SERVICE_BASE + i)}
  selector:
    app: svc-{i}
  ports:
  - name: http
    protocol: TCP
    port: 80
    targetPort: 8080
"""


def slice_yaml(i, backends, generation):
    lines = [f"""---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: svc-{i}-abcde
  namespace: bench
  labels:
    kubernetes.io/service-name: svc-{i}
addressType: IPv4
endpoints:
"""]
    for b in range(backends):
        # a generation moves the first endpoint to a fresh address: the smallest change
        if b == 0 and generation:
            pod = ipaddress.IPv4Address(CHANGED_BASE + generation % (1 << 22))
        else:
            pod = ipaddress.IPv4Address(POD_BASE + i * backends + b)
        lines.append(f"""- addresses:
  - {pod}
  conditions:
    ready: true
    serving: true
    terminating: false
  nodeName: node-{b % 50}
  zone: zone-a
""")
    lines.append("""ports:
- name: http
  protocol: TCP
  port: 8080
""")
    return "".join(lines)


def file_of(i, services, files):
    per_file = (services + files - 1) // files
    return i // per_file, per_file


def write_atomic(path, text):
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def slice_file_text(index, per_file, services, backends, generations):
    first = index * per_file
    return "".join(slice_yaml(i, backends, generations.get(i, 0)) for i in range(first, min(first + per_file, services)))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--services", type=int, default=10000)
    p.add_argument("--backends", type=int, default=10)
    p.add_argument("--files", type=int, default=8, help="files of services, and as many of slices")
    p.add_argument("--rewrite-slice", type=int, help="rewrite only the slice file of this service")
    p.add_argument("--generation", type=int, default=1)
    a = p.parse_args()
    if a.services > (1 << 20):
        sys.exit("at most 2^20 services fit in 10.96.0.0/12")
    os.makedirs(a.out, exist_ok=True)
    if a.rewrite_slice is not None:
        index, per_file = file_of(a.rewrite_slice, a.services, a.files)
        text = slice_file_text(index, per_file, a.services, a.backends, {a.rewrite_slice: a.generation})
        write_atomic(os.path.join(a.out, f"slices-{index:03d}.yaml"), text)
        return
    per_file = (a.services + a.files - 1) // a.files
    for index in range(a.files):
        first = index * per_file
        if first >= a.services:
            break
        last = min(first + per_file, a.services)
        write_atomic(os.path.join(a.out, f"services-{index:03d}.yaml"),
                     "".join(service_yaml(i) for i in range(first, last)))
        write_atomic(os.path.join(a.out, f"slices-{index:03d}.yaml"),
                     slice_file_text(index, per_file, a.services, a.backends, {}))


if __name__ == "__main__":
    main()
