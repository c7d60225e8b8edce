"""Conversations, messages and the model catalog: data and invariants only."""

import secrets
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, models
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import MoneyField
from accounts.pricing import SNAPSHOT_FIELDS, PriceList

from .search_text import search_text_of


class Folder(models.Model):
    """A member's folder in the sidebar: a name of their own, holding some of their chats."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="folders",
        verbose_name=_("owner"),
    )
    name = models.CharField(_("name"), max_length=100)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("folder")
        verbose_name_plural = _("folders")
        constraints = [
            # "Work" and "work" are one folder to a reader (decision 86).
            models.UniqueConstraint(Lower("name"), "owner", name="folder_name_unique_per_owner"),
        ]

    def __str__(self) -> str:
        return self.name


class Conversation(models.Model):
    class TitleSource(models.TextChoices):
        # The first words of the first message; a generated title may replace them.
        PENDING = "pending", _("first words, a title to come")
        # The first words stay: the title call was made (and failed or was skipped), or the
        # conversation never gets one (older chats, copies of a shared link).
        KEPT = "kept", _("first words")
        GENERATED = "generated", _("generated")
        RENAMED = "renamed", _("renamed")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="conversations",
        verbose_name=_("user"),
    )
    title = models.CharField(_("title"), max_length=200, blank=True)
    # Where the title comes from: a title the member chose is never replaced (decision 72).
    title_source = models.CharField(
        _("title source"), max_length=12, choices=TitleSource.choices, default=TitleSource.PENDING
    )
    model = models.CharField(_("model"), max_length=100)
    system_prompt = models.TextField(_("system prompt"), blank=True)
    # The request parameters a member chose, used from the next turn on: optional keys
    # temperature, top_p, top_k, max_tokens, stop_sequences, thinking {enabled, budget_tokens}.
    # An absent key is the API's default and is not sent.
    settings = models.JSONField(_("settings"), default=dict, blank=True)
    # The team preset it was started from: that preset's system prompt goes first, as its own
    # block, before the member's own (decision 56). A member's preset is copied instead.
    preset = models.ForeignKey(
        "Preset",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="conversations",
        verbose_name=_("team preset"),
    )
    # The last message of the visible branch (decision 70): the thread shown, the history sent
    # upstream and the parent of the next message all follow it. Null: no message yet.
    leaf = models.ForeignKey(
        "Message",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("visible branch ends at"),
    )
    # Organising (decision 86): set with update(), never save(), so filing, pinning or
    # archiving a chat is no activity and leaves its place in the recent list.
    folder = models.ForeignKey(
        Folder,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="conversations",
        verbose_name=_("folder"),
    )
    pinned_at = models.DateTimeField(_("pinned"), null=True, blank=True)
    archived_at = models.DateTimeField(_("archived"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        indexes = [
            models.Index(fields=["user", "-updated_at"]),
            # The sidebar's three lists, each read from its own partial index (decision 86).
            models.Index(
                fields=["user", "-updated_at"],
                condition=models.Q(archived_at__isnull=True, pinned_at__isnull=True),
                name="conversation_sidebar_recent",
            ),
            models.Index(
                fields=["user", "-pinned_at"],
                condition=models.Q(archived_at__isnull=True, pinned_at__isnull=False),
                name="conversation_sidebar_pinned",
            ),
            models.Index(
                fields=["user", "-archived_at"],
                condition=models.Q(archived_at__isnull=False),
                name="conversation_sidebar_archived",
            ),
        ]

    def __str__(self) -> str:
        return self.display_title

    def get_absolute_url(self) -> str:
        return reverse("conversation", args=[self.pk])

    @property
    def display_title(self) -> str:
        return self.title or str(_("New chat"))

    @classmethod
    def move_title_source(cls, pk: int, was: str, now: str, title: str | None = None) -> bool:
        """Set the title source (and the title) if it is still `was`; whether it was.

        One raw UPDATE, not save(): a title is no activity (the sidebar's order stays), and
        every new chat's first reply runs it twice, where the ORM took longer to build the
        statement than the database to run it."""
        sql = (
            f"UPDATE {cls._meta.db_table} SET title_source = %s, title = COALESCE(%s, title) "
            "WHERE id = %s AND title_source = %s"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [now, title, pk, was])
            return cursor.rowcount > 0


class MessageQuerySet(models.QuerySet):
    """Bulk writes keep `search_text` in step with `content`, as `Message.save` does."""

    def bulk_create(self, objs, *args, **kwargs):
        objs = list(objs)
        for message in objs:
            message.search_text = search_text_of(message.content)
        return super().bulk_create(objs, *args, **kwargs)

    def bulk_update(self, objs, fields, *args, **kwargs):
        if "content" in fields:
            objs = list(objs)
            for message in objs:
                message.search_text = search_text_of(message.content)
            fields = [*fields, "search_text"]
        return super().bulk_update(objs, fields, *args, **kwargs)


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user", _("user")
        ASSISTANT = "assistant", _("assistant")

    class Status(models.TextChoices):
        STREAMING = "streaming", _("streaming")
        COMPLETE = "complete", _("complete")
        STOPPED = "stopped", _("stopped")
        FAILED = "failed", _("failed")
        INTERRUPTED = "interrupted", _("interrupted")

    conversation = models.ForeignKey(
        Conversation,
        on_delete=models.CASCADE,
        related_name="messages",
        verbose_name=_("conversation"),
    )
    # The message it follows in its branch (decision 70): a user message's parent is the reply
    # it answers (null for a first message), a reply's is its user message. Siblings are
    # versions (regenerated replies, edited messages); deleting one deletes what follows it.
    parent = models.ForeignKey(
        "self",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("follows"),
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.COMPLETE
    )
    # API-shaped content blocks: [{"type": "text", "text": ...}, {"type": "thinking", ...}]
    content = models.JSONField(default=list)
    model = models.CharField(_("model"), max_length=100, blank=True)
    stop_reason = models.CharField(_("stop reason"), max_length=32, blank=True)
    # The stop sequence that ended the reply (stop_reason "stop_sequence"), as the API names it.
    stop_sequence = models.CharField(_("stop sequence"), max_length=500, blank=True)
    # Once the reply has ended: the sum of its calls' charged usage and their cost (decision 73).
    # While it streams: its running call's usage so far (the reaper settles that call from it).
    usage = models.JSONField(_("usage"), default=dict, blank=True)
    cost = MoneyField(_("cost (USD)"), null=True, blank=True)
    error = models.JSONField(_("error"), null=True, blank=True)  # {"code", "detail"}
    client_id = models.CharField(max_length=64, blank=True)
    # The reply's output cap, lowered by the quota admission when the budget is short.
    max_tokens = models.PositiveIntegerField(null=True, blank=True)
    # A reply's request that left out earlier attachments (the API's per-request limits): their
    # ids, so the page can say so.
    attachments_left_out = models.JSONField(default=list, blank=True)
    # Streaming bookkeeping: the last delta seq in `content`, and when the owning process
    # last wrote (a stale heartbeat means that process died).
    seq = models.PositiveIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    # Its visible words, normalised, for search (decision 84): written with `content` by
    # save(), the bulk writes and the streaming checkpoint; a pg_trgm index on PostgreSQL.
    search_text = models.TextField(_("search text"), blank=True, default="", editable=False)

    objects = MessageQuerySet.as_manager()

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["id"]
        indexes = [
            models.Index(fields=["conversation", "id"]),
            models.Index(
                fields=["heartbeat_at"],
                name="streaming_heartbeat",
                condition=models.Q(status="streaming"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role} #{self.pk}"

    def save(self, *args, **kwargs) -> None:
        update_fields = kwargs.get("update_fields")
        if update_fields is None or "content" in update_fields:
            self.search_text = search_text_of(self.content)
            if update_fields is not None:
                kwargs["update_fields"] = [*update_fields, "search_text"]
        super().save(*args, **kwargs)

    def insert_in(self, batch, name: str) -> None:
        """Add this new message's INSERT to a WriteBatch (accounts/write_batch.py), with its
        search text, as save() would store it."""
        self.search_text = search_text_of(self.content)
        batch.insert(name, self)

    @property
    def text(self) -> str:
        return "".join(b.get("text", "") for b in self.content if b.get("type") == "text")


class Preset(models.Model):
    """Saved chat settings under a name: a member's own, or the team's (no owner, staff-made)."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="presets",
        verbose_name=_("owner"),
        help_text=_("Empty: a team preset, offered to everyone."),
    )
    name = models.CharField(_("name"), max_length=100)
    model = models.CharField(_("model"), max_length=100)
    system_prompt = models.TextField(_("system prompt"), blank=True)
    # The same keys as Conversation.settings.
    settings = models.JSONField(_("settings"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("preset")
        verbose_name_plural = _("presets")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "name"],
                condition=models.Q(owner__isnull=False),
                name="one_preset_name_per_owner",
            ),
            models.UniqueConstraint(
                fields=["name"], condition=models.Q(owner__isnull=True), name="one_team_preset_name"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_team(self) -> bool:
        return self.owner_id is None


def _price(verbose_name: str, **kwargs) -> models.DecimalField:
    return models.DecimalField(verbose_name, max_digits=12, decimal_places=6, **kwargs)


class CatalogModel(models.Model):
    """A model users may chat with, with its limits and its prices per million tokens."""

    model_id = models.CharField(_("API model id"), max_length=100, unique=True)
    display_name = models.CharField(_("display name"), max_length=100)
    enabled = models.BooleanField(_("enabled"), default=False)
    is_default = models.BooleanField(_("default"), default=False)
    is_title_model = models.BooleanField(
        _("writes titles"),
        default=False,
        help_text=_(
            "Names new conversations after their first reply (a small, cheap model). "
            "One model at most; none: chats keep their first words as title."
        ),
    )
    context_window = models.PositiveIntegerField(_("context window"), default=200_000)
    max_output_tokens = models.PositiveIntegerField(_("max output tokens"), default=8192)
    # What goes upstream (decision 59): the official API knows no "-thinking" ids, so such a
    # row names its base model here and thinks through `thinking_budget`; a gateway that knows
    # the id gets it as it is (blank here, budget 0).
    upstream_model_id = models.CharField(
        _("upstream model id"),
        max_length=100,
        blank=True,
        help_text=_("The id sent to the API. Blank: the API model id."),
    )
    thinking_budget = models.PositiveIntegerField(
        _("thinking budget"),
        default=0,
        help_text=_(
            "Extended thinking on every reply, with this budget in tokens (at least 1024). "
            "0: only when a conversation turns it on."
        ),
    )
    supports_thinking = models.BooleanField(
        _("extended thinking"),
        default=False,
        help_text=_("Conversations may turn extended thinking on for this model."),
    )
    supports_vision = models.BooleanField(_("images"), default=True)
    supports_pdf = models.BooleanField(_("PDF"), default=True)
    price_input = _price(_("input $/MTok"), default=Decimal(0))
    price_output = _price(_("output $/MTok"), default=Decimal(0))
    price_cache_write = _price(_("cache write $/MTok"), default=Decimal(0))
    price_cache_read = _price(_("cache read $/MTok"), default=Decimal(0))
    # Some models bill every token of a request at higher rates once its prompt passes a
    # threshold; blank means no such tier.
    long_prompt_threshold = models.PositiveIntegerField(
        _("long-prompt threshold (tokens)"), null=True, blank=True
    )
    long_price_input = _price(_("long-prompt input $/MTok"), null=True, blank=True)
    long_price_output = _price(_("long-prompt output $/MTok"), null=True, blank=True)
    long_price_cache_write = _price(_("long-prompt cache write $/MTok"), null=True, blank=True)
    long_price_cache_read = _price(_("long-prompt cache read $/MTok"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("model")
        verbose_name_plural = _("model catalog")
        ordering = ["display_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=models.Q(is_default=True), name="one_default_model"
            ),
            models.UniqueConstraint(
                fields=["is_title_model"],
                condition=models.Q(is_title_model=True),
                name="one_title_model",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name or self.model_id

    def clean(self) -> None:
        # The API refuses a smaller budget (api_rules): say so here, not on every send.
        if 0 < self.thinking_budget < 1024:
            raise ValidationError(
                {"thinking_budget": _("A thinking budget is at least 1024 tokens (0: none).")}
            )

    @property
    def upstream_id(self) -> str:
        """The model id the API is sent."""
        return self.upstream_model_id or self.model_id

    def pricing(self) -> PriceList:
        """Its prices as plain values: accounts.pricing does every cost computation."""
        return PriceList.from_snapshot({name: getattr(self, name) for name in SNAPSHOT_FIELDS})


def new_share_token() -> str:
    """256 random bits, URL-safe: a share link cannot be guessed or enumerated."""
    return secrets.token_urlsafe(32)


class Share(models.Model):
    """A read-only link to a frozen snapshot of a conversation.

    The snapshot is a copy (JSON), not a view of the live messages: later messages appear
    only when the owner updates the link. Deleting the conversation deletes its links
    (CASCADE), so their tokens then give the same 404 as unknown ones.
    """

    class Visibility(models.TextChoices):
        ANYONE = "anyone", _("Anyone with the link")
        MEMBERS = "members", _("Signed-in members only")

    conversation = models.ForeignKey(
        Conversation,
        on_delete=models.CASCADE,
        related_name="shares",
        verbose_name=_("conversation"),
    )
    token = models.CharField(
        _("token"), max_length=64, unique=True, default=new_share_token, editable=False
    )
    visibility = models.CharField(
        _("visibility"), max_length=16, choices=Visibility.choices, default=Visibility.ANYONE
    )
    include_system_prompt = models.BooleanField(_("include the system prompt"), default=False)
    include_attachments = models.BooleanField(_("include attachments"), default=False)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    # When the snapshot was taken: at creation, then at each update by the owner.
    updated_at = models.DateTimeField(_("snapshot taken"), default=timezone.now)
    view_count = models.PositiveIntegerField(_("views"), default=0)
    # The frozen snapshot: the title, the system prompt (only if included) and
    # {"messages": [{"role", "status", "content", "created_at"}], "attachments": [...]}.
    title = models.CharField(_("title"), max_length=200, blank=True)
    system_prompt = models.TextField(_("system prompt"), blank=True)
    snapshot = models.JSONField(_("snapshot"), default=dict, blank=True)

    class Meta:
        verbose_name = _("shared link")
        verbose_name_plural = _("shared links")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.title or str(_("New chat"))

    def get_absolute_url(self) -> str:
        return reverse("shared", args=[self.token])

    def is_live(self, now=None) -> bool:
        """Not revoked and not expired: the token opens the snapshot."""
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    @property
    def snapshot_messages(self) -> list[dict]:
        return self.snapshot.get("messages", [])

    @property
    def snapshot_attachments(self) -> list[dict]:
        return self.snapshot.get("attachments", [])


def attachment_path(instance: "Attachment", filename: str) -> str:
    """One stored file per user and content: identical bytes from one user share it."""
    return f"attachments/{instance.user_id}/{instance.sha256}"


class Attachment(models.Model):
    """A file (or an image URL) a user attached: unsent until a message carries it.

    Each upload is its own row; rows of one user with the same bytes share one stored file,
    which is deleted when no row names it any more (conversations/attachments.py).
    """

    class Kind(models.TextChoices):
        IMAGE = "image", _("image")
        PDF = "pdf", _("PDF")
        TEXT = "text", _("text file")
        IMAGE_URL = "image_url", _("image URL")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="attachments",
        verbose_name=_("user"),
    )
    conversation = models.ForeignKey(
        Conversation,
        on_delete=models.CASCADE,
        related_name="attachments",
        null=True,
        blank=True,
        verbose_name=_("conversation"),
    )
    message = models.ForeignKey(
        Message,
        on_delete=models.CASCADE,
        related_name="attachments",
        null=True,
        blank=True,
        verbose_name=_("message"),
    )
    name = models.CharField(_("name"), max_length=255)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    # Found from the bytes, never from the name or the browser; empty for an image URL.
    media_type = models.CharField(_("media type"), max_length=100, blank=True)
    size = models.PositiveBigIntegerField(_("size"), default=0)
    sha256 = models.CharField(_("SHA-256"), max_length=64, blank=True)
    width = models.PositiveIntegerField(_("width"), null=True, blank=True)
    height = models.PositiveIntegerField(_("height"), null=True, blank=True)
    pages = models.PositiveIntegerField(_("pages"), null=True, blank=True)
    file = models.FileField(_("file"), upload_to=attachment_path, max_length=200, blank=True)
    # An image by URL: sent upstream as a `url` source, never fetched by this server.
    source_url = models.URLField(_("URL"), max_length=2000, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering = ["id"]
        indexes = [
            models.Index(fields=["file"]),
            models.Index(
                fields=["created_at"],
                name="unsent_attachment_created",
                condition=models.Q(message__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("attachment", args=[self.pk])
