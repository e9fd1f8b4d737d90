"""Checking authsign domain signatures (Browsertrix): a P-256 DER signature by a key certified for
a domain by Let's Encrypt, plus an RFC 3161 time stamp.

Everything is judged at the signature's own `created` time, never at "now": the certificates in
such bundles expire after 90 days, and archives are meant to be old. Python 3.9-safe; without
`cryptography` the signature and the certificate dates are still checked (with `ecdsa` and the
small DER reader), the chain and the time stamp's own signature are then reported as unchecked.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import hashlib
import re
from typing import Any, Dict, List, Tuple

from mirrorkit.errors import SignatureError
from mirrorkit.trust import der as _der
from mirrorkit.trust.signing import (
    SignerInfo,
    _use_cryptography,
    backend_name,
    check_signature,
    fingerprint,
    parse_time,
)

# SubjectPublicKeyInfo of Let's Encrypt's roots (ISRG Root X1, RSA; ISRG Root X2, P-384), taken
# from the system CA store: a domain certificate chain must lead to one of these keys.
_ISRG_ROOTS = {
    "ISRG Root X1": (
        "MIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEAregkc/QUN/ObnitXKByHvty33ziQjG485legePd1wqL+"
        "9Wpu9gBPKNveaIZsRJO2sWP9FBJrvx/S6jGbIX7RMzy6SPXded+zuP8S8SGaS8GKhnFpSmZmbI9+PHC/rSkiBvPk"
        "wOaAruJLj7eZfpQDn9NHl3yZSCNT6DiuTwpvgy7RSVeMgHS22i/QOI17A3AhG3XyMDz6j67d2mOr6xZPwo4RS37P"
        "C+j/tXcu9LJ7SuBMEiUMcI0DKaDhUyTsE9nuGb8Qs0qMP4mjYVHerIcHlPRjcewu4m9bmIHhiVw0eWx27zuQYnnm"
        "26SaLybF0BDhDt7ZEI4W+7f3qPfH5QIHmI82CJXn4jeWDTZ1nvsOcrEdm7wD+UkF2IHdBbQq1kHprAF2lQoP2N/V"
        "vRIfNS8oF2zSmMGoCWR3bkc3us6sWV5onX9y1onFBkEpPlk+3Sb1JMkRp1qjTEAfRqGZtac6UW6GO559cqcSBXhZ"
        "7T5ReBULA4+N0C8Fsj57ShxLcwUS/Mbq4FATfEOTdLPKdOeOHwEI0DDUW3E2tAe6wTAwXEi3gjuYpn1giqKjKYLM"
        "ur2DBBuigwNBodYF8RvCtvCofIY7RqhIKojcdpp2vx9qpT0Zj+s482TeyCsNCij/99viFULUItAnXeF5/hjncIit"
        "TubZizrG3SdRbv+8ZPUzQ08CAwEAAQ=="
    ),
    "ISRG Root X2": (
        "MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEzZvVn4CDCuwJSvMWSj5cz3es3mcFDR0HttwW+1qLFNvicWDEukWVEYmO"
        "6gbf9yoWHKS5xcUy4APgHoIYOIvXRdgKam7mAHf7AlF9ItgKbppbd9/w+kHsOdx1ymgHDB/q"
    ),
}
# authsign's own rules: the time stamp within 10 minutes of `created`, the domain certificate
# issued at most 7 days before it.
STAMP_WINDOW = _dt.timedelta(minutes=10)
CERT_MAX_AGE = _dt.timedelta(days=7)
_PEM_RE = re.compile(r"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.S)
_OID_SHA256 = "2.16.840.1.101.3.4.2.1"
_HASHES = {
    "1.3.14.3.2.26": "sha1", _OID_SHA256: "sha256", "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}


def pem_certificates(text: Any, what: str) -> List[bytes]:
    """The DER certificates of a PEM chain; raises SignatureError."""
    if not isinstance(text, str) or len(text) > 200_000:
        raise SignatureError(f"signedData.{what} is missing or not text")
    blocks = _PEM_RE.findall(text)
    if not blocks or len(blocks) > 10:
        raise SignatureError(f"signedData.{what} holds no PEM certificate")
    try:
        return [base64.b64decode("".join(b.split()), validate=True) for b in blocks]
    except (binascii.Error, ValueError):
        raise SignatureError(f"signedData.{what} holds a damaged certificate") from None


def _iso(value: _dt.datetime) -> str:
    return value.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _certificate_facts(chain: List[bytes], domain: str, created: _dt.datetime,
                       notes: List[str]) -> Tuple[bytes, Dict[str, Any]]:
    """(leaf SPKI DER, facts) for a domain certificate chain; raises SignatureError."""
    not_before, not_after, spki = _der.cert_parts(chain[0])
    facts: Dict[str, Any] = {
        "notBefore": _iso(not_before), "notAfter": _iso(not_after),
        "validAtCreated": not_before <= created <= not_after,
        "expiredNow": _dt.datetime.now(_dt.timezone.utc) > not_after,
        "issuedDaysBeforeCreated": round((created - not_before).total_seconds() / 86400, 2),
    }
    if not facts["validAtCreated"]:
        raise SignatureError(
            f"the domain certificate was not valid when the bundle was signed "
            f"({_iso(created)} is outside {facts['notBefore']} .. {facts['notAfter']})")
    if created - not_before > CERT_MAX_AGE:
        notes.append("the certificate was issued more than 7 days before signing "
                     "(authsign itself would refuse it)")
    if facts["expiredNow"]:
        notes.append(f"the domain certificate expired on {facts['notAfter']}; it was judged at "
                     f"the signing time {_iso(created)}, when it was valid")
    if not _use_cryptography():
        facts["chain"] = "not checked (the 'cryptography' package is not installed)"
        notes.append("certificate chain and domain name not checked: 'cryptography' is missing")
        return spki, facts
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        certs = [x509.load_der_x509_certificate(der) for der in chain]
    except ValueError as err:
        raise SignatureError(f"a domain certificate is unreadable ({err})") from None
    leaf = certs[0]
    facts["subject"] = leaf.subject.rfc4514_string()
    facts["issuer"] = leaf.issuer.rfc4514_string()
    try:
        names = leaf.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    facts["dnsNames"] = names
    if domain.lower() not in [n.lower() for n in names]:
        raise SignatureError(f"the certificate is not for the claimed domain {domain!r} "
                             f"(it names {', '.join(names) or 'no domain'})")
    facts["chain"] = _check_chain(certs, serialization)
    return spki, facts


def _check_chain(certs: List[Any], serialization: Any) -> str:
    """Check each link and that the chain reaches Let's Encrypt's root; raises SignatureError."""
    roots = {base64.b64decode(v): k for k, v in _ISRG_ROOTS.items()}
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    for i, cert in enumerate(certs):
        if i > 0:
            spki = cert.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            if spki in roots:
                return f"verified up to {roots[spki]} (Let's Encrypt)"
        issuer = certs[i + 1] if i + 1 < len(certs) else None
        if issuer is None:
            # The chain stops short of a root: try the pinned root keys directly.
            for der, name in roots.items():
                try:
                    _verify_cert_signature(cert, load_der_public_key(der))
                    return f"verified up to {name} (Let's Encrypt)"
                except SignatureError:
                    continue
            break
        try:
            cert.verify_directly_issued_by(issuer)
        except Exception as err:  # ValueError, TypeError, InvalidSignature
            raise SignatureError(f"the domain certificate chain is broken at "
                                 f"{cert.subject.rfc4514_string()} ({type(err).__name__})"
                                 ) from None
    raise SignatureError(
        "the domain certificate does not chain to Let's Encrypt's root (ISRG Root X1/X2); "
        f"its issuer is {certs[-1].issuer.rfc4514_string()}",
        hint="a staging or self-made certificate authority proves nothing about the domain")


def _verify_cert_signature(cert: Any, public_key: Any) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                              cert.signature_hash_algorithm)
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(cert.signature, cert.tbs_certificate_bytes,
                              ec.ECDSA(cert.signature_hash_algorithm))
        else:
            raise SignatureError("unsupported root key type")
    except SignatureError:
        raise
    except Exception:
        raise SignatureError("certificate signature does not verify") from None


def _timestamp_facts(signed_data: Dict[str, Any], created: _dt.datetime,
                     notes: List[str]) -> Dict[str, Any]:
    """Facts about the RFC 3161 time stamp over the signature; raises SignatureError."""
    raw = signed_data.get("timeSignature")
    if raw is None:
        notes.append("no RFC 3161 time stamp")
        return {"present": False}
    if not isinstance(raw, str):
        raise SignatureError("signedData.timeSignature is not text")
    try:
        resp = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("signedData.timeSignature is not valid base64") from None
    parts = _der.children(_der.expect(resp, _der.SEQUENCE))
    token = parts[1][2] if len(parts) > 1 else resp  # a TimeStampResp or a bare token
    content = _der.children(_der.expect(token, _der.SEQUENCE))
    if len(content) != 2 or content[1][0] != 0xA0:
        raise SignatureError("the time stamp is not a CMS SignedData token")
    signed = _der.children(_der.expect(content[1][1], _der.SEQUENCE))
    if len(signed) < 4 or signed[2][0] != _der.SEQUENCE:
        raise SignatureError("the time stamp token is malformed")
    encap = _der.children(signed[2][1])
    if len(encap) != 2 or encap[1][0] != 0xA0:
        raise SignatureError("the time stamp token carries no TSTInfo")
    tst_der = _der.expect(encap[1][1], _der.OCTET_STRING)
    tst = _der.children(_der.expect(tst_der, _der.SEQUENCE))
    if len(tst) < 5 or tst[2][0] != _der.SEQUENCE:
        raise SignatureError("the time stamp's TSTInfo is malformed")
    imprint = _der.children(tst[2][1])
    alg = _der.decode_oid(_der.expect(_der.children(imprint[0][1])[0][2], _der.OID))
    hashed = _der.expect(imprint[1][2], _der.OCTET_STRING)
    gen_time = _der.decode_time(tst[4][0], tst[4][1])
    name = _HASHES.get(alg)
    if name is None:
        raise SignatureError(f"the time stamp uses an unknown hash ({alg})")
    signature_text = str(signed_data.get("signature", "")).encode("ascii", "replace")
    if hashlib.new(name, signature_text).digest() != hashed:
        raise SignatureError("the time stamp is not over this signature")
    delta = abs((gen_time - created).total_seconds())
    facts: Dict[str, Any] = {
        "present": True, "genTime": _iso(gen_time), "secondsFromCreated": round(delta, 1),
        "withinWindow": delta <= STAMP_WINDOW.total_seconds(),
    }
    if not facts["withinWindow"]:
        raise SignatureError(f"the time stamp ({facts['genTime']}) is more than 10 minutes "
                             f"away from the signing time ({_iso(created)})")
    facts["tsaSignature"] = _check_tsa_signature(signed, tst_der, signed_data, notes)
    return facts


def _check_tsa_signature(signed: List[Tuple[int, bytes, bytes]], tst_der: bytes,
                         signed_data: Dict[str, Any], notes: List[str]) -> str:
    """Check the time stamp authority's CMS signature; raises SignatureError."""
    if not _use_cryptography():
        notes.append("the time stamp authority's signature was not checked ('cryptography' "
                     "is missing)")
        return "not checked"
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    certs = pem_certificates(signed_data.get("timestampCert"), "timestampCert")
    tsa = x509.load_der_x509_certificate(certs[0])
    signer_infos = _der.children(signed[-1][1]) if signed[-1][0] == _der.SET else []
    if len(signer_infos) != 1:
        raise SignatureError("the time stamp token has no single signer")
    info = _der.children(signer_infos[0][1])
    attrs = next((c for c in info if c[0] == 0xA0), None)
    if attrs is None or info[-1][0] != _der.OCTET_STRING:
        raise SignatureError("the time stamp token has no signed attributes")
    digest_alg = _der.decode_oid(_der.expect(_der.children(info[2][1])[0][2], _der.OID))
    name = _HASHES.get(digest_alg)
    if name is None:
        raise SignatureError(f"the time stamp uses an unknown hash ({digest_alg})")
    expected = hashlib.new(name, tst_der).digest()
    digests = [
        _der.children(a[1]) for a in _der.children(attrs[1])
        if _der.children(a[1])[0][2] == b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x09\x04"
    ]
    if not digests or _der.expect(_der.children(digests[0][1][1])[0][2],
                                  _der.OCTET_STRING) != expected:
        raise SignatureError("the time stamp's signed attributes do not match its content")
    to_verify = b"\x31" + attrs[2][1:]  # signed attributes are signed as a SET OF
    key = tsa.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        notes.append("time stamp authority key type not supported; its signature not checked")
        return "not checked"
    try:
        key.verify(info[-1][1], to_verify, padding.PKCS1v15(),
                   {"sha1": hashes.SHA1(), "sha256": hashes.SHA256(), "sha384": hashes.SHA384(),
                    "sha512": hashes.SHA512()}[name])
    except Exception:
        raise SignatureError("the time stamp authority's signature does not verify") from None
    notes.append("the time stamp authority (" + tsa.subject.rfc4514_string()[:80] + ") is not "
                 "checked against a list of trusted authorities")
    return "verified with timestampCert"


def verify_domain_signature(signed_data: Dict[str, Any], signature: bytes) -> SignerInfo:
    """Check an authsign domain signature at its own `created` time; raises SignatureError."""
    domain = signed_data.get("domain")
    if not isinstance(domain, str) or not domain or len(domain) > 255:
        raise SignatureError("signedData.domain is missing")
    created_text = str(signed_data.get("created"))
    created = parse_time(created_text)
    chain = pem_certificates(signed_data.get("domainCert"), "domainCert")
    notes: List[str] = []
    try:
        spki, cert_facts = _certificate_facts(chain, domain, created, notes)
    except SignatureError as err:
        if not isinstance(err, _der.DerError):
            raise
        raise SignatureError(f"the domain certificate is malformed ({err})") from None
    except Exception as err:
        # Hostile DER makes our walk and cryptography's lazy parsing raise IndexError,
        # KeyError, TypeError, ValueError...: all mean the same thing here.
        raise SignatureError(f"the domain certificate is malformed ({type(err).__name__})"
                             ) from None
    check_signature(spki, "P-256", str(signed_data["hash"]).encode("utf-8"), signature, raw=False)
    try:
        stamp = _timestamp_facts(signed_data, created, notes)
    except SignatureError as err:
        if not isinstance(err, _der.DerError):
            raise
        raise SignatureError(f"the time stamp is malformed ({err})") from None
    except Exception as err:  # as above
        raise SignatureError(f"the time stamp is malformed ({type(err).__name__})") from None
    software = signed_data.get("software")
    return SignerInfo(
        kind="domain", fingerprint=fingerprint(spki), public_key_der=spki, created=created_text,
        software=software if isinstance(software, str) else "", domain=domain,
        certificate=cert_facts, timestamp=stamp, notes=notes, backend=backend_name(),
    )
