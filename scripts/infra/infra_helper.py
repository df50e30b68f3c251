#!/usr/bin/env python3
"""Dependency-free helpers for scripts/infra (Python 3.11 standard library only).

Why stdlib and not boto3/aws CLI: these scripts must run on a fresh CI machine
before `npm install` has happened and without any extra PyPI install step, so
the bucket creation and the S3 readiness check use a small, self-contained
AWS Signature V4 implementation (s3proxy verifies every signature, so a wrong
signature fails loudly). The Kafka readiness probe speaks the Kafka wire
protocol (ApiVersions + Metadata) directly instead of only checking the port.

Sub-commands:
  gen-secret pg-password|kafka-password|s3-access-key|s3-secret-key
  urlquote STRING
  kafka-cluster-id
  kafka-ready HOST PORT [--sasl USER PASSWORD_FILE]
                                   exit 0 when the broker answers ApiVersions and Metadata
  kafka-warm HOST PORT TIMEOUT [--sasl USER PASSWORD_FILE]
                                   FindCoordinator (group + transaction) until both answer
  kafka-anon-refused HOST PORT     exit 0 when the broker refuses Metadata without SASL
  (--sasl: SASL/SCRAM-SHA-512 first; the password is read from the file, never from argv)
  s3 ENDPOINT REGION AK SK mkbucket BUCKET
  s3 ENDPOINT REGION AK SK put BUCKET KEY FILE|-
  s3 ENDPOINT REGION AK SK get BUCKET KEY          (body to stdout)
  s3 ENDPOINT REGION AK SK rm BUCKET KEY
  s3 ENDPOINT REGION AK SK ls [BUCKET]
"""
import base64
import datetime
import hashlib
import hmac
import secrets
import socket
import string
import struct
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid


def gen_secret(kind: str) -> str:
    if kind in ("pg-password", "kafka-password"):
        alphabet = string.ascii_letters + string.digits
        return "".join(secrets.choice(alphabet) for _ in range(32))
    if kind == "s3-access-key":
        alphabet = string.ascii_uppercase + string.digits
        return "IMTEST" + "".join(secrets.choice(alphabet) for _ in range(14))
    if kind == "s3-secret-key":
        return secrets.token_hex(20)
    raise SystemExit(f"unknown secret kind {kind}")


def kafka_cluster_id() -> str:
    # Same format as `kafka-storage.sh random-uuid`: url-safe base64, no padding,
    # never starting with '-' (that would read as a CLI flag).
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


# ---------------------------------------------------------------- Kafka probe
def _kafka_request(sock, api_key, api_version, corr, body=b""):
    client_id = b"im-infra-probe"
    header = struct.pack(">hhih", api_key, api_version, corr, len(client_id)) + client_id
    msg = header + body
    sock.sendall(struct.pack(">i", len(msg)) + msg)
    size = struct.unpack(">i", _recv_exact(sock, 4))[0]
    data = _recv_exact(sock, size)
    if struct.unpack(">i", data[:4])[0] != corr:
        raise RuntimeError("correlation id mismatch")
    return data[4:]


def _recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise RuntimeError("connection closed")
        buf += chunk
    return buf


def _kafka_sasl_response(resp):
    """SaslAuthenticate v0 response: error_code, nullable error_message, auth_bytes."""
    err = struct.unpack(">h", resp[:2])[0]
    n = struct.unpack(">h", resp[2:4])[0]
    pos = 4 + max(n, 0)
    if err != 0:
        msg = resp[4:pos].decode(errors="replace") if n > 0 else ""
        raise RuntimeError(f"SASL authentication failed (error {err}): {msg}")
    size = struct.unpack(">i", resp[pos:pos + 4])[0]
    return resp[pos + 4:pos + 4 + size]


def kafka_scram_login(sock, user: str, password: str, corr: int = 100) -> None:
    """SASL/SCRAM-SHA-512 (RFC 5802) over SaslHandshake v1 + SaslAuthenticate v0."""
    mech = b"SCRAM-SHA-512"
    resp = _kafka_request(sock, 17, 1, corr, struct.pack(">h", len(mech)) + mech)
    if struct.unpack(">h", resp[:2])[0] != 0:
        raise RuntimeError(f"the broker does not offer {mech.decode()}")
    name = user.replace("=", "=3D").replace(",", "=2C")
    nonce = base64.b64encode(secrets.token_bytes(24)).decode()
    client_first_bare = f"n={name},r={nonce}"
    msg = ("n,," + client_first_bare).encode()
    server_first = _kafka_sasl_response(
        _kafka_request(sock, 36, 0, corr + 1, struct.pack(">i", len(msg)) + msg)).decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    if not attrs["r"].startswith(nonce):
        raise RuntimeError("SCRAM: server nonce does not extend ours")
    salted = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha512).digest()
    stored_key = hashlib.sha512(client_key).digest()
    without_proof = f"c=biws,r={attrs['r']}"
    auth_message = f"{client_first_bare},{server_first},{without_proof}".encode()
    signature = hmac.new(stored_key, auth_message, hashlib.sha512).digest()
    proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature))).decode()
    msg = f"{without_proof},p={proof}".encode()
    server_final = _kafka_sasl_response(
        _kafka_request(sock, 36, 0, corr + 2, struct.pack(">i", len(msg)) + msg)).decode()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha512).digest()
    expected = base64.b64encode(hmac.new(server_key, auth_message, hashlib.sha512).digest()).decode()
    if server_final != f"v={expected}":
        raise RuntimeError("SCRAM: the broker's signature does not match")


def _connect(host, port, sasl):
    s = socket.create_connection((host, port), timeout=3)
    s.settimeout(3)
    if sasl:
        try:
            kafka_scram_login(s, *sasl)
        except BaseException:
            s.close()
            raise
    return s


def kafka_anon_refused(host: str, port: int) -> int:
    """Metadata without authenticating: a SASL listener closes the connection."""
    try:
        with socket.create_connection((host, port), timeout=3) as s:
            s.settimeout(3)
            _kafka_request(s, 3, 1, 2, struct.pack(">i", -1))
    except (OSError, RuntimeError, struct.error):
        return 0
    print("the broker answered Metadata without authentication", file=sys.stderr)
    return 1


def kafka_ready(host: str, port: int, sasl=None) -> int:
    try:
        with _connect(host, port, sasl) as s:
            # ApiVersions v0: error_code int16 first.
            resp = _kafka_request(s, 18, 0, 1)
            err = struct.unpack(">h", resp[:2])[0]
            if err != 0:
                print(f"ApiVersions error {err}", file=sys.stderr)
                return 1
            # Metadata v1 with null topic array: brokers must be registered.
            resp = _kafka_request(s, 3, 1, 2, struct.pack(">i", -1))
            nbrokers = struct.unpack(">i", resp[:4])[0]
            if nbrokers < 1:
                print("Metadata: no brokers yet", file=sys.stderr)
                return 1
            return 0
    except (OSError, RuntimeError, struct.error, KeyError, ValueError) as e:
        print(f"kafka not ready: {e}", file=sys.stderr)
        return 1


def kafka_warm(host: str, port: int, timeout: float, sasl=None) -> int:
    """FindCoordinator v1 for a group and a transactional id: makes the broker
    create __consumer_offsets and __transaction_state, then waits for them."""
    import time
    deadline = time.monotonic() + timeout
    pending = {0: b"im-infra-warmup", 1: b"im-infra-warmup-tx"}
    corr = 10
    while pending and time.monotonic() < deadline:
        try:
            with _connect(host, port, sasl) as s:
                for key_type, key in list(pending.items()):
                    corr += 1
                    body = struct.pack(">h", len(key)) + key + struct.pack(">b", key_type)
                    resp = _kafka_request(s, 10, 1, corr, body)
                    err = struct.unpack(">h", resp[4:6])[0]  # after throttle_time_ms
                    if err == 0:
                        del pending[key_type]
        except (OSError, RuntimeError, struct.error, KeyError, ValueError):
            pass
        if pending:
            time.sleep(0.2)
    if pending:
        print(f"coordinators not ready: key types {sorted(pending)}", file=sys.stderr)
        return 1
    return 0


# ------------------------------------------------------------------ S3 SigV4
def _sign(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def s3_request(endpoint, region, ak, sk, method, path, query=None, body=b"", headers=None):
    u = urllib.parse.urlsplit(endpoint)
    host = u.netloc
    query = query or {}
    headers = dict(headers or {})
    if body:
        # Without it urllib sends application/x-www-form-urlencoded and the
        # server (Jetty) consumes the body as form fields.
        headers.setdefault("content-type", "application/octet-stream")
    t = datetime.datetime.now(datetime.timezone.utc)
    amz_date = t.strftime("%Y%m%dT%H%M%SZ")
    date = t.strftime("%Y%m%d")
    payload_hash = hashlib.sha256(body).hexdigest()
    canonical_uri = urllib.parse.quote(path, safe="/-_.~")
    canonical_query = "&".join(
        f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
        for k, v in sorted(query.items())
    )
    headers.update({"host": host, "x-amz-date": amz_date, "x-amz-content-sha256": payload_hash})
    lower = {k.lower(): str(v).strip() for k, v in headers.items()}
    signed_headers = ";".join(sorted(lower))
    canonical_headers = "".join(f"{k}:{lower[k]}\n" for k in sorted(lower))
    canonical_request = "\n".join(
        [method, canonical_uri, canonical_query, canonical_headers, signed_headers, payload_hash]
    )
    scope = f"{date}/{region}/s3/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    k = _sign(("AWS4" + sk).encode(), date)
    k = _sign(k, region)
    k = _sign(k, "s3")
    k = _sign(k, "aws4_request")
    signature = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    lower["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={ak}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"
    )
    lower.pop("host")
    url = f"{u.scheme}://{host}{canonical_uri}" + (f"?{canonical_query}" if canonical_query else "")
    req = urllib.request.Request(url, data=body if body or method in ("PUT", "POST") else None,
                                 method=method, headers=lower)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def s3_main(argv):
    endpoint, region, ak, sk, cmd, *rest = argv
    if cmd == "mkbucket":
        (bucket,) = rest
        st, body = s3_request(endpoint, region, ak, sk, "PUT", f"/{bucket}")
        if st == 200 or (st == 409 and b"BucketAlreadyOwnedByYou" in body):
            return 0
        sys.stderr.write(f"PUT bucket {bucket}: HTTP {st}\n{body.decode(errors='replace')}\n")
        return 1
    if cmd == "put":
        bucket, key, src = rest
        data = sys.stdin.buffer.read() if src == "-" else open(src, "rb").read()
        st, body = s3_request(endpoint, region, ak, sk, "PUT", f"/{bucket}/{key}", body=data)
    elif cmd == "get":
        bucket, key = rest
        st, body = s3_request(endpoint, region, ak, sk, "GET", f"/{bucket}/{key}")
        if st == 200:
            sys.stdout.buffer.write(body)
            return 0
    elif cmd == "rm":
        bucket, key = rest
        st, body = s3_request(endpoint, region, ak, sk, "DELETE", f"/{bucket}/{key}")
        if st == 204:
            return 0
    elif cmd == "ls":
        path = f"/{rest[0]}" if rest else "/"
        st, body = s3_request(endpoint, region, ak, sk, "GET", path)
        if st == 200:
            sys.stdout.write(body.decode() + "\n")
            return 0
    else:
        raise SystemExit(f"unknown s3 command {cmd}")
    if st == 200:
        return 0
    sys.stderr.write(f"{cmd}: HTTP {st}\n{body.decode(errors='replace')}\n")
    return 1


def main(argv):
    if not argv:
        print(__doc__)
        return 2
    cmd, *rest = argv
    if cmd == "gen-secret":
        print(gen_secret(rest[0]), end="")
        return 0
    if cmd == "urlquote":
        print(urllib.parse.quote(rest[0], safe=""), end="")
        return 0
    if cmd == "kafka-cluster-id":
        print(kafka_cluster_id())
        return 0
    sasl = None
    if "--sasl" in rest:
        i = rest.index("--sasl")
        user, password_file = rest[i + 1:i + 3]
        with open(password_file, encoding="utf8") as f:
            sasl = (user, f.read().strip())
        rest = rest[:i] + rest[i + 3:]
    if cmd == "kafka-ready":
        return kafka_ready(rest[0], int(rest[1]), sasl)
    if cmd == "kafka-warm":
        return kafka_warm(rest[0], int(rest[1]), float(rest[2]), sasl)
    if cmd == "kafka-anon-refused":
        return kafka_anon_refused(rest[0], int(rest[1]))
    if cmd == "s3":
        return s3_main(rest)
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
