"""Named credentials for scripts (API tokens, FTP passwords).

A credential named `shopify_token` is configured as the environment variable
`SCRIPT_CREDENTIAL_SHOPIFY_TOKEN` of the worker (like every other secret of the platform:
configuration comes from the environment only). Its value is never shown back: the API and the
admin only say whether it is configured.

A script gets a credential only when it declares it (`credentials = ["shopify_token"]`): the
sandbox then puts exactly that variable in the child's otherwise reduced environment.
"""

from __future__ import annotations

import os

ENV_PREFIX = "SCRIPT_CREDENTIAL_"


class MissingCredential(LookupError):
    def __init__(self, names: list[str]):
        self.names = names
        super().__init__(", ".join(names))


def env_name(name: str) -> str:
    """The environment variable holding credential `name` (worker and child alike)."""
    return f"{ENV_PREFIX}{name.upper()}"


def get_credential(name: str) -> str | None:
    """The configured value of credential `name`, or None."""
    value = os.environ.get(env_name(name))
    return value or None


def is_configured(name: str) -> bool:
    return get_credential(name) is not None


def credential_status(script) -> list[dict]:
    """[{name, required, configured}] for the credentials a script declares (no values)."""
    return [
        {"name": name, "required": required, "configured": is_configured(name)}
        for names, required in ((script.credentials, True), (script.optional_credentials, False))
        for name in names
    ]


def missing_credentials(script) -> list[str]:
    """Required credentials of `script` that are not configured."""
    return [name for name in script.credentials if not is_configured(name)]


def credentials_env(script) -> dict[str, str]:
    """Environment entries for the child: the declared credentials that are configured.

    Raises MissingCredential when a required one is not configured.
    """
    missing = missing_credentials(script)
    if missing:
        raise MissingCredential(missing)
    entries = {}
    for name in [*script.credentials, *script.optional_credentials]:
        value = get_credential(name)
        if value is not None:
            entries[env_name(name)] = value
    return entries
