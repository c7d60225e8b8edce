"""Seed the model catalog with the gateway's documented models and prices."""

from decimal import Decimal

from django.db import migrations

D = Decimal

# (model id, display name, max output, input $/MTok, output $/MTok, long-prompt tier)
MODELS = [
    ("chatsite-demo", "Demo model (no API key)", 8192, D("1"), D("5"), None),
    ("claude-haiku-4-5-20251001", "Claude Haiku 4.5", 64000, D("1"), D("5"), None),
    (
        "claude-sonnet-4-5-20250929",
        "Claude Sonnet 4.5",
        64000,
        D("3"),
        D("15"),
        (200_000, D("6"), D("22.5")),
    ),
    ("claude-opus-4-1-20250805", "Claude Opus 4.1", 32000, D("15"), D("75"), None),
    (
        "claude-sonnet-4-5-20250929-thinking",
        "Claude Sonnet 4.5 (thinking)",
        64000,
        D("3"),
        D("15"),
        (200_000, D("6"), D("22.5")),
    ),
    ("claude-opus-4-1-20250805-thinking", "Claude Opus 4.1 (thinking)", 32000, D("15"), D("75"), None),
]
DEFAULT = "claude-sonnet-4-5-20250929"


def seed(apps, schema_editor):
    CatalogModel = apps.get_model("conversations", "CatalogModel")
    for model_id, name, max_output, price_in, price_out, long_tier in MODELS:
        # Cache writes cost 1.25x input and cache reads 0.1x, as the gateway documents.
        fields = {
            "display_name": name,
            "enabled": True,
            "is_default": model_id == DEFAULT,
            "max_output_tokens": max_output,
            "price_input": price_in,
            "price_output": price_out,
            "price_cache_write": price_in * D("1.25"),
            "price_cache_read": price_in * D("0.1"),
        }
        if long_tier:
            threshold, long_in, long_out = long_tier
            fields.update(
                long_prompt_threshold=threshold,
                long_price_input=long_in,
                long_price_output=long_out,
                long_price_cache_write=long_in * D("1.25"),
                long_price_cache_read=long_in * D("0.1"),
            )
        CatalogModel.objects.update_or_create(model_id=model_id, defaults=fields)


def unseed(apps, schema_editor):
    CatalogModel = apps.get_model("conversations", "CatalogModel")
    CatalogModel.objects.filter(model_id__in=[m[0] for m in MODELS]).delete()


class Migration(migrations.Migration):
    dependencies = [("conversations", "0002_message_max_tokens_catalogmodel")]
    operations = [migrations.RunPython(seed, unseed)]
