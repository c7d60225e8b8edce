// Live cost: while a reply streams, its cost so far under it and beside the quota meter,
// estimated from the text streamed at the prices it was admitted at (message.created's
// `prices`), then the charge once it settles (decision 91). chat.js calls start, update, settle.
(function () {
  "use strict";

  const gettext = window.gettext || ((s) => s);
  const interpolate = (text, values) => (window.interpolate ? window.interpolate(text, values, true) : text);
  const MILLION = 1e6;
  const FIELDS = { text: "text", thinking: "thinking", tool_use: "partial_json" };

  // Output tokens from text: about four characters a token in English, about one in Japanese
  // (and other scripts outside ASCII). Rough, and never charged: the settled charge replaces it.
  function tokensOf(text) {
    let ascii = 0;
    let other = 0;
    for (const ch of text) {
      if (ch.charCodeAt(0) < 128) ascii += 1;
      else other += 1;
    }
    return ascii / 4 + other;
  }

  // What the reply has streamed that the model wrote and bills as output: text, thinking and
  // tool input (tool results are ours, sent as the next round's input).
  function streamedTokens(m) {
    return (m.blocks || []).reduce((sum, block) => {
      const field = block && FIELDS[block.type];
      if (!field) return sum;
      const value = block[field] ?? (block.type === "tool_use" && block.input ? JSON.stringify(block.input) : "");
      return sum + tokensOf(value || "");
    }, 0);
  }

  function money(value) {
    return window.chatsiteActions ? window.chatsiteActions.formatCost(value) : "$" + value.toFixed(4);
  }

  function headerEl() {
    return document.getElementById("live-cost");
  }

  // The reply was admitted: what it costs from here on is estimated. `payload.cost`: what a
  // continued reply's earlier calls were charged; its text so far is not streamed again.
  function start(m, payload) {
    const prices = payload && payload.prices;
    if (!prices || m.role !== "assistant" || payload.status !== "streaming") return;
    m.live = {
      rates: { input: Number(prices.input) || 0, output: Number(prices.output) || 0 },
      promptTokens: Number(prices.prompt_tokens) || 0,
      charged: Number(payload.cost) || 0,
      before: streamedTokens(m),
      shown: null,
    };
    update(m);
  }

  function estimate(m) {
    const live = m.live;
    const output = Math.max(0, streamedTokens(m) - live.before);
    return live.charged + (live.promptTokens * live.rates.input + output * live.rates.output) / MILLION;
  }

  // New deltas were drawn (chat.js's animation frame): the estimate follows them.
  function update(m) {
    if (!m.live || m.status !== "streaming") return;
    const cost = estimate(m);
    const text = money(cost);
    footer(m, text);
    if (text !== m.live.shown) {
      m.live.shown = text;
      header(interpolate(gettext("This reply: about %(cost)s so far"), { cost: text }), true);
      meter(cost);
    }
  }

  // The reply ended: the charge replaces the estimate (the meter itself is reloaded by chat.js).
  function settle(m) {
    if (!m.live) return;
    m.live = null;
    m.el.querySelector(".live-cost")?.remove();
    const cost = money(m.cost);
    if (cost) header(interpolate(gettext("This reply: %(cost)s"), { cost }), false);
    else header("", false);
  }

  // Under the reply, beside its model (static/js/actions.js draws that row and may redraw it).
  function footer(m, text) {
    const row = m.el.querySelector(":scope > .message-actions");
    if (!row) return;
    let el = row.querySelector(".live-cost");
    if (!el) {
      el = row.appendChild(document.createElement("span"));
      el.className = "live-cost";
      el.dataset.estimate = "true";
      el.title = gettext("Estimated from the text streamed so far at the model's prices; replaced by the charge when the reply ends.");
    }
    el.textContent = interpolate(gettext("about %(cost)s so far"), { cost: text });
  }

  function header(text, estimated) {
    const el = headerEl();
    if (!el) return;
    el.textContent = text;
    el.hidden = !text;
    el.dataset.estimate = estimated ? "true" : "false";
  }

  // The quota meter's bar moves with the estimate: what was spent when the meter was drawn
  // (charges only: an open hold is a worst case, not a cost) plus this reply so far.
  function meter(cost) {
    const bar = document.querySelector("#quota-meter meter[data-allowance-cost]");
    if (!bar) return;
    const allowance = Number(bar.dataset.allowanceCost);
    if (allowance > 0) bar.value = Math.min(1, (Number(bar.dataset.spentCost) + cost) / allowance);
  }

  window.chatsiteLiveCost = { start, update, settle, tokensOf };
})();
