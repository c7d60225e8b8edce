// The sidebar's organising (decision 86): its forms posted in place, the inline folder picker,
// confirmation of bulk delete, and folders and the archived list kept open or shut across
// refreshes. Without this file every action is a plain form and still works.
(function () {
  "use strict";
  const container = document.getElementById("conversation-list");
  if (!container) return;
  const COLLAPSED = "chatsite.sidebar.collapsedFolders";
  const ARCHIVED_OPEN = "chatsite.sidebar.archivedOpen";

  function currentId() {
    const match = location.pathname.match(/^\/c\/(\d+)\/$/);
    return match ? match[1] : "";
  }

  function collapsed() {
    try {
      return new Set(JSON.parse(localStorage.getItem(COLLAPSED) || "[]"));
    } catch (e) {
      return new Set();
    }
  }

  function restoreOpenState() {
    const shut = collapsed();
    container.querySelectorAll("details.folder").forEach((folder) => {
      folder.open = !shut.has(folder.dataset.folderId);
    });
    const archived = container.querySelector("details.archived-view");
    if (archived) archived.open = sessionStorage.getItem(ARCHIVED_OPEN) === "1";
  }

  function remember(details) {
    if (details.matches("details.folder")) {
      const shut = collapsed();
      if (details.open) shut.delete(details.dataset.folderId);
      else shut.add(details.dataset.folderId);
      localStorage.setItem(COLLAPSED, JSON.stringify([...shut]));
    } else if (details.matches("details.archived-view")) {
      sessionStorage.setItem(ARCHIVED_OPEN, details.open ? "1" : "0");
    }
  }

  function showError(text) {
    const root = container.querySelector(".sidebar-organise") || container;
    let box = root.querySelector(".sidebar-error");
    if (!box) {
      box = document.createElement("p");
      box.className = "sidebar-error";
      box.setAttribute("role", "alert");
      root.insertBefore(box, root.querySelector(".bulk-bar").nextSibling);
    }
    box.textContent = text;
  }

  function swap(html) {
    container.innerHTML = html;
    restoreOpenState();
  }

  function post(url, body) {
    body.set("current", currentId());
    return fetch(url, {
      method: "POST",
      body,
      credentials: "same-origin",
      headers: { "HX-Request": "true" },
    })
      .then((response) => {
        const redirect = response.headers.get("HX-Redirect");
        if (redirect) {
          location.assign(redirect);
          return;
        }
        // 400 is a refusal with its reason in the sidebar; anything else is not ours to show.
        if (!response.ok && response.status !== 400) throw new Error(String(response.status));
        return response.text().then(swap);
      })
      .catch(() => showError(gettext("That did not work. Reload the page and try again.")));
  }

  function confirmBulkDelete() {
    const count = container.querySelectorAll(".select-box:checked").length;
    if (!count) return true; // the server says to select something
    const text = ngettext(
      "Delete this conversation and all its messages? This cannot be undone.",
      "Delete these %s conversations and all their messages? This cannot be undone.",
      count,
    );
    return window.confirm(interpolate(text, [count]));
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!container.contains(form)) return;
    const submitter = event.submitter;
    // getAttribute: the bulk form's buttons are named "action", which shadows form.action.
    const url = submitter && submitter.hasAttribute("formaction")
      ? submitter.formAction
      : new URL(form.getAttribute("action") || location.href, location.href).href;
    const body = new FormData(form, submitter);
    if (form.id === "sidebar-bulk" && body.get("action") === "delete") {
      if (!confirmBulkDelete()) {
        event.preventDefault();
        return;
      }
      body.set("confirm", "1");
    }
    event.preventDefault();
    post(url, body);
  });

  // "Move to folder…": a picker in place of the link; choosing posts at once.
  container.addEventListener("click", (event) => {
    const link = event.target.closest("a.move-link");
    if (!link) return;
    const choices = container.querySelector("#sidebar-folder-choices");
    if (!choices) return;
    event.preventDefault();
    const item = link.closest(".conversation-item");
    const picker = choices.cloneNode(true);
    picker.removeAttribute("id");
    picker.hidden = false;
    picker.value = item.dataset.folder || "";
    picker.addEventListener("change", () => {
      const body = new FormData(container.querySelector("#sidebar-act"));
      body.set("folder", picker.value);
      post(link.href, body);
    });
    link.replaceWith(picker);
    picker.focus();
  });

  // <details> toggles do not bubble: listen in the capture phase.
  document.addEventListener(
    "toggle",
    (event) => {
      if (container.contains(event.target)) remember(event.target);
    },
    true,
  );

  // One "⋯" menu open at a time; a click elsewhere or Escape shuts it.
  document.addEventListener("click", (event) => {
    // The path, not contains(): the "Move to folder…" link is gone from the page by now.
    const path = event.composedPath();
    container.querySelectorAll("details.item-menu[open]").forEach((menu) => {
      if (!path.includes(menu)) menu.open = false;
    });
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    container.querySelectorAll("details.item-menu[open]").forEach((menu) => {
      menu.open = false;
      menu.querySelector("summary").focus();
    });
  });

  // What the member is in the middle of: a refresh must not throw it away.
  function unfinished() {
    const newFolder = container.querySelector("details.new-folder");
    const selectMode = container.querySelector("#sidebar-select-mode");
    const focused = container.contains(document.activeElement) ? document.activeElement.id : "";
    return {
      newFolder: newFolder && newFolder.open ? newFolder.querySelector("input[name=name]").value : null,
      selecting: Boolean(selectMode && selectMode.checked),
      checked: [...container.querySelectorAll(".select-box:checked")].map((box) => box.value),
      focused,
    };
  }

  function carryOn(work) {
    const newFolder = container.querySelector("details.new-folder");
    if (newFolder && work.newFolder !== null) {
      newFolder.open = true;
      newFolder.querySelector("input[name=name]").value = work.newFolder;
    }
    const selectMode = container.querySelector("#sidebar-select-mode");
    if (selectMode) selectMode.checked = work.selecting;
    container.querySelectorAll(".select-box").forEach((box) => {
      box.checked = work.checked.includes(box.value);
    });
    const focus = work.focused && document.getElementById(work.focused);
    if (focus) focus.focus();
  }

  // chat.js and htmx refresh the list after a reply or a rename: keep the member's place.
  let work = null;
  document.body.addEventListener("htmx:beforeSwap", (event) => {
    if (event.target === container) work = unfinished();
  });
  document.body.addEventListener("htmx:afterSwap", (event) => {
    if (event.target !== container) return;
    restoreOpenState();
    if (work) carryOn(work);
    work = null;
  });
  restoreOpenState();
})();
