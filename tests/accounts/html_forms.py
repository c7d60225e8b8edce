"""What a browser would submit from a rendered form, so admin tests post exactly the page's form."""

from html.parser import HTMLParser

UNSENT_TYPES = {"submit", "button", "reset", "image", "file"}


class _FormReader(HTMLParser):
    def __init__(self, form_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.inside = False
        self.fields: list[tuple[str, str]] = []
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attr = {name: value if value is not None else "" for name, value in attrs}
        if tag == "form":
            self.inside = attr.get("id") == self.form_id
        if not self.inside or "disabled" in attr:
            return
        name = attr.get("name")
        if tag == "input" and name:
            kind = attr.get("type", "text")
            if kind in UNSENT_TYPES or (kind in {"checkbox", "radio"} and "checked" not in attr):
                return
            self.fields.append((name, attr.get("value", "on" if kind == "checkbox" else "")))
        elif tag == "select" and name:
            self._select, self._options = name, []
            self._multiple = "multiple" in attr
        elif tag == "option" and self._select:
            self._options.append((attr.get("value", ""), "selected" in attr))
        elif tag == "textarea" and name:
            self._textarea = name
            self.fields.append((name, ""))

    def handle_data(self, data: str) -> None:
        if self._textarea:
            name, text = self.fields.pop()
            self.fields.append((name, text + data))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select" and self._select:
            chosen = [value for value, selected in self._options if selected]
            if not chosen and self._options and not self._multiple:
                chosen = [self._options[0][0]]  # a single select sends its first option
            self.fields.extend((self._select, value) for value in chosen)
            self._select = None


def form_data(html: str, form_id: str, **changes: str) -> dict[str, str | list[str]]:
    """The fields of the form `form_id` as a browser would post them, with `changes` applied."""
    reader = _FormReader(form_id)
    reader.feed(html)
    data: dict[str, list[str]] = {}
    for name, value in reader.fields:
        data.setdefault(name, []).append(value)
    posted: dict[str, str | list[str]] = {
        name: values[0] if len(values) == 1 else values for name, values in data.items()
    }
    posted.update(changes)
    return posted
