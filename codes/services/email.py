"""Queueing emails: render, validate, store once (idempotency key), start the send job.

    queued = queue_email(to=["ana@example.com"], subject="Your code", text="...",
                         idempotency_key="order-code:fienta-order-456")
    queued.message, queued.created   # created False: the key was used before, same message

The email is sent by an `email.send` job (codes.services.email_delivery) enqueued after the
surrounding transaction commits: an email queued inside a transaction that rolls back is
never sent. See codes/README.md, "Email".
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from email.headerregistry import Address
from email.utils import getaddresses, make_msgid, parseaddr

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.template import Context, Engine, TemplateDoesNotExist, TemplateSyntaxError

from codes.exceptions import EmailTemplateError, IdempotencyKeyReused, InvalidEmail
from codes.jobs import EMAIL_SEND
from codes.models import EmailMessage, EmailStatus, EmailTemplate
from core.services.jobs import start_job

MAX_SUBJECT_LENGTH = 998  # RFC 5322's line limit


@dataclass(frozen=True)
class QueuedEmail:
    message: EmailMessage
    created: bool  # False: an earlier request with the same idempotency key made it


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def queue_email(
    *,
    to,
    subject: str = "",
    text: str = "",
    html: str = "",
    template: str | EmailTemplate | None = None,
    context: dict | None = None,
    cc=(),
    bcc=(),
    reply_to=(),
    from_email: str = "",
    reference: str = "",
    idempotency_key: str = "",
    owner=None,
    code=None,
) -> QueuedEmail:
    """Store an email and start its send job (after commit).

    Give `subject` and `text` and/or `html`, or a stored `template` (its name) rendered with
    `context`. `code`: the Code it hands out (the chain order → code → email). With an
    `idempotency_key`, a repeated call returns the first call's message
    (and job) instead of sending again; the same key for a different email is a 409.
    Raises InvalidEmail / EmailTemplateError (400) for what cannot be sent.
    """
    recipients = {
        "to": normalize_addresses(to, "to", required=True),
        "cc": normalize_addresses(cc, "cc"),
        "bcc": normalize_addresses(bcc, "bcc"),
        "reply_to": normalize_addresses(reply_to, "reply_to"),
    }
    total = sum(len(recipients[name]) for name in ("to", "cc", "bcc"))
    if total > settings.EMAIL_MAX_RECIPIENTS:
        raise InvalidEmail(
            f"At most {settings.EMAIL_MAX_RECIPIENTS} recipients per email (to, cc and bcc).",
            fields={"to": ["Too many recipients."]},
        )
    sender = normalize_addresses(from_email or settings.DEFAULT_FROM_EMAIL, "from_email")[0]
    stored_template = _template(template) if template else None
    rendered = (
        render_template(stored_template, context or {})
        if stored_template
        else RenderedEmail(subject, text, html)
    )
    _check_content(rendered)
    fields = {
        **recipients,
        "from_email": sender,
        "subject": rendered.subject,
        "text_body": rendered.text,
        "html_body": rendered.html,
        "template": stored_template,
        "context": context or {},
        "reference": reference[:200],
        "code": code,
    }
    digest = _request_digest(fields)
    key = idempotency_key or None
    with transaction.atomic():
        if key:
            existing = _existing(key, digest)
            if existing is not None:
                return QueuedEmail(existing, created=False)
        try:
            with transaction.atomic():
                message = EmailMessage.objects.create(
                    **fields,
                    idempotency_key=key,
                    request_digest=digest,
                    message_id=make_msgid(domain=_message_id_domain(sender)),
                    status=EmailStatus.QUEUED,
                    max_attempts=max(1, settings.EMAIL_MAX_ATTEMPTS),
                    created_by=owner if owner is not None and owner.is_authenticated else None,
                )
        except IntegrityError:
            # A concurrent request with the same key won the insert: it is this one's answer.
            existing = _existing(key, digest) if key else None
            if existing is None:
                raise
            return QueuedEmail(existing, created=False)
        message.job = start_attempt_job(message, owner=owner)
        message.save(update_fields=["job", "updated_at"])
    return QueuedEmail(message, created=True)


def start_attempt_job(message: EmailMessage, *, owner=None, retry_of=None):
    """Start the `email.send` job of the message's next attempt (enqueued after commit)."""
    return start_job(
        EMAIL_SEND,
        params={"email_id": message.pk},
        owner=owner if owner is not None else message.created_by,
        title=f"Email to {message.to[0]}: {message.subject}"[:255],
        subject=message,
        retry_of=retry_of,
    )


def _existing(key: str, digest: str) -> EmailMessage | None:
    message = EmailMessage.objects.filter(idempotency_key=key).first()
    if message is not None and message.request_digest != digest:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used for a different email "
            f"(email {message.pk}, queued {message.created_at.isoformat()}).",
        )
    return message


def _request_digest(fields: dict) -> str:
    data = {
        **fields,
        "template": fields["template"].pk if fields["template"] else None,
        "code": str(fields["code"].pk) if fields["code"] else None,
    }
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _message_id_domain(sender: str) -> str:
    if settings.EMAIL_MESSAGE_ID_DOMAIN:
        return settings.EMAIL_MESSAGE_ID_DOMAIN
    domain = parseaddr(sender)[1].rpartition("@")[2]
    return domain or "localhost"


# --- addresses and content -------------------------------------------------------------------


def normalize_addresses(value, field: str, *, required: bool = False) -> list[str]:
    """`"a@x.com"`, `"Ana <a@x.com>, b@y.org"` or a list of those → ["a@x.com", "Ana <a@x.com>"]:
    each a valid address (display names kept), no line breaks (header injection)."""
    items = [value] if isinstance(value, str) else list(value or [])
    addresses = []
    for item in items:
        if not isinstance(item, str):
            raise InvalidEmail(f"{field}: addresses must be text.", fields={field: ["Not text."]})
        if any(char in item for char in "\r\n\0"):
            raise InvalidEmail(
                f"{field}: line breaks are not allowed.", fields={field: ["Line break."]}
            )
        if not item.strip():
            continue
        # A string that does not parse yields ("", ""): refused below, never dropped.
        for name, address in getaddresses([item]) or [("", "")]:
            try:
                validate_email(address)
            except ValidationError:
                raise InvalidEmail(
                    f"{field}: '{item}' is not an email address.",
                    fields={field: [f"'{item}' is not an email address."]},
                ) from None
            addresses.append(
                str(Address(display_name=name, addr_spec=address)) if name else address
            )
    if required and not addresses:
        raise InvalidEmail(f"{field}: at least one address.", fields={field: ["Required."]})
    return list(dict.fromkeys(addresses))


def _check_content(rendered: RenderedEmail) -> None:
    if not rendered.subject.strip():
        raise InvalidEmail("The email needs a subject.", fields={"subject": ["Required."]})
    if any(char in rendered.subject for char in "\r\n"):
        raise InvalidEmail(
            "The subject must be one line.", fields={"subject": ["Line break in the subject."]}
        )
    if len(rendered.subject) > MAX_SUBJECT_LENGTH:
        raise InvalidEmail(
            f"The subject is longer than {MAX_SUBJECT_LENGTH} characters.",
            fields={"subject": ["Too long."]},
        )
    if not (rendered.text.strip() or rendered.html.strip()):
        raise InvalidEmail(
            "The email needs a text or an HTML body.",
            fields={"text": ["Give text and/or html."]},
        )


# --- templates -------------------------------------------------------------------------------

# Templates are operators' text: no loaders, no file access, only the built-in tags/filters.
_ENGINE = Engine(autoescape=True, libraries={}, builtins=None, debug=False)


def _template(template) -> EmailTemplate:
    if isinstance(template, EmailTemplate):
        return template
    stored = EmailTemplate.objects.filter(name=template).first()
    if stored is None:
        raise EmailTemplateError(
            f"There is no email template named '{template}'.",
            fields={"template": ["Unknown template."]},
        )
    return stored


def render_template(template: EmailTemplate, context: dict) -> RenderedEmail:
    """The template's subject, text and HTML rendered with `context` (HTML autoescaped)."""
    if not isinstance(context, dict):
        raise EmailTemplateError(
            "context must be an object.", fields={"context": ["Not an object."]}
        )
    try:
        return RenderedEmail(
            subject=" ".join(_render(template.subject, context, escape=False).split()),
            text=_render(template.text_body, context, escape=False),
            html=_render(template.html_body, context, escape=True),
        )
    except (TemplateSyntaxError, TemplateDoesNotExist) as exc:
        raise EmailTemplateError(
            f"Template '{template.name}' does not render: {exc}",
            fields={"template": [str(exc)]},
        ) from None


def check_template_syntax(source: str) -> None:
    """Raise TemplateSyntaxError for a source that does not compile (admin validation)."""
    _ENGINE.from_string(source)


def _render(source: str, context: dict, *, escape: bool) -> str:
    if not source:
        return ""
    if not escape:
        source = "{% autoescape off %}" + source + "{% endautoescape %}"
    return _ENGINE.from_string(source).render(Context(context, autoescape=escape))
