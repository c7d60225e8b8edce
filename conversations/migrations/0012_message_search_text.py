"""Message.search_text for search (decision 84): the column, its value for existing messages,
and on PostgreSQL a pg_trgm GIN index that serves ILIKE '%…%' in any language."""

from django.db import migrations, models

from conversations.search_text import search_text_of

BATCH = 1000
INDEX = "message_search_text_trgm"


def fill_search_text(apps, schema_editor):
    Message = apps.get_model("conversations", "Message")
    last = 0
    while True:
        batch = list(Message.objects.filter(pk__gt=last).order_by("pk").only("pk", "content")[:BATCH])
        if not batch:
            return
        for message in batch:
            message.search_text = search_text_of(message.content)
        Message.objects.bulk_update(batch, ["search_text"])
        last = batch[-1].pk


def create_trigram_index(apps, schema_editor):
    # SQLite has no trigram index: there a search reads the user's messages (decision 84).
    if schema_editor.connection.vendor != "postgresql":
        return
    table = apps.get_model("conversations", "Message")._meta.db_table
    # pg_trgm is a trusted extension (PostgreSQL 13+): the database's owner may create it.
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        f'CREATE INDEX IF NOT EXISTS {INDEX} ON "{table}" USING gin ("search_text" gin_trgm_ops)'
    )


def drop_trigram_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0011_branches_titles_and_reply_cost"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="search_text",
            field=models.TextField(
                blank=True, default="", editable=False, verbose_name="search text"
            ),
        ),
        migrations.RunPython(fill_search_text, migrations.RunPython.noop, elidable=True),
        migrations.RunPython(create_trigram_index, drop_trigram_index),
    ]
