"""Log filter that redacts secrets (passwords, tokens, keys) from every record."""

import logging
import re

# key=value / "key": "value" pairs whose key names a secret, and bearer tokens / JWTs.
_PATTERNS = [
    re.compile(
        r"""(?ix)
        (?P<key>["']?[\w-]*(?:password|passwd|secret|token|api[_-]?key|authorization|
        access[_-]?key|private[_-]?key|signature)[\w-]*["']?\s*[:=]\s*)
        (?P<value>"[^"]*"|'[^']*'|[^\s,;&}]+)
        """
    ),
    re.compile(r"(?i)(?P<key>bearer\s+)(?P<value>[A-Za-z0-9\-._~+/]+=*)"),
    re.compile(r"(?P<key>)(?P<value>eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+)"),
    re.compile(r"(?i)(?P<key>postgres(?:ql)?://[^:/\s]*:)(?P<value>[^@\s]+)(?=@)"),
    re.compile(r"(?i)(?P<key>rediss?://[^:/\s]*:)(?P<value>[^@\s]+)(?=@)"),
]
REDACTED = "[REDACTED]"


def redact(text: str) -> str:
    """Replace secret values in `text` with [REDACTED]."""
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group("key") + REDACTED, text)
    return text


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is logged as it is
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True
