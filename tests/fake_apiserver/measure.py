#!/usr/bin/python3
"""How fast the fake API server fills and serves a large cluster.

Starts the fake, POSTs /generate of N services x B backends, then lists all
services and all endpointslices in pages (limit=500, following continue) over
one keep-alive connection, parsing each page as a client would. Prints the
times and the fake's peak RSS. Not a test: it judges nothing.

    /usr/bin/python3 tests/fake_apiserver/measure.py [--services 100000] [--backends 10] [--limit 500]
"""

import argparse
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

FAKE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_apiserver.py")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--services", type=int, default=100000)
    p.add_argument("--backends", type=int, default=10)
    p.add_argument("--limit", type=int, default=500)
    args = p.parse_args()
    tmp = tempfile.mkdtemp(prefix="fake-apiserver-measure-")
    proc = subprocess.Popen([sys.executable, FAKE, "--port-file", tmp + "/port", "--control-port-file",
                             tmp + "/control"], stderr=subprocess.DEVNULL)
    try:
        while not (os.path.exists(tmp + "/port") and os.path.exists(tmp + "/control")):
            if proc.poll() is not None:
                sys.exit("the fake exited")
            time.sleep(0.05)
        port, ctl = int(open(tmp + "/port").read()), int(open(tmp + "/control").read())
        t = time.monotonic()
        req = urllib.request.Request("http://127.0.0.1:%d/generate" % ctl, method="POST", data=json.dumps(
            {"services": args.services, "backends": args.backends, "namespace": "bench"}).encode())
        with urllib.request.urlopen(req, timeout=600) as r:
            out = json.loads(r.read())
        print("generate %d services x %d backends: %.2f s (%d objects added)" % (
            args.services, args.backends, time.monotonic() - t, out["added"]))
        for path in ("/api/v1/services", "/apis/discovery.k8s.io/v1/endpointslices"):
            conn = http.client.HTTPConnection("127.0.0.1", port)
            t, cont, items, pages, size, parse = time.monotonic(), "", 0, 0, 0, 0.0
            while True:
                conn.request("GET", "%s?limit=%d%s" % (path, args.limit, "&continue=" + cont if cont else ""))
                body = conn.getresponse().read()
                size += len(body)
                t2 = time.monotonic()
                doc = json.loads(body)
                parse += time.monotonic() - t2
                items += len(doc["items"])
                pages += 1
                cont = doc["metadata"].get("continue")
                if not cont:
                    break
            total = time.monotonic() - t
            print("list %s: %d items in %d pages, %.0f MB, %.2f s (%.2f s of it json.loads in the client)" % (
                path, items, pages, size / 1e6, total, parse))
        with open("/proc/%d/status" % proc.pid) as f:
            hwm = next(line.split()[1] for line in f if line.startswith("VmHWM"))
        print("fake peak RSS: %.0f MiB" % (int(hwm) / 1024))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
