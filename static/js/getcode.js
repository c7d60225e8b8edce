// "Get code": the dialog that shows a reply's request as cURL, Python and JavaScript
// (GET /c/<id>/m/<id>/code/, decision 83). actions.js adds the button; this module owns the
// <dialog> the chat page renders (#get-code).
(function () {
  "use strict";

  const gettext = window.gettext || ((s) => s);
  const LANGUAGES = ["curl", "python", "javascript"];
  let dialog = null;
  let code = null; // the view's answer for the reply shown
  let language = "curl";
  let opener = null;
  let loading = 0; // a newer request wins over a late answer to an older one

  function part(name) {
    return dialog.querySelector(".get-code-" + name);
  }

  function tabs() {
    return [...dialog.querySelectorAll('[role="tab"]')];
  }

  function show(lang) {
    language = lang;
    for (const tab of tabs()) {
      const selected = tab.dataset.lang === lang;
      tab.setAttribute("aria-selected", String(selected));
      tab.tabIndex = selected ? 0 : -1;
      if (selected) part("panel").setAttribute("aria-labelledby", tab.id);
    }
    part("text").textContent = code ? code[lang] : "";
  }

  function showError(text) {
    const error = part("error");
    error.textContent = text;
    error.hidden = !text;
  }

  function elidedNote(elided) {
    const notes = [];
    if (elided.includes("signature")) notes.push(gettext("Thinking signatures are left out."));
    if (elided.includes("attachment")) notes.push(gettext("Attachments over 4 KB are left out: put their data where the code says [ELIDED]."));
    const note = part("elided");
    note.textContent = notes.join(" ");
    note.hidden = !notes.length;
  }

  function conversationId() {
    const match = location.pathname.match(/\/c\/(\d+)\//);
    return match ? match[1] : null;
  }

  function open(messageId, from) {
    setUp();
    opener = from || null;
    code = null;
    showError("");
    elidedNote([]);
    part("status").textContent = "";
    part("copy").disabled = true;
    show(language);
    part("text").textContent = gettext("Loading…");
    if (!dialog.open) dialog.showModal();
    tabs().find((tab) => tab.dataset.lang === language).focus();
    const conversation = conversationId();
    const ticket = ++loading;
    fetch("/c/" + conversation + "/m/" + messageId + "/code/", { headers: { accept: "application/json" }, credentials: "same-origin" })
      .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
      .then((answer) => {
        if (ticket !== loading) return;
        code = answer;
        show(language);
        elidedNote(answer.elided || []);
        part("copy").disabled = false;
      })
      .catch(() => {
        if (ticket !== loading) return;
        part("text").textContent = "";
        showError(gettext("The code could not be loaded. Reload the page and try again."));
      });
  }

  function copy() {
    if (!code) return;
    window.chatsiteRender.copyText(code[language]).then(
      () => (part("status").textContent = gettext("Copied")),
      () => showError(gettext("The browser did not allow copying to the clipboard.")),
    );
  }

  function onTabKey(event) {
    const index = LANGUAGES.indexOf(language);
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    let next = null;
    if (step) next = LANGUAGES[(index + step + LANGUAGES.length) % LANGUAGES.length];
    else if (event.key === "Home") next = LANGUAGES[0];
    else if (event.key === "End") next = LANGUAGES[LANGUAGES.length - 1];
    if (!next) return;
    event.preventDefault();
    show(next);
    tabs().find((tab) => tab.dataset.lang === next).focus();
  }

  // Tab and Shift+Tab go round the dialog's own controls: a modal <dialog> would let them out
  // to the browser's address bar.
  function trapFocus(event) {
    if (event.key !== "Tab") return;
    const focusable = [...dialog.querySelectorAll('button:not(:disabled), a[href], [tabindex="0"]')].filter(
      (el) => el.offsetParent !== null,
    );
    if (!focusable.length) return;
    const first = focusable[0];
    const last = focusable[focusable.length - 1];
    if (event.shiftKey && document.activeElement === first) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first.focus();
    }
  }

  function setUp() {
    if (dialog) return;
    dialog = document.getElementById("get-code");
    for (const tab of tabs()) {
      tab.addEventListener("click", () => show(tab.dataset.lang));
      tab.addEventListener("keydown", onTabKey);
    }
    part("copy").addEventListener("click", copy);
    part("close").addEventListener("click", () => dialog.close());
    dialog.addEventListener("keydown", trapFocus);
    // Escape closes a modal <dialog> by itself; the focus goes back to the button that opened it.
    dialog.addEventListener("close", () => {
      loading++;
      if (opener && opener.isConnected) opener.focus();
    });
  }

  window.chatsiteGetCode = {
    available: () => Boolean(document.getElementById("get-code")),
    open,
  };
})();
