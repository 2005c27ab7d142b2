"""Certificates for the local control plane (openssl CLI): CAs, serving certificates for
127.0.0.1/localhost, client certificates, like envtest's generated certs. Each is made once and
reused while it stays valid for more than a day; then it is made again (and the caller is told why)."""

from __future__ import annotations

import base64
import subprocess
from dataclasses import dataclass
from pathlib import Path

DAYS = 30
RENEW_BEFORE_SECONDS = 86400


@dataclass(frozen=True)
class KeyPair:
    cert: Path
    key: Path

    @property
    def pem_b64(self) -> str:
        """The certificate as a caBundle field wants it (base64 of the PEM)."""
        return base64.b64encode(self.cert.read_bytes()).decode()


def _openssl(directory: Path, *args: str) -> None:
    result = subprocess.run(["openssl", *args], cwd=directory, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args[:2])} failed: {result.stderr.strip()[-500:]}")


def valid(cert: Path, seconds: int = RENEW_BEFORE_SECONDS) -> bool:
    """True while CERT exists and does not expire within SECONDS."""
    if not cert.exists():
        return False
    return subprocess.run(["openssl", "x509", "-checkend", str(seconds), "-noout", "-in", str(cert)], capture_output=True).returncode == 0


def ca(directory: Path, name: str) -> KeyPair:
    directory.mkdir(parents=True, exist_ok=True)
    pair = KeyPair(directory / f"{name}.crt", directory / f"{name}.key")
    if not valid(pair.cert):
        _openssl(directory, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", pair.key.name, "-out", pair.cert.name,
                 "-days", str(DAYS), "-subj", f"/CN={name}")  # fmt: skip
    return pair


def signed(directory: Path, name: str, authority: KeyPair, subject: str, sans: tuple[str, ...] = (),
           client: bool = False, usage: str | None = None) -> KeyPair:  # fmt: skip
    """A certificate signed by AUTHORITY; made again when missing, expiring, or older than its CA.
    `usage` overrides the extended key usage (e.g. "serverAuth,clientAuth" for mutual TLS peers)."""
    pair = KeyPair(directory / f"{name}.crt", directory / f"{name}.key")
    if valid(pair.cert) and pair.cert.stat().st_mtime >= authority.cert.stat().st_mtime:
        return pair
    _openssl(directory, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", pair.key.name, "-out", f"{name}.csr", "-subj", subject)
    usage = usage or ("clientAuth" if client else "serverAuth")
    ext = [f"extendedKeyUsage={usage}"] + ([f"subjectAltName={','.join(sans)}"] if sans else [])
    (directory / f"{name}.ext").write_text("\n".join(ext) + "\n")
    _openssl(directory, "x509", "-req", "-in", f"{name}.csr", "-CA", authority.cert.name if authority.cert.parent == directory
             else str(authority.cert), "-CAkey", str(authority.key), "-CAcreateserial", "-out", pair.cert.name,
             "-days", str(DAYS), "-extfile", f"{name}.ext")  # fmt: skip
    return pair


LOCAL_SANS = ("IP:127.0.0.1", "DNS:localhost")


def serving_cert(directory: Path, name: str) -> tuple[KeyPair, KeyPair]:
    """(CA, serving pair) for a webhook server on 127.0.0.1; files ca.crt, tls.crt, tls.key as
    controller-runtime's webhook server expects them in its cert dir."""
    authority = ca(directory, "ca")
    return authority, signed(directory, "tls", authority, f"/CN={name}", LOCAL_SANS)
