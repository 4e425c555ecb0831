"""Transport settings of the asyncio client (``ferromqtt.aio``): ``TLSParameters`` and
``ProxySettings`` (aiomqtt's classes, public as ``ferromqtt.aio.*``) and the checks that turn
the ``Client`` constructor's TLS, proxy and WebSocket arguments into the shared
``_transport`` settings the Rust core takes, with the rules of ``ferromqtt.client``'s
``tls_set``, ``proxy_set`` and ``ws_set_options``.
"""

from __future__ import annotations

import dataclasses
import ssl
from typing import Any, Optional

from ferromqtt import _transport


@dataclasses.dataclass(frozen=True)
class TLSParameters:
    """TLS settings, as paho's ``tls_set`` arguments (aiomqtt's class)."""

    ca_certs: Optional[str] = None
    certfile: Optional[str] = None
    keyfile: Optional[str] = None
    cert_reqs: Optional[Any] = None
    tls_version: Optional[Any] = None
    ciphers: Optional[str] = None
    keyfile_password: Optional[str] = None


class ProxySettings:
    """A SOCKS or HTTP proxy, as paho's ``proxy_set`` keywords (aiomqtt's class):
    ``proxy_type`` is 1 (SOCKS4), 2 (SOCKS5) or 3 (HTTP), PySocks' constants."""

    def __init__(
        self,
        *,
        proxy_type: int,
        proxy_addr: str,
        proxy_rdns: Optional[bool] = True,
        proxy_username: Optional[str] = None,
        proxy_password: Optional[str] = None,
        proxy_port: Optional[int] = None,
    ) -> None:
        self.proxy_args = {
            "proxy_type": proxy_type,
            "proxy_addr": proxy_addr,
            "proxy_rdns": proxy_rdns,
            "proxy_username": proxy_username,
            "proxy_password": proxy_password,
            "proxy_port": proxy_port,
        }


# Public in ferromqtt.aio, which these classes name in reprs, pickles and documentation. Set
# here rather than in the class bodies: a dataclass looks its __module__ up in sys.modules.
for _public in (TLSParameters, ProxySettings):
    _public.__module__ = "ferromqtt.aio"
del _public


def tls_config(
    context: ssl.SSLContext | None,
    params: TLSParameters | None,
    insecure: bool | None,
) -> _transport.TlsConfig:
    """The TLS configuration for ``tls_context``, ``tls_params`` and ``tls_insecure``, in
    that order, as ``tls_set_context``, ``tls_set`` and ``tls_insecure_set`` would make it
    (so ``tls_params`` is applied, and its files checked, when the client is made)."""
    tls = _transport.TlsConfig()
    if context is not None:
        tls.set_context(context)
    if params is not None:
        tls.set(
            ca_certs=params.ca_certs,
            certfile=params.certfile,
            keyfile=params.keyfile,
            cert_reqs=params.cert_reqs,
            tls_version=params.tls_version,
            ciphers=params.ciphers,
            keyfile_password=params.keyfile_password,
        )
    if insecure is not None:
        tls.set_insecure(insecure)
    return tls


def proxy_arguments(proxy: ProxySettings | None) -> tuple[Any, ...] | None:
    """The core's proxy tuple for ``proxy`` (None without one); ValueError for a proxy
    type or address paho's ``proxy_set`` would refuse."""
    if proxy is None:
        return None
    if not _transport.proxy_is_valid(proxy.proxy_args):
        raise ValueError("proxy_type and/or proxy_addr are invalid.")
    return _transport.proxy_arguments(proxy.proxy_args)


def check_websocket_headers(headers: Any) -> None:
    """``websocket_headers`` is None, a dict of extra headers, or a callable that gets the
    handshake headers and returns the ones to send (see ``_transport.websocket_headers``)."""
    if headers is not None and not (isinstance(headers, dict) or callable(headers)):
        raise ValueError("websocket_headers must be a dictionary or a callable")
