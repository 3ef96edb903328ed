"""The emulator's own certificate authority and the server certificate it signs.

Two listeners speak https: `serve --tls` (boto3 only sends aws-chunked bodies with trailing
checksums over https) and the SDK listener (the SageMaker SDK builds its STS client with a hard-wired
`https://sts.<region>.amazonaws.com`, see emulator/sdk_setup.py). Clients trust both through
`AWS_CA_BUNDLE=<data-dir>/tls/ca-bundle.pem`: the emulator's CA followed by the public roots the
client would otherwise use, so pointing botocore at it breaks no other https connection.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT, CA_KEY = "ca.pem", "ca-key.pem"
SERVER_CERT, SERVER_KEY = "cert.pem", "key.pem"
CA_BUNDLE = "ca-bundle.pem"
_VALIDITY = dt.timedelta(days=3650)


def ensure_certificate(directory: Path) -> tuple[Path, Path]:
    """The server certificate and key (for localhost, 127.0.0.1 and ::1), signed by the emulator's CA;
    created once per data dir."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_cert, ca_key = _ensure_ca(directory)
    cert_path, key_path = directory / SERVER_CERT, directory / SERVER_KEY
    if cert_path.exists() and key_path.exists() and _issued_by(cert_path, ca_cert):
        _ensure_bundle(directory, ca_cert)
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    san = x509.SubjectAlternativeName([
        x509.DNSName("localhost"), x509.DNSName("*.localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.IPAddress(ipaddress.ip_address("::1")),
    ])
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + _VALIDITY)
            .add_extension(san, critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    _write(key_path, _key_pem(key), private=True)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    _ensure_bundle(directory, ca_cert)
    return cert_path, key_path


def ca_bundle_path(directory: Path) -> Path:
    return directory / CA_BUNDLE


def _ensure_ca(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert_path, key_path = directory / CA_CERT, directory / CA_KEY
    if cert_path.exists() and key_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        return x509.load_pem_x509_certificate(cert_path.read_bytes()), key  # type: ignore[return-value]
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "SageMaker Emulator"),
                      x509.NameAttribute(NameOID.COMMON_NAME, f"SageMaker Emulator local CA {os.urandom(4).hex()}")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + _VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    _write(key_path, _key_pem(key), private=True)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _issued_by(cert_path: Path, ca: x509.Certificate) -> bool:
    """False for a certificate of an older data dir (self-signed, before the CA existed)."""
    return x509.load_pem_x509_certificate(cert_path.read_bytes()).issuer == ca.subject


def _ensure_bundle(directory: Path, ca: x509.Certificate) -> None:
    from botocore.httpsession import get_cert_path  # the roots botocore trusts by default (certifi's)
    ours = ca.public_bytes(serialization.Encoding.PEM)
    bundle = ours + b"\n" + Path(get_cert_path(True)).read_bytes()
    path = directory / CA_BUNDLE
    if not path.exists() or path.read_bytes() != bundle:
        _write(path, bundle)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write(path: Path, data: bytes, private: bool = False) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    if private:
        tmp.chmod(0o600)
    tmp.replace(path)
