"""Users, invite links, quotas and the usage ledger: data and invariants only."""

import secrets
from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class User(AbstractUser):
    """A team member. Custom from the first migration so fields can be added later."""

    # `createsuperuser --noinput` needs only a username and a password.
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")


def _invite_token() -> str:
    return secrets.token_urlsafe(24)


class Invite(models.Model):
    """A one-time sign-up link made by an admin (used when SIGNUP_MODE is "invite")."""

    token = models.CharField(_("token"), max_length=64, unique=True, default=_invite_token)
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="invites_made",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"))
    used_by = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="invite",
        verbose_name=_("used by"),
    )
    used_at = models.DateTimeField(_("used"), null=True, blank=True)

    class Meta:
        verbose_name = _("invite")
        verbose_name_plural = _("invites")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.note or self.token[:8]

    def is_usable(self) -> bool:
        return self.used_at is None and self.expires_at > timezone.now()


class Quota(models.Model):
    """What a user may spend per period: a cost limit and/or a token limit, or unlimited."""

    class Period(models.TextChoices):
        DAY = "day", _("day")
        WEEK = "week", _("week")
        MONTH = "month", _("month")
        NONE = "none", _("none (never resets)")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="quota",
        verbose_name=_("user"),
    )
    period = models.CharField(
        _("period"), max_length=8, choices=Period.choices, default=Period.MONTH
    )
    cost_limit = models.DecimalField(
        _("cost limit (USD)"),
        max_digits=14,
        decimal_places=4,
        null=True,
        blank=True,
        # On the field, so every form (the quota admin, its list editing, the user's inline,
        # the Set quota action) refuses a negative limit.
        validators=[MinValueValidator(Decimal(0))],
        help_text=_("Blank: no cost limit."),
    )
    token_limit = models.PositiveBigIntegerField(
        _("token limit"), null=True, blank=True, help_text=_("Blank: no token limit.")
    )
    sends_per_minute = models.PositiveIntegerField(
        _("sends per minute"),
        null=True,
        blank=True,
        help_text=_("Blank: the site default (CHAT_SENDS_PER_MINUTE). 0: no limit."),
    )
    max_concurrent_replies = models.PositiveIntegerField(
        _("replies at once"),
        null=True,
        blank=True,
        help_text=_("Blank: the site default (CHAT_MAX_CONCURRENT_REPLIES). 0: no limit."),
    )
    allowed_models = models.ManyToManyField(
        "conversations.CatalogModel",
        blank=True,
        verbose_name=_("allowed models"),
        help_text=_("Blank: every enabled model."),
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("quota")
        verbose_name_plural = _("quotas")

    def __str__(self) -> str:
        return str(self.user)

    @property
    def unlimited(self) -> bool:
        return self.cost_limit is None and self.token_limit is None


class MoneyField(models.BigIntegerField):
    """US dollars as a Decimal, stored as an integer count of picodollars (10^-12 USD).

    Prices per million tokens have 6 decimals, so every cost is exact at 12 decimals. SQLite
    stores DecimalField as a float and sums it as one; integers sum exactly on every database.
    """

    SCALE = Decimal(10) ** 12

    def from_db_value(self, value, expression, connection) -> Decimal | None:
        return None if value is None else Decimal(value) / self.SCALE

    def to_python(self, value) -> Decimal | None:
        return None if value is None else Decimal(value)

    def get_prep_value(self, value) -> int | None:
        if value is None:
            return None
        return int((Decimal(value) * self.SCALE).to_integral_value())

    def formfield(self, **kwargs):
        return forms.DecimalField(decimal_places=12, **kwargs)


class UpstreamCall(models.Model):
    """One call to the Messages API: the anchor of exactly one hold and its settlement.

    A reply may make several calls (tool rounds, Continue) and some calls have no message (a
    title, a gateway request). While it runs, a call names its worker and carries a heartbeat,
    so a reaper can tell a call in flight on another worker from one whose process died.
    `usage` and `output_chars` keep the best knowledge of what it consumed for when its message
    is gone before it ends (a delete mid-reply).
    """

    class Source(models.TextChoices):
        CHAT = "chat", _("chat reply")
        TITLE = "title", _("title")
        GATEWAY = "gateway", _("gateway key")

    class Status(models.TextChoices):
        RUNNING = "running", _("running")
        SETTLED = "settled", _("settled")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="upstream_calls",
        verbose_name=_("user"),
    )
    source = models.CharField(_("source"), max_length=12, choices=Source.choices)
    message = models.ForeignKey(
        "conversations.Message",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="calls",
        verbose_name=_("message"),
    )
    # The personal key of a gateway call (source "gateway"); none for the chat's calls.
    api_key = models.ForeignKey(
        "ApiKey",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="calls",
        verbose_name=_("API key"),
    )
    model = models.CharField(_("model"), max_length=100)
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.RUNNING
    )
    worker = models.CharField(_("worker"), max_length=100, blank=True)
    heartbeat_at = models.DateTimeField(_("heartbeat"), null=True, blank=True)
    created_at = models.DateTimeField(_("started"), default=timezone.now)
    settled_at = models.DateTimeField(_("settled"), null=True, blank=True)
    # Estimated prompt tokens of the request (not the admission bound, which is far higher).
    input_estimate = models.PositiveIntegerField(_("estimated input tokens"), default=0)
    usage = models.JSONField(_("usage known so far"), default=dict, blank=True)
    output_chars = models.PositiveIntegerField(_("characters streamed so far"), default=0)

    class Meta:
        verbose_name = _("upstream call")
        verbose_name_plural = _("upstream calls")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["heartbeat_at"],
                name="running_call_heartbeat",
                condition=models.Q(status="running"),
            ),
            models.Index(fields=["user", "status"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_source_display()} {self.model} ({self.user})"


class ApiKey(models.Model):
    """A member's personal key for the team gateway (`/v1/...`), stored only as a hash.

    The key is `chatsite_<public_id>_<secret>`: the prefix `chatsite_<public_id>` is shown
    and finds the row; only the SHA-256 of the whole key is kept (keys are random and long, so
    a slow hash adds nothing). Keys are revoked, never deleted: their calls and charges keep
    pointing at them. Limits left empty follow the settings' defaults.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_keys",
        verbose_name=_("user"),
    )
    name = models.CharField(_("name"), max_length=100)
    public_id = models.CharField(_("public id"), max_length=20, unique=True, editable=False)
    key_hash = models.CharField(_("key hash"), max_length=64, editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    envelope = models.BooleanField(
        _("gateway envelope"),
        default=False,
        help_text=_(
            'Wrap non-streaming replies and errors as {"code": STATUS, "data": {...}}, for '
            "clients written against the gateway's own format."
        ),
    )
    requests_per_minute = models.PositiveIntegerField(
        _("requests per minute"),
        null=True,
        blank=True,
        help_text=_("Blank: the site default (GATEWAY_REQUESTS_PER_MINUTE). 0: no limit."),
    )
    max_concurrent_streams = models.PositiveIntegerField(
        _("concurrent streams"),
        null=True,
        blank=True,
        help_text=_("Blank: the site default (GATEWAY_CONCURRENT_STREAMS). 0: no limit."),
    )

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    @property
    def prefix(self) -> str:
        """What is shown of the key, and what `revoke_api_key` takes."""
        return f"chatsite_{self.public_id}"

    def is_usable(self, now=None) -> bool:
        now = now or timezone.now()
        expired = self.expires_at is not None and self.expires_at <= now
        return self.revoked_at is None and not expired and self.user.is_active


class LedgerEntry(models.Model):
    """One append-only line of the usage ledger; balances are sums of these (admission reads
    them kept up to date in `PeriodBalance`, proven equal by `check_ledger`).

    Signed amounts: a charge or a hold adds cost and tokens, a grant takes them off, an
    adjustment may do either; a release closes a hold (it points at it and repeats its amounts
    negated, so the ledger sums to what was really spent).
    """

    class Kind(models.TextChoices):
        CHARGE = "charge", _("charge")
        HOLD = "hold", _("hold")
        RELEASE = "release", _("release")
        GRANT = "grant", _("grant")
        ADJUSTMENT = "adjustment", _("adjustment")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="ledger",
        verbose_name=_("user"),
    )
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    model = models.CharField(_("model"), max_length=100, blank=True)
    message = models.ForeignKey(
        "conversations.Message",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="ledger_entries",
        verbose_name=_("message"),
    )
    call = models.ForeignKey(
        UpstreamCall,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="entries",
        verbose_name=_("upstream call"),
    )
    hold = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="settled_by",
        verbose_name=_("hold"),
    )
    input_tokens = models.BigIntegerField(_("input tokens"), default=0)
    output_tokens = models.BigIntegerField(_("output tokens"), default=0)
    cache_creation_input_tokens = models.BigIntegerField(_("cache write tokens"), default=0)
    cache_read_input_tokens = models.BigIntegerField(_("cache read tokens"), default=0)
    tokens = models.BigIntegerField(_("tokens"), default=0)
    cost = MoneyField(_("cost (USD)"), default=Decimal(0))
    prices = models.JSONField(_("price snapshot"), default=dict, blank=True)
    estimated = models.BooleanField(_("estimated"), default=False)
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )

    class Meta:
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger")
        ordering = ["-created_at", "-id"]
        # Django stores permission names untranslated, like its own "Can view ledger entry".
        permissions = [("view_usage_report", "Can view the usage report")]
        indexes = [
            models.Index(fields=["user", "kind", "created_at"]),
            models.Index(fields=["kind", "created_at"]),  # reports over every user
        ]
        constraints = [
            # A hold is released once, and charged once: the database refuses a second
            # settlement even when the runner and the reaper race.
            models.UniqueConstraint(
                fields=["hold", "kind"], condition=models.Q(hold__isnull=False), name="settle_once"
            ),
            models.UniqueConstraint(
                fields=["call"], condition=models.Q(kind="hold"), name="one_hold_per_call"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.cost} USD ({self.user})"


class PeriodBalance(models.Model):
    """A user's running balance for their quota's current period: what admission reads.

    Changed in the transaction of every ledger entry (accounts/balance_rows.py) and proven
    equal to the entries by `check_ledger`. One row per user, rebased on the next admission
    when the period rolls over or the quota's period changes; `period` empty means "to be
    computed from the entries" (a row made by a writer before any admission). Amounts are the
    entries' own signed sums: `spent_*` of the charges, grants and adjustments made in
    [starts_at, resets_at), `grants_*` of the grants among them (negative), `held_*` of the
    open holds, whenever they were made (as `ledger.balance` sums them); `replies_running` the
    user's running calls but titles (`sending_limits.replies_in_flight`).
    """

    quota = models.OneToOneField(
        Quota,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="balance_row",
        verbose_name=_("quota"),
    )
    period = models.CharField(_("period"), max_length=8, blank=True)
    starts_at = models.DateTimeField(_("period start"), null=True, blank=True)
    resets_at = models.DateTimeField(_("resets"), null=True, blank=True)
    spent_cost = MoneyField(_("spent (USD)"), default=Decimal(0))
    spent_tokens = models.BigIntegerField(_("spent tokens"), default=0)
    grants_cost = MoneyField(_("grants (USD)"), default=Decimal(0))
    grants_tokens = models.BigIntegerField(_("granted tokens"), default=0)
    held_cost = MoneyField(_("held (USD)"), default=Decimal(0))
    held_tokens = models.BigIntegerField(_("held tokens"), default=0)
    # Running calls that count as replies in flight (every source but titles): the reply
    # cap's count, kept here so a send does not count them.
    replies_running = models.IntegerField(_("replies running"), default=0)

    class Meta:
        verbose_name = _("period balance")
        verbose_name_plural = _("period balances")

    def __str__(self) -> str:
        return f"{self.quota_id} {self.period} {self.starts_at}"


class RateCounter(models.Model):
    """One rate-limit window of `accounts.limits` when there is no Redis: hits since it opened.

    A row per key, renewed in place when its window has ended; times are Unix seconds (a
    float) so the one upsert statement compares them the same way on SQLite and PostgreSQL.
    """

    key = models.CharField(max_length=200, primary_key=True)
    hits = models.PositiveIntegerField(default=0)
    expires_at = models.FloatField(db_index=True)

    class Meta:
        verbose_name = _("rate counter")
        verbose_name_plural = _("rate counters")

    def __str__(self) -> str:
        return self.key


class AuditEntry(models.Model):
    """One append-only line of the audit trail: who changed money or access, when, from what to
    what.

    Written only by `accounts.audit.record`, in the transaction of the change it describes.
    `before` and `after` hold the changed fields only; a creation has an empty `before`.
    """

    class Action(models.TextChoices):
        QUOTA = "quota", _("quota changed")
        MODEL_ACCESS = "model_access", _("model access changed")
        GRANT = "grant", _("grant")
        ADJUSTMENT = "adjustment", _("adjustment")
        USER_ACCESS = "user_access", _("account access changed")
        DEACTIVATION = "deactivation", _("deactivated")
        CATALOG_ADDED = "catalog_added", _("model added to the catalog")
        CATALOG_CHANGED = "catalog_changed", _("catalog model changed")
        CATALOG_DELETED = "catalog_deleted", _("model deleted from the catalog")
        SHARE_REVOKED = "share_revoked", _("shared link revoked")
        API_KEY_CREATED = "api_key_created", _("API key created")
        API_KEY_REVOKED = "api_key_revoked", _("API key revoked")
        API_KEY_ENVELOPE = "api_key_envelope", _("API key switched to the envelope")

    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("account"),
    )
    # Kept as text: the trail still names the actor once their account is gone, and names
    # the command when no account acted.
    actor_name = models.CharField(_("who"), max_length=150)
    action = models.CharField(_("action"), max_length=20, choices=Action.choices)
    target_type = models.CharField(_("target type"), max_length=100)
    target_id = models.CharField(_("target id"), max_length=64)
    target_label = models.CharField(_("target"), max_length=200)
    before = models.JSONField(_("before"), default=dict, blank=True, encoder=DjangoJSONEncoder)
    after = models.JSONField(_("after"), default=dict, blank=True, encoder=DjangoJSONEncoder)
    reason = models.CharField(_("reason"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit trail")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id"])]

    def __str__(self) -> str:
        return f"{self.get_action_display()}: {self.target_label}"

    def save(self, *args, **kwargs) -> None:
        # Append-only: a line once written is never rewritten, whatever form reaches it.
        if not self._state.adding:
            raise ValueError("audit entries are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("audit entries are append-only")
