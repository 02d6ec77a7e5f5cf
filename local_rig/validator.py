"""The token validator behind nginx's auth_request in the end-to-end rig.

Checks a bearer JWT against the provider's JWKS: signature, the header's ``typ`` (at+jwt,
RFC 9068, unless told otherwise), issuer, audience, and expiry with no leeway. With
``--introspect``, asks the provider's RFC 7662 introspection endpoint instead, as API
gateways often do: the token must be active, of the issuer and the audience (the resource
server's client secret in the environment variable VALIDATOR_CLIENT_SECRET).
Answers 204 or 401 with WWW-Authenticate.
GET /stats tells how many requests were accepted and refused, and with how many distinct
tokens; GET /tokens lists the accepted tokens; POST /delay?seconds=S slows each validation
(to stretch a transfer over a token's expiry).

Usage: python validator.py PORT ISSUER AUDIENCE --jwks URL [--token-type TYP]
       python validator.py PORT ISSUER AUDIENCE --introspect URL --client ID
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import httpx2
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

_parser = argparse.ArgumentParser()
_parser.add_argument("port", type=int)
_parser.add_argument("issuer")
_parser.add_argument("audience")
_parser.add_argument("--jwks", help="the provider's JWKS: tokens are verified here")
_parser.add_argument("--token-type", default="at+jwt", help="the typ the JWT header must hold")
_parser.add_argument("--introspect", help="the provider's introspection endpoint, asked instead")
_parser.add_argument("--client", help="the resource server's client id, for introspection")
ARGUMENTS = _parser.parse_args()
ISSUER: str = ARGUMENTS.issuer
AUDIENCE: str = ARGUMENTS.audience


class State:
    lock = threading.Lock()
    keys: KeySet | None = None
    accepted = 0
    refused = 0
    tokens: ClassVar[set[str]] = set()
    delay = 0.0


def key_set(refresh: bool = False) -> KeySet:
    with State.lock:
        if State.keys is None or refresh:
            State.keys = KeySet.import_key_set(httpx2.get(ARGUMENTS.jwks, timeout=5).json())
        return State.keys


def problem(token: str) -> str | None:
    return introspection_problem(token) if ARGUMENTS.introspect else signature_problem(token)


def _names_audience(claims: dict[str, Any]) -> bool:
    audience = claims.get("aud")
    return AUDIENCE in (audience if isinstance(audience, list) else [audience])


def introspection_problem(token: str) -> str | None:
    try:
        answer = httpx2.post(
            ARGUMENTS.introspect,
            data={"token": token, "token_type_hint": "access_token"},
            auth=(ARGUMENTS.client, os.environ["VALIDATOR_CLIENT_SECRET"]),
            timeout=5,
        )
        answer.raise_for_status()
        claims = answer.json()
    except (httpx2.HTTPError, ValueError) as error:
        return f"introspection failed: {type(error).__name__}: {error}"
    if claims.get("active") is not True:
        return "inactive token"
    if claims.get("iss") != ISSUER:
        return "wrong issuer"
    if not _names_audience(claims):
        return "wrong audience"
    return None


def signature_problem(token: str) -> str | None:
    try:
        try:
            decoded = jwt.decode(token, key_set())
        except JoseError:
            decoded = jwt.decode(token, key_set(refresh=True))
    except (JoseError, ValueError, httpx2.HTTPError) as error:
        return f"invalid token: {type(error).__name__}: {error}"
    claims = decoded.claims
    if decoded.header.get("typ") != ARGUMENTS.token_type:
        return f"not an access token of type {ARGUMENTS.token_type}"
    if claims.get("iss") != ISSUER:
        return "wrong issuer"
    if not _names_audience(claims):
        return "wrong audience"
    if not isinstance(claims.get("exp"), int) or claims["exp"] <= time.time():
        return "expired"
    return None


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/stats":
            with State.lock:
                stats = {
                    "accepted": State.accepted,
                    "refused": State.refused,
                    "distinct_tokens": len(State.tokens),
                }
            self._answer(200, json.dumps(stats).encode(), "application/json")
            return
        if self.path == "/tokens":  # the tests search logs and answers for them
            with State.lock:
                listing = {"tokens": sorted(State.tokens)}
            self._answer(200, json.dumps(listing).encode(), "application/json")
            return
        time.sleep(State.delay)
        header = self.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        reason = problem(token) if token else "no bearer token"
        with State.lock:
            if reason is None:
                State.accepted += 1
                State.tokens.add(token)
            else:
                State.refused += 1
        if reason is None:
            self._answer(204, b"", None)
        else:
            sys.stdout.write(f"refused: {reason}\n")
            sys.stdout.flush()
            self.send_response(401)
            self.send_header(
                "WWW-Authenticate", f'Bearer error="invalid_token", error_description="{reason}"'
            )
            self.send_header("Content-Length", "0")
            self.end_headers()

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/delay":
            State.delay = float(parse_qs(url.query)["seconds"][0])
            self._answer(204, b"", None)
        else:
            self._answer(404, b"", None)

    def _answer(self, status: int, body: bytes, content_type: str | None) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    if ARGUMENTS.jwks:
        key_set()  # keys loaded at start, as a resource server does: it outlives outages
    server = ThreadingHTTPServer(("127.0.0.1", ARGUMENTS.port), Handler)
    server.daemon_threads = True
    sys.stdout.write(f"validator listening on {ARGUMENTS.port}\n")
    sys.stdout.flush()
    server.serve_forever()
