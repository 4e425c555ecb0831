"""How a client connects, shared by the paho-style client (``ferromqtt.client``), the asyncio
client (``ferromqtt.aio``) and the CLI: TLS settings as the Rust core takes them, proxies
in paho's ``proxy_set`` form, and the DNS SRV lookup of ``connect_srv``.

TLS runs in Rust (rustls). Python's ``ssl`` module still checks the files a user gives, so
a missing file or a bad key raises the exception paho raises; the rest (versions, cipher
names, encrypted keys) is checked by the core when the settings are made.
"""

from __future__ import annotations

import os
import ssl
import tempfile
import urllib.parse
import urllib.request
from typing import Any

from ferromqtt import _core

# PySocks' constants (socks.SOCKS4, socks.SOCKS5, socks.HTTP), which paho's proxy_set takes;
# PySocks itself is not needed.
PROXY_SOCKS4 = 1
PROXY_SOCKS5 = 2
PROXY_HTTP = 3
_PROXY_DEFAULT_PORTS = {PROXY_SOCKS4: 1080, PROXY_SOCKS5: 1080, PROXY_HTTP: 8080}

# The core's TLS version codes.
_TLS_12_AND_13 = 0
_TLS_12_ONLY = 1
_TLS_13_ONLY = 2

_OLD_PROTOCOLS = {
    getattr(ssl, name)
    for name in ("PROTOCOL_TLSv1", "PROTOCOL_TLSv1_1", "PROTOCOL_SSLv3", "PROTOCOL_SSLv2")
    if hasattr(ssl, name)
}
_OLD_VERSIONS = {ssl.TLSVersion.SSLv3, ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1}


def tls_version_code(tls_version: Any) -> int:
    """The core's code for paho's ``tls_version`` (an ``ssl.PROTOCOL_*`` constant, or an
    ``ssl.TLSVersion``): TLS 1.2 and 1.3 for PROTOCOL_TLS_CLIENT / PROTOCOL_TLS (the
    default), one version for PROTOCOL_TLSv1_2, TLSVersion.TLSv1_2 or TLSv1_3."""
    if isinstance(tls_version, ssl.TLSVersion):
        if tls_version == ssl.TLSVersion.TLSv1_3:
            return _TLS_13_ONLY
        if tls_version == ssl.TLSVersion.TLSv1_2:
            return _TLS_12_ONLY
        if tls_version in (ssl.TLSVersion.MINIMUM_SUPPORTED, ssl.TLSVersion.MAXIMUM_SUPPORTED):
            return _TLS_12_AND_13
        if tls_version in _OLD_VERSIONS:
            raise ValueError(_old_version_message(tls_version))
    if tls_version is None or tls_version in (ssl.PROTOCOL_TLS_CLIENT, ssl.PROTOCOL_TLS):
        return _TLS_12_AND_13
    if tls_version == getattr(ssl, "PROTOCOL_TLSv1_2", None):
        return _TLS_12_ONLY
    if tls_version in _OLD_PROTOCOLS:
        raise ValueError(_old_version_message(tls_version))
    raise ValueError(
        f"tls_version {tls_version!r} is not supported: use ssl.PROTOCOL_TLS_CLIENT, "
        "ssl.PROTOCOL_TLSv1_2, ssl.TLSVersion.TLSv1_2 or ssl.TLSVersion.TLSv1_3"
    )


def _old_version_message(tls_version: Any) -> str:
    name = getattr(tls_version, "name", repr(tls_version))
    return f"tls_version {name} is not supported: ferromqtt's TLS (rustls) speaks TLS 1.2 and 1.3"


def _context_version_code(context: Any) -> int:
    """TLS versions an SSLContext allows: its minimum_version and maximum_version."""
    low = getattr(context, "minimum_version", ssl.TLSVersion.MINIMUM_SUPPORTED)
    high = getattr(context, "maximum_version", ssl.TLSVersion.MAXIMUM_SUPPORTED)
    if low == ssl.TLSVersion.TLSv1_3:
        return _TLS_13_ONLY
    if high == ssl.TLSVersion.TLSv1_2:
        return _TLS_12_ONLY
    if high in _OLD_VERSIONS:
        raise ValueError(_old_version_message(high))
    return _TLS_12_AND_13


class TlsConfig:
    """The TLS configuration of one client, built by paho's ``tls_set`` /
    ``tls_set_context`` / ``tls_insecure_set`` (or aiomqtt's ``tls_params``,
    ``tls_context``, ``tls_insecure``); ``arguments()`` gives the core's TLS tuple."""

    def __init__(self) -> None:
        self.context: Any = None
        self.insecure = False
        # (ca_certs, certfile, keyfile, alpn, version code, ciphers, keyfile_password) from
        # tls_set; None when configured by an SSLContext.
        self._files: tuple[Any, ...] | None = None
        self._ca_temp: str | None = None

    def set_context(self, context: Any = None) -> None:
        """An SSLContext (default: system CAs, host name check). Honoured: verify_mode,
        check_hostname, the CA certificates loaded into it, minimum_version and
        maximum_version; client certificates and cipher lists must go through set()."""
        if self.context is not None:
            raise ValueError("SSL/TLS has already been configured.")
        if context is None:
            context = ssl.create_default_context()
        self.context = context
        if hasattr(context, "check_hostname"):
            self.insecure = not context.check_hostname

    def set(
        self,
        ca_certs: str | None = None,
        certfile: str | None = None,
        keyfile: str | None = None,
        cert_reqs: Any = None,
        tls_version: Any = None,
        ciphers: str | None = None,
        keyfile_password: Any = None,
        alpn_protocols: list[str] | None = None,
    ) -> None:
        """paho's ``tls_set``: the files are checked here by Python's ssl module, the TLS
        version, cipher names and key password by the core."""
        version = tls_version_code(tls_version)
        password = keyfile_password() if callable(keyfile_password) else keyfile_password
        if isinstance(password, (bytes, bytearray)):
            password = bytes(password).decode("utf-8")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if certfile is not None:
            context.load_cert_chain(certfile, keyfile, password)
        if cert_reqs == ssl.CERT_NONE:
            context.check_hostname = False
        context.verify_mode = ssl.CERT_REQUIRED if cert_reqs is None else cert_reqs
        if ca_certs is not None:
            context.load_verify_locations(ca_certs)
        else:
            context.load_default_certs()
        if alpn_protocols is not None:
            context.set_alpn_protocols(alpn_protocols)
        files = (
            ca_certs,
            certfile,
            keyfile or certfile,
            list(alpn_protocols or []),
            version,
            ciphers,
            password,
        )
        if ciphers is not None or password is not None:
            # Cipher names and the key's encryption are rustls' business: check them now,
            # with a ValueError naming what is wrong, rather than at connect time.
            try:
                _core.check_tls(self._tuple(files, 0, context))
            except ssl.SSLError as e:
                raise ValueError(str(e.args[-1] if e.args else e)) from None
        self.set_context(context)
        self._files = files
        self.set_insecure(cert_reqs == ssl.CERT_NONE)

    def set_insecure(self, value: bool) -> None:
        """Skip the check of the server's host name (the certificate chain still is)."""
        if self.context is None:
            raise ValueError("Must configure SSL context before using tls_insecure_set.")
        self.insecure = value
        if hasattr(self.context, "check_hostname"):
            self.context.check_hostname = not value

    @property
    def configured(self) -> bool:
        return self.context is not None

    def arguments(self) -> tuple[Any, ...] | None:
        """The core's TLS tuple (see ``ClientCore.connect``), None without TLS."""
        context = self.context
        if context is None:
            return None
        if context.verify_mode == ssl.CERT_NONE:
            verification = 2
        elif self.insecure or not context.check_hostname:
            verification = 1
        else:
            verification = 0
        if self._files is not None:
            return self._tuple(self._files, verification, context)
        return (
            self._context_ca_file(context),
            None,
            None,
            verification,
            _context_version_code(context),
            [],
            None,
            None,
        )

    @staticmethod
    def _tuple(files: tuple[Any, ...], verification: int, context: Any) -> tuple[Any, ...]:
        ca_certs, certfile, keyfile, alpn, version, ciphers, password = files
        if version == _TLS_12_AND_13 and context.minimum_version == ssl.TLSVersion.TLSv1_3:
            version = _TLS_13_ONLY
        return (ca_certs, certfile, keyfile, verification, version, alpn, ciphers, password)

    def _context_ca_file(self, context: Any) -> str | None:
        """The CA certificates loaded into `context`, as a PEM file (None: system CAs)."""
        certificates = context.get_ca_certs(binary_form=True)
        if not certificates:
            return None
        if self._ca_temp is None:
            with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as f:
                f.write("".join(ssl.DER_cert_to_PEM_cert(der) for der in certificates))
            self._ca_temp = f.name
        return self._ca_temp

    def __del__(self) -> None:
        self.close()

    def close(self) -> None:
        """Removes the temporary CA file, if one was written."""
        if self._ca_temp is not None:
            try:
                os.unlink(self._ca_temp)
            except OSError:
                pass
            self._ca_temp = None


# ---- WebSocket ---------------------------------------------------------------------------
def websocket_headers(headers: Any, host: str, port: int) -> list[tuple[str, str]]:
    """paho's ``ws_set_options(headers=...)``: a dict of extra headers, or a callable that
    gets the handshake headers paho would send and returns the ones to use (the
    handshake's own key, version and upgrade are always set by the transport)."""
    if headers is None:
        return []
    if isinstance(headers, dict):
        return [(str(k), str(v)) for k, v in headers.items()]
    base = {
        "Host": f"{host}:{port}",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Origin": f"https://{host}:{port}",
        "Sec-WebSocket-Protocol": "mqtt",
        "Sec-Websocket-Version": "13",
    }
    result = headers(dict(base))
    return [(str(k), str(v)) for k, v in result.items() if base.get(k) != v]


# ---- proxies ---------------------------------------------------------------------------
def proxy_is_valid(proxy: Any) -> bool:
    """paho's check: a proxy type it knows and a proxy address."""
    if isinstance(proxy, dict):
        kind, address = proxy.get("proxy_type"), proxy.get("proxy_addr")
    elif isinstance(proxy, (list, tuple)) and len(proxy) == 6:
        kind, address = proxy[0], proxy[1]
    else:
        return False
    return kind in _PROXY_DEFAULT_PORTS and bool(address)


def proxy_arguments(proxy: dict[str, Any] | None) -> tuple[Any, ...] | None:
    """The core's proxy tuple for paho's ``proxy_set`` keywords (PySocks' defaults: port
    1080 for SOCKS, 8080 for HTTP; remote DNS on)."""
    if proxy is None:
        return None
    kind = int(proxy["proxy_type"])
    port = proxy.get("proxy_port") or _PROXY_DEFAULT_PORTS[kind]
    rdns = proxy.get("proxy_rdns")
    return (
        kind,
        str(proxy["proxy_addr"]),
        int(port),
        True if rdns is None else bool(rdns),
        _text(proxy.get("proxy_username")),
        _text(proxy.get("proxy_password")),
    )


def _text(value: Any) -> str | None:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8")
    return None if value is None else str(value)


def environment_proxy(host: str) -> dict[str, Any] | None:
    """The ``mqtt_proxy`` environment variable (``http://`` or ``socks://`` URL) unless
    ``no_proxy`` lists `host`, as paho reads it."""
    if hasattr(urllib.request, "proxy_bypass") and urllib.request.proxy_bypass(host):
        return None
    url = urllib.request.getproxies().get("mqtt")
    if url is None:
        return None
    parts = urllib.parse.urlparse(url)
    kinds = {"http": PROXY_HTTP, "socks": PROXY_SOCKS5}
    if parts.scheme not in kinds:
        return None
    return {
        "proxy_type": kinds[parts.scheme],
        "proxy_addr": parts.hostname,
        "proxy_port": parts.port,
    }


def proxy_from_url(url: str) -> dict[str, Any]:
    """mosquitto_pub's ``--proxy`` URL (``socks5h://user:password@host:port``) as
    ``proxy_set`` keywords. Raises ValueError for a bad URL."""
    kind, host, port, rdns, username, password = _core.parse_proxy_url(url)
    return {
        "proxy_type": kind,
        "proxy_addr": host,
        "proxy_port": port,
        "proxy_rdns": rdns,
        "proxy_username": username,
        "proxy_password": password,
    }


# ---- DNS SRV -----------------------------------------------------------------------------
def srv_targets(domain: str, secure: bool) -> list[tuple[str, int]]:
    """(host, port) of the ``_mqtt._tcp.<domain>`` SRV records (``_secure-mqtt`` with TLS),
    in the order DNS gave them, through dnspython as paho does. ValueError when dnspython
    is missing or nothing answers."""
    try:
        import dns.rdatatype
        import dns.resolver
    except ImportError:
        raise ValueError('No DNS resolver library found, try "pip install dnspython".') from None
    name = f"_secure-mqtt._tcp.{domain}" if secure else f"_mqtt._tcp.{domain}"
    resolve = getattr(dns.resolver, "resolve", None) or dns.resolver.query
    try:
        answers = resolve(name, dns.rdatatype.SRV)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.resolver.NoNameservers) as err:
        raise ValueError(f"No answer/NXDOMAIN for SRV in {domain}") from err
    return [(answer.target.to_text()[:-1], int(answer.port)) for answer in answers]
