#!/usr/bin/env bash
# make_certs.sh OUTDIR: a throwaway CA, a server certificate for 127.0.0.1 /
# ::1 / localhost (subjectAltName), and a client certificate, for the fake API
# server's TLS tests. Needs the openssl CLI. Keys are P-256 (fast to make);
# everything is valid for 2 days.
#
#   ca.crt ca.key          the CA (signs both)
#   server.crt server.key  CN=fake-apiserver, SAN IP:127.0.0.1, IP:::1, DNS:localhost
#   client.crt client.key  CN=socklb-test-client, O=system:nodes (a client certificate)
set -euo pipefail
if [[ $# -ne 1 ]]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
out=$1
mkdir -p "$out"
cd "$out"
umask 077

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

key ca.key
openssl req -x509 -new -key ca.key -out ca.crt -days 2 -subj "/CN=fake-apiserver-test-ca" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -addext "subjectKeyIdentifier=hash"

sign() { # NAME SUBJECT EXTENSIONS
  key "$1.key"
  openssl req -new -key "$1.key" -out "$1.csr" -subj "$2"
  printf '%b\n' "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" -days 2 \
    -extfile "$1.ext" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}

common="basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid"
sign server "/CN=fake-apiserver" \
  "$common\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost"
sign client "/O=system:nodes/CN=socklb-test-client" "$common\nextendedKeyUsage=clientAuth"
rm -f ca.srl
chmod 644 ./*.crt
openssl verify -CAfile ca.crt server.crt client.crt >/dev/null
