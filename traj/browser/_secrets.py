"""Secrets: stored by name, typed by value.

What a person types into a password field, or a value they marked with ``traj record
--secret NAME``, is stored as ``{"secret": "NAME"}`` (:class:`~traj.eventlog.Secret`) in the
action and masked in every observation: events, blobs, WAL and segments never hold it, so
neither do exports and training prompts. Replay and the agent read the value only when they
type it, from ``TRAJ_SECRET_<NAME>`` or by asking the person (:class:`Secrets`).

A password the task's goal states ("log in as ada with the password pa55") is no secret of
the recording: the goal already holds it in the clear. It is stored as typed, so it becomes one
of the goal's variables and a new goal's password is typed on the next instance.
"""

from __future__ import annotations

import contextlib
import os
import re
import urllib.parse
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from traj.errors import SecretMissingError
from traj.eventlog import Secret
from traj.projections import occurs

if TYPE_CHECKING:
    from playwright.sync_api import Page

__all__ = ["SECRET_ENV_PREFIX", "SecretKeeper", "Secrets", "mark_secret", "mask_values", "secret_env_name"]

SECRET_ENV_PREFIX = "TRAJ_SECRET_"
MASK = "********"
"""What a secret's value reads as in observations (the snapshotter masks password values so)."""
_MIN_SCRUBBED = 3
"""Shorter values are not replaced in page text: a 2-letter "secret" would mangle every word."""
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


def secret_env_name(name: str) -> str:
    """The environment variable holding secret ``name``: ``TRAJ_SECRET_`` + its name in capitals."""
    return SECRET_ENV_PREFIX + re.sub(r"[^A-Z0-9]", "_", name.upper())


def _checked_name(name: str) -> str:
    if not _NAME.match(name):
        raise SecretMissingError(f"secret name {name[:70]!r} must be a letter then letters, digits or _")
    return name


class Secrets:
    """Where secret values come from, in order: ``values`` given, ``TRAJ_SECRET_<NAME>`` in
    ``environ``, then ``ask(name)`` (the CLI asks at the terminal when it has one).

    A secret found nowhere is a :class:`~traj.errors.SecretMissingError` naming the variable
    to set; a value is looked up once per name.
    """

    def __init__(
        self,
        values: Mapping[str, str] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        ask: Callable[[str], str | None] | None = None,
    ) -> None:
        self._values = dict(values or {})
        self._environ = os.environ if environ is None else environ
        self._ask = ask

    def value(self, name: str) -> str:
        """The value of secret ``name``."""
        if name in self._values:
            return self._values[name]
        found = self._environ.get(secret_env_name(name))
        if found is None and self._ask is not None:
            found = self._ask(name)
        if not found:
            raise SecretMissingError(f"secret {name!r} is not set: export {secret_env_name(name)}=... and run again")
        self._values[name] = found
        return found

    def resolve(self, value: str | Secret | None) -> str | None:
        """``value`` as it is typed: a :class:`Secret`'s value, anything else unchanged."""
        return self.value(value.secret) if isinstance(value, Secret) else value


class SecretKeeper:
    """Turns the secrets a recording meets into references and masks their values.

    ``marked`` maps names to values the person marked secret (``--secret NAME``): typing one
    of those values anywhere records that name. A value typed into a password field is named
    after the field (its ``name``, ``id`` or ``autocomplete``; ``password`` without one), a
    second different value under the same name gets ``_2``, ``_3``. A password-field value that
    ``stated`` (the goal) holds as whole words is stored as typed: it is no secret there.
    """

    def __init__(self, marked: Mapping[str, str] | None = None, *, stated: str = "") -> None:
        self._stated = stated
        self._names: dict[str, str] = {}
        """value -> name of every secret met so far."""
        for name, value in (marked or {}).items():
            if not value:
                raise SecretMissingError(f"secret {name!r} has an empty value")
            self._names[value] = _checked_name(name)
        self._marked = tuple(self._names)
        self._patterns: list[tuple[str, str]] = []
        self._rebuild()

    @property
    def marked(self) -> list[str]:
        """The values marked secret before anything was typed: fields holding one are masked on
        screen before each screenshot, even while it is being typed."""
        return list(self._marked)

    @property
    def active(self) -> bool:
        """Whether any secret is known (masking costs nothing until one is)."""
        return bool(self._names)

    def typed(self, value: str, *, password: bool, field: str = "") -> str | Secret:
        """What to store for ``value`` typed into a field: a reference for a secret, else the value."""
        name = self._names.get(value)
        if name is not None:
            return Secret(name)
        if not password or not value or occurs(self._stated, value, same_case=True):
            return value
        base = re.sub(r"[^A-Za-z0-9_]+", "_", field).strip("_").lower()
        base = base if base[:1].isalpha() else "password"
        base = base[:56]
        taken = set(self._names.values())
        name = (
            base if base not in taken else next(f"{base}_{n}" for n in range(2, 10_000) if f"{base}_{n}" not in taken)
        )
        self._names[value] = name
        self._rebuild()
        return Secret(name)

    def stored_value(self, message: dict[str, Any]) -> str | Secret | None:
        """The value to store for a recorder report (``recorder.js``): a TYPE's secret as its reference."""
        value = message.get("value")
        if message.get("kind") != "TYPE" or not isinstance(value, str):
            return value
        return self.typed(value, password=bool(message.get("password")), field=message.get("field") or "")

    def scrub(self, text: str) -> str:
        """``text`` (plain or JSON) with every known secret value (of 3+ characters) masked."""
        for needle, mask in self._patterns:
            if needle in text:
                text = text.replace(needle, mask)
        return text

    def _rebuild(self) -> None:
        values = sorted((v for v in self._names if len(v) >= _MIN_SCRUBBED), key=len, reverse=True)
        patterns = {}
        for value in values:  # longest first, so a secret inside another is not half-masked
            for form in (
                value,
                msgspec.json.encode(value).decode()[1:-1],  # as it stands inside a JSON string
                urllib.parse.quote_plus(value),  # in a URL a form sent by GET leads to
                urllib.parse.quote(value, safe=""),
            ):
                patterns.setdefault(form, MASK)
        self._patterns = list(patterns.items())


def mark_secret(page: Page, agent_id: str | None) -> None:
    """Have the snapshotter mask field ``agent_id``'s value from now on (in snapshots and on
    screen, like a password field's): it holds a secret typed outside a password field."""
    from playwright.sync_api import Error as PlaywrightError

    if agent_id is None:
        return
    with contextlib.suppress(PlaywrightError):  # the page went away: nothing left to show it
        page.evaluate("id => window.__traj && window.__traj.markSecret(id)", agent_id)


def mask_values(page: Page, values: list[str]) -> None:
    """Mask every field of ``page`` that holds one of ``values``, or its first 3+ characters (as
    :func:`mark_secret` does): before a screenshot, so a marked secret shows at most 2 characters
    while it is being typed, and none once typed."""
    from playwright.sync_api import Error as PlaywrightError

    if values:
        with contextlib.suppress(PlaywrightError):
            page.evaluate("values => window.__traj && window.__traj.maskValues(values)", values)
