"""TLS for the broker: a CA, the broker's server certificate and client certificates
(CN = gateway id, so Mosquitto's `use_identity_as_username true` makes the ACL apply to
the certificate). EC P-256 keys; private keys are written 0600.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from plantstream.errors import ConfigError
from plantstream.ops.broker import write_private

__all__ = ["create_ca", "issue_certificate", "read_ca", "write_pair"]


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "PlantStream"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def create_ca(*, common_name: str = "PlantStream CA", days: int = 3650,
              not_before: dt.datetime | None = None) -> tuple[bytes, bytes]:
    """A self-signed CA: `(certificate PEM, private key PEM)`."""
    key = ec.generate_private_key(ec.SECP256R1())
    start = not_before or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    cert = (x509.CertificateBuilder()
            .subject_name(_name(common_name)).issuer_name(_name(common_name))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def issue_certificate(*, ca_cert_pem: bytes, ca_key_pem: bytes, common_name: str,
                      purpose: Literal["server", "client"], alt_names: Iterable[str] = (),
                      days: int = 825, not_before: dt.datetime | None = None
                      ) -> tuple[bytes, bytes]:
    """A leaf certificate signed by the CA: `(certificate PEM, private key PEM)`.

    `alt_names` are DNS names or IP addresses (server certificates: the names clients
    dial). A client certificate's CN is its MQTT identity (the gateway id).
    """
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
    ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ConfigError(source="ca.key", key="<file>", reason="not an EC private key")
    key = ec.generate_private_key(ec.SECP256R1())
    start = not_before or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    usage = (ExtendedKeyUsageOID.SERVER_AUTH if purpose == "server"
             else ExtendedKeyUsageOID.CLIENT_AUTH)
    builder = (x509.CertificateBuilder()
               .subject_name(_name(common_name)).issuer_name(ca_cert.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(start + dt.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(
                   digital_signature=True, key_encipherment=False, key_cert_sign=False,
                   crl_sign=False, content_commitment=False, data_encipherment=False,
                   key_agreement=True, encipher_only=False, decipher_only=False),
                   critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                              critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   ca_key.public_key()), critical=False))
    names = [_general_name(n) for n in alt_names]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def write_pair(out_dir: Path, stem: str, pair: tuple[bytes, bytes]) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    cert_path = out_dir / f"{stem}.crt"
    cert_path.write_bytes(pair[0])
    write_private(out_dir / f"{stem}.key", pair[1])
    return cert_path


def read_ca(ca_dir: Path) -> tuple[bytes, bytes]:
    try:
        return (ca_dir / "ca.crt").read_bytes(), (ca_dir / "ca.key").read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(source=str(ca_dir), key="<file>",
                          reason=f"{exc.filename} missing; run `plantstream broker certs ca`"
                          ) from None
