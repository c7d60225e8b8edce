// The chat settings panel and presets: fills the form, saves it, shows the server's errors
// beside their fields, and hands chat.js what a `send` carries (window.chatsiteSettings).
(function () {
  "use strict";

  const gettext = window.gettext || ((s) => s);
  const interpolate = (fmt, values) => (window.interpolate ? window.interpolate(fmt, values, true) : fmt);
  const stateEl = document.getElementById("settings-state");
  const panel = document.getElementById("settings-panel");
  if (!stateEl || !panel) return;
  const state = JSON.parse(stateEl.textContent);
  const form = document.getElementById("settings-form");
  const toggle = document.getElementById("settings-toggle");
  const statusEl = document.getElementById("settings-status");
  const stopList = document.getElementById("stop-sequences");
  const modelSelect = document.getElementById("model-select");
  const presetSelect = document.getElementById("preset-select");
  const presetForm = document.getElementById("preset-form");
  const presetList = document.getElementById("preset-list");
  const chatState = JSON.parse(document.getElementById("chat-state").textContent);
  const NUMBERS = ["temperature", "top_p", "top_k", "max_tokens"];
  const csrf = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"];

  let conversationId = chatState.conversation ? chatState.conversation.id : null;
  let dirty = false; // edited since loaded or saved: the next send carries the form
  let chosenPreset = null; // a new chat started from a preset

  const field = (name) => document.getElementById("setting-" + name);

  // ---- the form ------------------------------------------------------------------------

  function addStopSequence(value) {
    const row = document.createElement("div");
    row.className = "stop-sequence";
    const input = document.createElement("input");
    input.type = "text";
    input.maxLength = 200;
    input.value = value || "";
    input.setAttribute("aria-label", gettext("Stop sequence"));
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "link";
    remove.textContent = gettext("Remove");
    remove.addEventListener("click", () => {
      row.remove();
      dirty = true;
    });
    row.append(input, remove);
    stopList.appendChild(row);
    return input;
  }

  function fill(settings, systemPrompt) {
    settings = settings || {};
    field("system_prompt").value = systemPrompt || "";
    NUMBERS.forEach((name) => (field(name).value = settings[name] ?? ""));
    stopList.replaceChildren();
    (settings.stop_sequences || []).forEach((s) => addStopSequence(s));
    const thinking = settings.thinking || {};
    field("thinking").checked = !!thinking.enabled;
    field("budget_tokens").value = thinking.budget_tokens ?? "";
    const tools = settings.tools || [];
    panel.querySelectorAll(".tool-switch").forEach((box) => (box.checked = tools.includes(box.value)));
    const choice = settings.tool_choice || { type: "auto" };
    field("tool_choice").value = choice.type === "tool" ? "tool:" + choice.name : choice.type;
    offerToolChoices();
    clearErrors();
  }

  // The tool-use choice only offers tools that are switched on; with none on it has nothing
  // to choose, and a choice that names a tool switched off falls back to "the model decides".
  function offerToolChoices() {
    const on = new Set([...panel.querySelectorAll(".tool-switch:checked")].map((box) => box.value));
    const select = field("tool_choice");
    select.querySelectorAll('option[value^="tool:"]').forEach((option) => {
      option.disabled = option.hidden = !on.has(option.value.slice(5));
    });
    select.disabled = on.size === 0;
    if (select.selectedOptions[0]?.disabled) select.value = "auto";
  }

  function numberOf(name) {
    const raw = field(name).value.trim();
    if (raw === "") return null;
    const value = Number(raw);
    return Number.isFinite(value) ? value : raw; // the server names what is wrong with it
  }

  function collect() {
    const settings = {};
    NUMBERS.forEach((name) => {
      const value = numberOf(name);
      if (value !== null) settings[name] = value;
    });
    const stops = [...stopList.querySelectorAll("input")].map((i) => i.value).filter((v) => v !== "");
    if (stops.length) settings.stop_sequences = stops;
    const budget = numberOf("budget_tokens");
    if (field("thinking").checked || budget !== null) {
      settings.thinking = { enabled: field("thinking").checked };
      if (budget !== null) settings.thinking.budget_tokens = budget;
    }
    const tools = [...panel.querySelectorAll(".tool-switch:checked")].map((box) => box.value);
    if (tools.length) {
      settings.tools = tools;
      const choice = field("tool_choice").value;
      if (choice.startsWith("tool:")) settings.tool_choice = { type: "tool", name: choice.slice(5) };
      else if (choice !== "auto") settings.tool_choice = { type: choice };
    }
    return { settings, system_prompt: field("system_prompt").value };
  }

  function clearErrors() {
    panel.querySelectorAll(".field-error").forEach((el) => {
      el.hidden = true;
      el.textContent = "";
    });
    panel.querySelectorAll(".field.invalid").forEach((el) => el.classList.remove("invalid"));
  }

  function showErrors(fields) {
    clearErrors();
    open(true);
    Object.entries(fields || {}).forEach(([name, message], index) => {
      const box = panel.querySelector(`.field[data-field="${CSS.escape(name)}"]`) || panel.querySelector('.field[data-field="settings"]');
      const el = box.querySelector(".field-error");
      el.textContent = message;
      el.hidden = false;
      box.classList.add("invalid");
      if (index === 0) box.scrollIntoView({ block: "nearest" });
    });
  }

  function setStatus(text) {
    statusEl.textContent = text;
  }

  // ---- the model's limits --------------------------------------------------------------

  function modelInfo() {
    return (modelSelect && state.models[modelSelect.value]) || null;
  }

  function showModelLimits() {
    const info = modelInfo();
    document.getElementById("thinking-field").hidden = !(info && info.thinking);
    const always = !!(info && info.thinking_always);
    const thinking = field("thinking");
    if (always) thinking.checked = true;
    else if (thinking.disabled) thinking.checked = !!(state.settings.thinking || {}).enabled;
    thinking.disabled = always;
    document.getElementById("thinking-always").hidden = !always;
    const hint = document.getElementById("max-tokens-hint");
    if (!info) {
      hint.textContent = "";
      return;
    }
    field("max_tokens").max = info.max_output_tokens;
    let text = interpolate(gettext("Up to %(max)s for this model."), { max: info.max_output_tokens.toLocaleString() });
    if (info.quota_output_tokens !== null) {
      // Admission lowers max_tokens to what the quota covers: say so before it happens.
      text +=
        " " +
        interpolate(gettext("Your quota now covers about %(left)s output tokens; a longer reply is cut to fit."), {
          left: info.quota_output_tokens.toLocaleString(),
        });
    }
    hint.textContent = text;
  }

  // ---- saving --------------------------------------------------------------------------

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
    let data = {};
    try {
      data = await response.json();
    } catch (e) {
      data = {};
    }
    return { ok: response.ok, data };
  }

  function failed(data) {
    const error = data.error || {};
    showErrors(error.fields && Object.keys(error.fields).length ? error.fields : { settings: error.message || gettext("Something went wrong.") });
  }

  async function save() {
    const body = collect();
    if (modelSelect && modelSelect.value) body.model = modelSelect.value;
    setStatus("");
    const url = conversationId ? `/c/${conversationId}/settings/` : "/settings/check/";
    const { ok, data } = await post(url, body);
    if (!ok) return failed(data);
    clearErrors();
    fill(data.settings, data.system_prompt);
    if (conversationId) {
      dirty = false;
      setStatus(gettext("Saved. Used from the next reply on."));
    } else {
      setStatus(gettext("These settings will be used when you send the first message."));
    }
  }

  function open(show) {
    panel.hidden = !show;
    toggle.setAttribute("aria-expanded", String(show));
  }

  // ---- presets -------------------------------------------------------------------------

  function renderPresets() {
    if (presetSelect) {
      presetSelect.querySelectorAll("optgroup").forEach((group) => {
        const team = group.dataset.team === "true";
        group.replaceChildren(
          ...state.presets
            .filter((p) => p.team === team)
            .map((p) => {
              const option = new Option(p.name, String(p.id));
              option.selected = chosenPreset === p.id;
              return option;
            }),
        );
        group.hidden = !group.children.length;
      });
    }
    presetList.replaceChildren(
      ...state.presets.map((p) => {
        const item = document.createElement("li");
        item.dataset.preset = p.id;
        const name = document.createElement("span");
        name.textContent = p.name;
        item.appendChild(name);
        if (p.team) {
          const badge = document.createElement("span");
          badge.className = "badge";
          badge.textContent = gettext("Team");
          item.appendChild(badge);
        }
        if (!p.team || state.is_staff) {
          const remove = document.createElement("button");
          remove.type = "button";
          remove.className = "link";
          remove.textContent = gettext("Delete");
          remove.setAttribute("aria-label", interpolate(gettext("Delete the preset %(name)s"), { name: p.name }));
          remove.addEventListener("click", () => deletePreset(p));
          item.appendChild(remove);
        }
        return item;
      }),
    );
  }

  function applyPreset(preset) {
    chosenPreset = preset ? preset.id : null;
    if (!preset) {
      showTeamPrompt("", "");
      return;
    }
    if (modelSelect && [...modelSelect.options].some((o) => o.value === preset.model)) {
      modelSelect.value = preset.model;
      modelSelect.dispatchEvent(new Event("change"));
    }
    // A team preset's prompt goes first as its own block; the member's own starts empty.
    fill(preset.settings, preset.team ? "" : preset.system_prompt);
    showTeamPrompt(preset.team ? preset.system_prompt : "", preset.name);
    dirty = true;
    setStatus(interpolate(gettext("Preset “%(name)s” chosen."), { name: preset.name }));
  }

  function showTeamPrompt(text, name) {
    const box = document.getElementById("team-prompt");
    box.hidden = !text;
    box.querySelector(".team-prompt-name").textContent = name ? `(${name})` : "";
    box.querySelector(".team-prompt-text").textContent = text;
  }

  async function savePreset() {
    const body = collect();
    body.name = document.getElementById("preset-name").value;
    if (modelSelect && modelSelect.value) body.model = modelSelect.value;
    const team = document.getElementById("preset-team");
    body.team = !!(team && team.checked);
    const { ok, data } = await post("/presets/", body);
    if (!ok) return failed(data);
    clearErrors();
    state.presets = state.presets.filter((p) => p.id !== data.preset.id).concat([data.preset]);
    state.presets.sort((a, b) => a.name.localeCompare(b.name));
    renderPresets();
    document.getElementById("preset-name").value = "";
    setStatus(interpolate(gettext("Preset “%(name)s” saved."), { name: data.preset.name }));
  }

  async function deletePreset(preset) {
    const { ok, data } = await post(`/presets/${preset.id}/delete/`, {});
    if (!ok) return failed(data);
    state.presets = state.presets.filter((p) => p.id !== preset.id);
    if (chosenPreset === preset.id) chosenPreset = null;
    renderPresets();
    setStatus(interpolate(gettext("Preset “%(name)s” deleted."), { name: preset.name }));
  }

  // ---- wiring --------------------------------------------------------------------------

  toggle.addEventListener("click", () => open(panel.hidden));
  document.getElementById("settings-close").addEventListener("click", () => open(false));
  document.getElementById("add-stop-sequence").addEventListener("click", () => {
    addStopSequence("").focus();
    dirty = true;
  });
  document.getElementById("settings-reset").addEventListener("click", () => {
    fill({}, "");
    dirty = true;
    setStatus(gettext("Defaults restored: save, or send, to use them."));
  });
  form.addEventListener("input", () => {
    dirty = true;
    setStatus("");
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    save();
  });
  presetForm.addEventListener("submit", (event) => {
    event.preventDefault();
    savePreset();
  });
  if (presetSelect) {
    presetSelect.addEventListener("change", () => {
      applyPreset(state.presets.find((p) => String(p.id) === presetSelect.value) || null);
    });
  }
  if (modelSelect) modelSelect.addEventListener("change", showModelLimits);
  panel.querySelectorAll(".tool-switch").forEach((box) => box.addEventListener("change", offerToolChoices));

  // What chat.js asks before, and tells after, a send.
  document.addEventListener("chat:conversation-created", (event) => {
    conversationId = event.detail.id;
    chosenPreset = null;
    if (presetSelect) presetSelect.closest("label, select").hidden = true;
  });
  document.addEventListener("chat:sent", () => {
    dirty = false;
  });
  window.chatsiteSettings = {
    // The fields a `send` adds: the form when it changed (always for a new chat).
    forSend(forConversation) {
      if (forConversation && !dirty) return {};
      const extra = collect();
      if (!forConversation && chosenPreset !== null) extra.preset = chosenPreset;
      return extra;
    },
    showErrors,
    // Whether the next reply thinks with the model picked (the server decides; this is a hint).
    thinks() {
      return !document.getElementById("thinking-field").hidden && field("thinking").checked;
    },
  };

  fill(state.settings, state.system_prompt);
  showTeamPrompt(state.team_prompt, state.team_preset);
  renderPresets();
  showModelLimits();
})();
