"""The code email the order.created handler sends (CODES_ORDER_EMAIL_TEMPLATE), editable in
the admin. Created only if no template of that name exists."""

from django.db import migrations

SUBJECT = "Your code for order {{ order.id }}"
TEXT = """Hello,

thank you for your order {{ order.id }}.

Your code: {{ code }}

Keep this email: the code is yours only.
"""
HTML = """<p>Hello,</p>
<p>thank you for your order {{ order.id }}.</p>
<p>Your code: <strong style="font-size: 1.3em">{{ code }}</strong></p>
<p>Keep this email: the code is yours only.</p>
"""


def create_template(apps, schema_editor):
    EmailTemplate = apps.get_model("codes", "EmailTemplate")
    EmailTemplate.objects.get_or_create(
        name="order-code",
        defaults={
            "description": "Sent to the buyer by Make.com's order.created (the allocated code).",
            "subject": SUBJECT,
            "text_body": TEXT,
            "html_body": HTML,
        },
    )


class Migration(migrations.Migration):
    dependencies = [("codes", "0003_email_links")]

    operations = [migrations.RunPython(create_template, migrations.RunPython.noop)]
