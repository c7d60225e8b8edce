"""Page object for the chat: the composer, its attachments, the messages and their status."""

import base64
import re
import time

from playwright.sync_api import Locator, Page, expect

STREAM_TIMEOUT_MS = 20_000
CONVERSATION_URL = re.compile(r"/c/(\d+)/$")


def words(n: int) -> str:
    """The reply `!tokens=N` scripts: "w1 w2 … wN"."""
    return " ".join(f"w{i}" for i in range(1, n + 1))


def normalised(text: str) -> str:
    return " ".join(text.split())


class ChatPage:
    def __init__(self, page: Page) -> None:
        self.page = page
        self.input = page.locator("#composer-input")
        self.send_button = page.locator("#send-button")
        self.stop_button = page.locator("#stop-button")
        self.messages = page.locator("#messages")
        self.user_messages = page.locator("#messages article.message.user")
        self.replies = page.locator("#messages article.message.assistant")
        self.sidebar = page.locator("#conversation-list")
        self.file_input = page.locator("#attach-input")
        self.uploads = page.locator("#upload-tray li.upload")
        self.composer_error = page.locator("#composer-error")

    # A file as the browser's own File, built in the page: the clipboard and drag and drop
    # cannot be driven from outside headless Chromium, but their events carry these.
    _FILE_JS = """([b64, name, type]) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const data = new DataTransfer();
        data.items.add(new File([bytes], name, { type }));
        return data;
    }"""

    def file_transfer(self, content: bytes, name: str, media_type: str):
        encoded = base64.b64encode(content).decode()
        return self.page.evaluate_handle(self._FILE_JS, [encoded, name, media_type])

    def paste_file(
        self, content: bytes, name: str, media_type: str, into: Locator | None = None
    ) -> None:
        """Paste a file (into the message box unless `into`), as a screenshot arrives."""
        data = self.file_transfer(content, name, media_type)
        (into or self.input).evaluate(
            """(box, data) => box.dispatchEvent(new ClipboardEvent(
                "paste", { clipboardData: data, bubbles: true, cancelable: true }))""",
            data,
        )

    def drop_file(self, content: bytes, name: str, media_type: str) -> None:
        """Drag a file over the chat and drop it."""
        data = self.file_transfer(content, name, media_type)
        for event in ("dragenter", "dragover", "drop"):
            self.page.dispatch_event("#chat", event, {"dataTransfer": data})

    def attach_files(self, *files: dict) -> None:
        """Pick files with the attach button's file input ({"name", "mimeType", "buffer"})."""
        self.file_input.set_input_files(list(files))

    def wait_for_uploads(self, count: int) -> None:
        """Wait until `count` chips are in the composer and none is still uploading."""
        expect(self.uploads).to_have_count(count)
        uploading = self.page.locator('#upload-tray li.upload[data-status="uploading"]')
        expect(uploading).to_have_count(0)

    def send(self, text: str) -> Locator:
        """Type and press Enter; returns the reply that answers it (the next assistant one)."""
        count = self.replies.count()
        self.input.fill(text)
        self.input.press("Enter")
        reply = self.replies.nth(count)
        expect(reply).to_be_attached()
        return reply

    def wait_until_connected(self) -> None:
        expect(self.page.locator("#connection-status")).to_have_attribute("data-state", "open")

    def conversation_id(self) -> int:
        self.page.wait_for_url(CONVERSATION_URL)
        match = CONVERSATION_URL.search(self.page.url)
        assert match
        return int(match.group(1))

    @staticmethod
    def text_of(reply: Locator) -> str:
        return normalised(reply.locator(".content").inner_text())

    @staticmethod
    def wait_for_status(reply: Locator, status: str, timeout: int = STREAM_TIMEOUT_MS) -> None:
        expect(reply).to_have_attribute("data-status", status, timeout=timeout)

    @staticmethod
    def wait_for_word(reply: Locator, word: str) -> None:
        """Wait until the reply shows `word` as a whole word (e.g. "w40", not "w4")."""
        pattern = re.compile(rf"(^|\s){re.escape(word)}(\s|$)")
        expect(reply.locator(".content")).to_contain_text(pattern, timeout=STREAM_TIMEOUT_MS)

    @classmethod
    def sample_while_streaming(cls, reply: Locator, every: float = 0.15) -> list[int]:
        """Lengths of the reply's text, sampled until it stops streaming."""
        lengths = []
        deadline = time.monotonic() + STREAM_TIMEOUT_MS / 1000
        while time.monotonic() < deadline and reply.get_attribute("data-status") == "streaming":
            lengths.append(len(cls.text_of(reply)))
            # A sampling interval, not a wait for a state: growth over time is what is measured.
            time.sleep(every)
        return lengths


# navigator.clipboard.writeText as the page's copy buttons call it, recorded: headless
# Chromium has no clipboard a test can read back without extra permissions per origin.
RECORD_CLIPBOARD_JS = """
    window.__copied = [];
    if (navigator.clipboard) {
        navigator.clipboard.writeText = (text) => {
            window.__copied.push(text);
            return Promise.resolve();
        };
    }
"""


class ChatThread(ChatPage):
    """The chat with its turns: message actions, versions, the header's title."""

    def __init__(self, page: Page) -> None:
        super().__init__(page)
        self.title = page.locator("#chat-title")
        self.rename_link = page.locator("#chat-rename")
        self.title_input = page.locator("#chat-title-input")
        self.announcer = page.locator("#message-actions-status")

    @staticmethod
    def action(message: Locator, name: str) -> Locator:
        """A message's action button: "copy-message", "regenerate", "edit-message"."""
        return message.locator(f".message-actions .{name}")

    @staticmethod
    def flipper(message: Locator) -> Locator:
        return message.locator(".message-actions .version-flipper")

    @classmethod
    def expect_version(cls, message: Locator, shown: str) -> None:
        """The flipper reads `shown` ("2/3")."""
        expect(cls.flipper(message).locator(".version-label")).to_have_text(shown)

    def click_action(self, message: Locator, name: str) -> None:
        """Hover first, as a mouse user does (on touch the row is always there)."""
        message.hover()
        self.action(message, name).click()

    def flip(self, message: Locator, direction: str) -> None:
        """Press ‹ ("prev") or › ("next") on a message's version flipper."""
        self.flipper(message).locator(f".version-{direction}").click()

    def edit(self, message: Locator, text: str) -> None:
        """Open the inline editor of a user message, replace its words, Save & send."""
        self.click_action(message, "edit-message")
        editor = message.locator(".message-editor textarea")
        expect(editor).to_be_focused()
        editor.fill(text)
        message.locator(".message-editor .editor-save").click()

    def copied(self) -> list[str]:
        return self.page.evaluate("window.__copied || []")

    def message_id(self, message: Locator) -> int:
        return int(message.get_attribute("data-id") or 0)
