// Koho playground: one page, no build step. Everything shown is built with DOM nodes and
// textContent — never innerHTML — because message text (citizens' comments) is untrusted.
"use strict";

const T = {
  ja: {
    sandbox: "ローカル・サンドボックス（Slack ではありません）", i_am: "自分:", reset: "リセット",
    channels: "チャンネル", apps: "アプリ", tools: "ツール", dm_with_koho: "Koho（DM）", app_home: "Koho ホーム",
    citizen_comment: "市民の声を送る（Webhook）", send: "送信", cancel: "キャンセル", close: "閉じる",
    composer: "メッセージ、または /propose-post などのコマンド", composer_dm: "DM は読むだけです（コマンドは使えます）",
    only_you: "あなただけに表示されています", edited: "（編集済み）", more: "その他の操作", shortcuts: "ショートカット",
    required: "この項目は必須です", optional: "（任意）", select: "選択してください", empty: "まだメッセージはありません。",
    home_empty: "ホームはまだ表示されていません。", reset_confirm: "プレイグラウンドのデータベースとメッセージをすべて消して、最初からやり直しますか？",
    reset_done: "リセットしました。", comment_intro: "監視ツールと同じように、署名付き Webhook（POST /webhooks/comments）で市民の声を Koho に送ります。",
    comment_source: "経路", comment_account: "アカウント（任意）", comment_author: "投稿者（任意）", comment_url: "URL（任意）",
    comment_text: "本文", comment_send: "署名して送信", none: "（なし）", staff: "{d} 職員", department_approver: "{d} 所属長",
    pr_approver: "{d} 承認者", on_call: "緊急時当番", admin: "管理者", bot_refused: "Koho が応答しませんでした: ",
    invalid_blocks: "Slack ならこの Block Kit を拒否します: ", unknown_command: "Koho にないコマンドです: ",
    empty_message: "何か入力してください。", dm_read_only: "Koho との DM には書き込めません。", error: "エラー: ",
    hint: "コマンド:", thread: "スレッドの返信",
  },
  en: {
    sandbox: "Local sandbox (this is not Slack)", i_am: "I am:", reset: "Reset",
    channels: "Channels", apps: "Apps", tools: "Tools", dm_with_koho: "Koho (DM)", app_home: "Koho Home",
    citizen_comment: "Send a citizen comment (webhook)", send: "Send", cancel: "Cancel", close: "Close",
    composer: "A message, or a command such as /propose-post", composer_dm: "The DM is read-only (commands work)",
    only_you: "Only visible to you", edited: "(edited)", more: "More actions", shortcuts: "Shortcuts",
    required: "This field is required", optional: "(optional)", select: "Select an item", empty: "No messages yet.",
    home_empty: "The Home tab has not been published yet.", reset_confirm: "Delete the playground's database and every message, and start again?",
    reset_done: "Reset done.", comment_intro: "Send Koho a citizen comment through the signed webhook (POST /webhooks/comments), as a monitoring tool does.",
    comment_source: "Source", comment_account: "Account (optional)", comment_author: "Author (optional)", comment_url: "URL (optional)",
    comment_text: "Text", comment_send: "Sign and send", none: "(none)", staff: "Staff, {d}", department_approver: "Head, {d}",
    pr_approver: "Approver, {d}", on_call: "Emergency on-call", admin: "Admin", bot_refused: "Koho did not answer: ",
    invalid_blocks: "Slack would reject this Block Kit: ", unknown_command: "Koho has no such command: ",
    empty_message: "Type something first.", dm_read_only: "The DM with Koho is read-only.", error: "Error: ",
    hint: "Commands:", thread: "Thread replies",
  },
};
const EMOJI = { rotating_light: "🚨", white_check_mark: "✅", pause_button: "⏸️", warning: "⚠️", alarm_clock: "⏰",
  no_entry_sign: "🚫", memo: "📝", leftwards_arrow_with_hook: "↩️", heavy_minus_sign: "➖", checkered_flag: "🏁", x: "❌",
  no_entry: "⛔", test_tube: "🧪", point_right: "👉", mega: "📣", inbox_tray: "📥", arrow_forward: "▶️",
  white_large_square: "⬜", tada: "🎉", speech_balloon: "💬", sos: "🆘", repeat: "🔁", pencil: "📝", ok: "🆗", mag: "🔍",
  lock: "🔒", link: "🔗", incoming_envelope: "📨", hourglass_flowing_sand: "⏳", hourglass: "⌛", eyes: "👀", bulb: "💡",
  bell: "🔔", arrow_right: "➡️" };

const state = { lang: localStorage.getItem("koho.lang") || "ja", me: localStorage.getItem("koho.me") || "",
  channel: localStorage.getItem("koho.channel") || "", dir: null, snapshot: null, revision: 0,
  poll: null, shownMessages: "", shownHome: "", modalKey: "", modalMissing: {} };

const $ = (id) => document.getElementById(id);
function t(key, d) { const s = (T[state.lang] || T.ja)[key] ?? key; return d === undefined ? s : s.replace("{d}", d); }
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}

// ---- talking to the playground ----------------------------------------------------------

async function api(path, body) {
  const res = await fetch("/ui/" + path, body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ user: state.me, ...body }) });
  let data = {};
  try { data = await res.json(); } catch (e) { data = {}; }
  if (!res.ok) { toast((t(data.error) === data.error ? t("error") + data.error : t(data.error)) + (data.detail ? " " + data.detail : ""), true); throw new Error(data.error || res.status); }
  return data;
}

function toast(text, bad) {
  const node = el("div", { class: "toast" + (bad ? " bad" : ""), role: "status" }, text);
  $("toasts").append(node);
  setTimeout(() => node.remove(), 6000);
}

async function refresh(wait) {
  if (state.poll) state.poll.abort();
  const controller = new AbortController();
  state.poll = controller;
  const channel = state.channel;
  const query = new URLSearchParams({ user: state.me, channel, since: wait ? String(state.revision) : "0" });
  try {
    const res = await fetch("/ui/state?" + query, { signal: controller.signal });
    const snap = await res.json();
    if (controller.signal.aborted) return;
    if (!res.ok) throw new Error(snap.error);
    state.revision = snap.revision;
    state.snapshot = snap;
    render(snap);
  } catch (e) {
    if (controller.signal.aborted) return;
    await new Promise((r) => setTimeout(r, 1000));
    // The same again: a view not shown yet is fetched, not waited for (a long poll waits for a change).
    if (state.poll === controller) setTimeout(() => refresh(wait), 0);
    return;
  }
  if (state.poll === controller) setTimeout(() => refresh(true), 0);
}

// ---- mrkdwn -------------------------------------------------------------------------------

function decode(s) { return s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&"); }
function safeUrl(url) { return /^(https?:|mailto:)/i.test(url) ? url : null; }
function personName(id) {
  const p = state.dir && state.dir.people.find((x) => x.id === id);
  if (id === (state.dir && state.dir.bot_user)) return "koho";
  return p ? id : id;
}

function mrkdwn(text, plainOnly) {
  const frag = document.createDocumentFragment();
  if (!text) return frag;
  if (plainOnly) { appendLines(frag, text); return frag; }
  const parts = text.split(/```/);
  parts.forEach((part, i) => {
    if (i % 2 === 1) frag.append(el("pre", { class: "code" }, decode(part.replace(/^\n/, ""))));
    else {
      part.split("\n").forEach((line, j) => {
        if (j > 0) frag.append(el("br"));
        if (line.startsWith("&gt;") || line.startsWith(">")) {
          const q = el("blockquote"); inline(line.replace(/^(&gt;|>) ?/, ""), q); frag.append(q);
        } else inline(line, frag);
      });
    }
  });
  return frag;
}
function appendLines(parent, text) {
  text.split("\n").forEach((line, j) => { if (j > 0) parent.append(el("br")); parent.append(line); });
}
function emojify(s) { return s.replace(/:([a-z0-9_+-]+):/g, (m, name) => EMOJI[name] || m); }

// Inline mrkdwn: <links|and mentions>, `code`, then *bold* _italic_ ~strike~ (nested), text nodes only.
function inline(line, parent) {
  const re = /<([^<>]+)>|`([^`]+)`/g;
  let last = 0, m;
  while ((m = re.exec(line))) {
    if (m.index > last) styled(line.slice(last, m.index), parent);
    if (m[2] !== undefined) parent.append(el("code", {}, decode(m[2])));
    else parent.append(special(m[1]));
    last = re.lastIndex;
  }
  if (last < line.length) styled(line.slice(last), parent);
}
function special(inner) {
  const [target, label] = inner.split("|", 2);
  if (target.startsWith("@")) return el("span", { class: "mention", "data-user": target.slice(1) }, "@" + (label || personName(target.slice(1))));
  if (target.startsWith("#")) {
    const ch = state.dir && state.dir.channels.find((c) => c.id === target.slice(1));
    return el("span", { class: "mention" }, "#" + (label || (ch ? ch.name : target.slice(1))));
  }
  if (target.startsWith("!")) return el("span", { class: "mention" }, "@" + (label || target.slice(1).split("^")[0]));
  const url = safeUrl(decode(target));
  if (!url) return document.createTextNode(decode(label || target));
  return el("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, decode(label || target));
}
function styled(text, parent) {
  const re = /(^|[^\w*])\*([^*\n]+)\*(?=$|[^\w*])|(^|[^\w_])_([^_\n]+)_(?=$|[^\w_])|(^|[^\w~])~([^~\n]+)~(?=$|[^\w~])/;
  const m = re.exec(text);
  if (!m) { parent.append(emojify(decode(text))); return; }
  const lead = m[1] ?? m[3] ?? m[5] ?? "";
  const inner = m[2] ?? m[4] ?? m[6];
  const tag = m[2] !== undefined ? "b" : m[4] !== undefined ? "i" : "s";
  parent.append(emojify(decode(text.slice(0, m.index) + lead)));
  const node = el(tag); styled(inner, node); parent.append(node);
  styled(text.slice(m.index + m[0].length), parent);
}
function textObject(obj) {
  if (!obj) return document.createDocumentFragment();
  return obj.type === "mrkdwn" ? mrkdwn(obj.text) : mrkdwn(emojify(obj.text || ""), true);
}
function plain(obj) { return obj ? emojify(obj.text || "") : ""; }

// ---- Block Kit ----------------------------------------------------------------------------

function renderBlocks(blocks, ctx) {
  const wrap = el("div", { class: "blocks" });
  for (const b of blocks || []) wrap.append(renderBlock(b, ctx));
  return wrap;
}

function renderBlock(b, ctx) {
  const id = b.block_id;
  switch (b.type) {
    case "header": return el("div", { class: "block header", "data-block": id }, plain(b.text));
    case "divider": return el("hr", { class: "block divider" });
    case "context": return el("div", { class: "block context", "data-block": id },
      (b.elements || []).map((e) => e.type === "image" ? el("span", {}, e.alt_text || "") : el("span", {}, textObject(e))));
    case "section": {
      const left = el("div", { class: "section-text" });
      if (b.text) left.append(textObject(b.text));
      if (b.fields) left.append(el("div", { class: "fields" }, b.fields.map((f) => el("div", {}, textObject(f)))));
      const node = el("div", { class: "block section", "data-block": id }, left);
      if (b.accessory) node.append(renderElement(b.accessory, b, ctx));
      return node;
    }
    case "actions": return el("div", { class: "block actions", "data-block": id },
      (b.elements || []).map((e) => renderElement(e, b, ctx)));
    case "input": return renderInput(b, ctx);
    case "image": return el("div", { class: "block" }, "[" + (b.alt_text || "image") + "]");
    case "rich_text": return el("div", { class: "block" }, "(rich text)");
    default: return el("div", { class: "block" }, "[" + b.type + "]");
  }
}

function options(e) {
  const all = [...(e.options || [])];
  for (const g of e.option_groups || []) all.push(...(g.options || []));
  return all;
}

function selectNode(e, multiple, initial) {
  const sel = el("select", { "data-action": e.action_id, multiple: multiple || undefined, "aria-label": plain(e.placeholder) || e.action_id });
  if (!multiple) sel.append(el("option", { value: "" }, plain(e.placeholder) || t("select")));
  const add = (parent, o) => parent.append(el("option", { value: o.value, selected: initial.includes(o.value) || undefined }, plain(o.text)));
  if (e.option_groups) for (const g of e.option_groups) { const og = el("optgroup", { label: plain(g.label) }); (g.options || []).forEach((o) => add(og, o)); sel.append(og); }
  else (e.options || []).forEach((o) => add(sel, o));
  return sel;
}

function localDateTime(unix) {
  const parts = new Intl.DateTimeFormat("en-CA", { timeZone: state.dir.timezone, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).formatToParts(new Date(unix * 1000));
  const v = Object.fromEntries(parts.map((p) => [p.type, p.value]));
  return `${v.year}-${v.month}-${v.day}T${v.hour}:${v.minute}`;
}

// An interactive element. In messages and the Home tab a change is an action at once; in a modal,
// inputs keep their value until submit, and elements outside input blocks send actions with the state.
function renderElement(e, block, ctx, inInput) {
  const send = (extra) => action(ctx, block, e, extra);
  switch (e.type) {
    case "button": {
      const b = el("button", { type: "button", class: "btn" + (e.style ? " " + e.style : ""), "data-action": e.action_id },
        plain(e.text));
      b.addEventListener("click", () => {
        if (e.url && safeUrl(e.url)) window.open(e.url, "_blank", "noopener");
        confirmThen(e.confirm, () => send({ value: e.value }));
      });
      return b;
    }
    case "overflow": {
      const sel = selectNode({ ...e, placeholder: { text: "⋯" } }, false, []);
      sel.classList.add("overflow");
      sel.addEventListener("change", () => { const v = sel.value; sel.value = ""; if (v) confirmThen(e.confirm, () => send({ selected_option: v })); });
      return sel;
    }
    case "static_select": case "external_select": {
      const sel = selectNode(e, false, e.initial_option ? [e.initial_option.value] : []);
      if (!inInput) sel.addEventListener("change", () => sel.value && confirmThen(e.confirm, () => send({ selected_option: sel.value })));
      return sel;
    }
    case "multi_static_select": case "multi_external_select": {
      const sel = selectNode(e, true, (e.initial_options || []).map((o) => o.value));
      if (!inInput) sel.addEventListener("change", () => send({ selected_options: [...sel.selectedOptions].map((o) => o.value) }));
      return sel;
    }
    case "users_select": case "multi_users_select": {
      const multiple = e.type === "multi_users_select";
      const people = state.dir.people.map((p) => ({ value: p.id, text: { text: personLabel(p) } }));
      const initial = multiple ? (e.initial_users || []) : (e.initial_user ? [e.initial_user] : []);
      const sel = selectNode({ ...e, options: people }, multiple, initial);
      if (!inInput) sel.addEventListener("change", () => sel.value && send(multiple ? { selected_options: [...sel.selectedOptions].map((o) => o.value) } : { selected_user: sel.value }));
      return sel;
    }
    case "conversations_select": case "channels_select": {
      const chans = state.dir.channels.map((c) => ({ value: c.id, text: { text: "#" + c.name } }));
      const initial = [e.initial_conversation || e.initial_channel].filter(Boolean);
      const sel = selectNode({ ...e, options: chans }, false, initial);
      if (!inInput) sel.addEventListener("change", () => sel.value && send({ selected_option: sel.value }));
      return sel;
    }
    case "checkboxes": case "radio_buttons": {
      const box = el("div", { class: "choices", "data-action": e.action_id, "data-kind": e.type });
      const initial = e.type === "checkboxes" ? (e.initial_options || []).map((o) => o.value) : [e.initial_option && e.initial_option.value];
      const name = (block.block_id || "") + "/" + e.action_id + "/" + Math.random().toString(36).slice(2);
      for (const o of options(e)) {
        const input = el("input", { type: e.type === "checkboxes" ? "checkbox" : "radio", name, value: o.value, checked: initial.includes(o.value) || undefined });
        if (!inInput) input.addEventListener("change", () => send(e.type === "checkboxes"
          ? { selected_options: [...box.querySelectorAll("input:checked")].map((i) => i.value) } : { selected_option: input.value }));
        box.append(el("label", {}, input, " ", textObject(o.text), o.description ? el("span", { class: "desc" }, textObject(o.description)) : null));
      }
      return box;
    }
    case "datepicker": case "timepicker": case "datetimepicker": {
      const type = { datepicker: "date", timepicker: "time", datetimepicker: "datetime-local" }[e.type];
      const initial = e.type === "datepicker" ? e.initial_date : e.type === "timepicker" ? e.initial_time
        : (e.initial_date_time ? localDateTime(e.initial_date_time) : "");
      const input = el("input", { type, "data-action": e.action_id, value: initial || undefined, "aria-label": plain(e.placeholder) || e.action_id });
      if (!inInput) input.addEventListener("change", () => send({ value: input.value }));
      return input;
    }
    case "plain_text_input": case "url_text_input": case "email_text_input": case "number_input": {
      const attrs = { "data-action": e.action_id, placeholder: plain(e.placeholder) || undefined, maxlength: e.max_length };
      if (e.multiline) return el("textarea", { ...attrs, rows: 4 }, e.initial_value || "");
      const type = { url_text_input: "url", email_text_input: "email", number_input: "number" }[e.type] || "text";
      return el("input", { ...attrs, type, value: e.initial_value || undefined });
    }
    case "image": return el("span", {}, "[" + (e.alt_text || "image") + "]");
    default: return el("span", { class: "unsupported" }, "[" + e.type + "]");
  }
}

function renderInput(b, ctx) {
  const error = ctx.errors && ctx.errors[b.block_id];
  const node = el("div", { class: "input" + (error ? " invalid" : ""), "data-block": b.block_id, "data-optional": b.optional ? "1" : "0" },
    el("label", {}, plain(b.label), b.optional ? el("span", { class: "optional" }, " " + t("optional")) : null));
  node.append(renderElement(b.element, b, ctx, true));
  if (b.hint) node.append(el("div", { class: "hint" }, plain(b.hint)));
  node.append(el("div", { class: "error", "data-testid": "field-error" }, error || ""));
  return node;
}

function confirmThen(dialog, go) {
  if (!dialog) { go(); return; }
  const layer = $("confirm-layer");
  layer.replaceChildren(el("div", { class: "modal", role: "dialog", "data-testid": "confirm" },
    el("header", {}, el("h2", {}, plain(dialog.title))),
    el("div", { class: "body" }, textObject(dialog.text)),
    el("footer", {},
      el("button", { type: "button", class: "btn", onclick: () => { layer.hidden = true; } }, plain(dialog.deny) || t("cancel")),
      el("button", { type: "button", class: "btn " + (dialog.style === "danger" ? "danger" : "primary"), "data-testid": "confirm-yes",
        onclick: () => { layer.hidden = true; go(); } }, plain(dialog.confirm) || "OK"))));
  layer.hidden = false;
}

function elementValue(node) {
  if (node.matches(".choices")) {
    const checked = [...node.querySelectorAll("input:checked")].map((i) => i.value);
    return node.dataset.kind === "checkboxes" ? checked : (checked[0] || "");
  }
  if (node.tagName === "SELECT" && node.multiple) return [...node.selectedOptions].map((o) => o.value);
  return node.value;
}

function modalValues(root) {
  const values = {};
  for (const block of root.querySelectorAll(".input[data-block]")) {
    const node = block.querySelector("[data-action]");
    if (!node) continue;
    (values[block.dataset.block] ||= {})[node.dataset.action] = elementValue(node);
  }
  return values;
}

async function action(ctx, block, e, extra) {
  const body = { where: ctx.where, channel: ctx.channel, ts: ctx.ts, view_id: ctx.view_id, block_id: block.block_id,
    action_id: e.action_id, type: e.type, ...extra };
  if (ctx.where === "view") body.values = modalValues($("modal-layer"));
  await api("action", body);
}

// ---- screens ------------------------------------------------------------------------------

function personLabel(p) {
  const roles = p.roles.map((r) => t(r.role, r.department)).join("・");
  return `${p.id} — ${roles}`;
}

function renderChrome() {
  document.documentElement.lang = state.lang;
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  $("lang-ja").setAttribute("aria-pressed", String(state.lang === "ja"));
  $("lang-en").setAttribute("aria-pressed", String(state.lang === "en"));
  const dir = state.dir;
  $("org").textContent = dir.organization;
  $("me").replaceChildren(...dir.people.map((p) => el("option", { value: p.id, selected: p.id === state.me || undefined }, personLabel(p))));
  $("channels").replaceChildren(...dir.channels.map((c) => el("li", {}, el("button", {
    type: "button", class: "nav" + (state.channel === c.id ? " active" : ""), "data-channel": c.id, "data-testid": "channel-" + c.name,
    onclick: () => go(c.id) }, "# " + c.name, c.department ? el("small", {}, c.department) : null))));
  for (const [id, key] of [["nav-dm", "dm"], ["nav-home", "home"], ["nav-comment", "comment"]]) {
    $(id).classList.toggle("active", state.channel === key || (key === "dm" && state.channel.startsWith("D")));
  }
  $("hints").replaceChildren(t("hint"), " ", ...dir.commands.map((c) => el("button", { type: "button",
    onclick: () => { $("composer-text").value = c + " "; $("composer-text").focus(); } }, c)));
  const where = whereLabel();
  $("where").textContent = where[0];
  $("where-sub").textContent = where[1];
  const dm = state.channel.startsWith("D");
  $("composer-text").placeholder = dm ? t("composer_dm") : t("composer");
  $("composer").hidden = state.channel === "home" || state.channel === "comment";
  $("conversation").hidden = state.channel === "home" || state.channel === "comment";
  $("home").hidden = state.channel !== "home";
  $("comment").hidden = state.channel !== "comment";
  const sources = $("comment-form").elements.source;
  if (!sources.options.length) {
    sources.replaceChildren(...dir.comment_sources.map((s) => el("option", { value: s }, s)));
  }
  if (state.channel === "comment") loadAccounts().catch(() => { /* the toast said why */ });
  state.shownMessages = ""; state.shownHome = ""; state.shownCount = -1;
  if (state.snapshot) render(state.snapshot);
}

// The register's accounts, asked for each time the form is shown (one opened in Slack meanwhile is offered).
async function loadAccounts() {
  const select = $("comment-form").elements.account;
  const chosen = select.value;
  const { accounts } = await api("accounts");
  select.replaceChildren(el("option", { value: "" }, t("none")),
    ...accounts.map((a) => el("option", { value: a.id, selected: a.id === chosen || undefined }, a.name)));
}

function whereLabel() {
  if (state.channel === "home") return [t("app_home"), ""];
  if (state.channel === "comment") return [t("citizen_comment"), "POST /webhooks/comments"];
  if (state.channel.startsWith("D")) return [t("dm_with_koho"), state.me];
  const c = state.dir.channels.find((x) => x.id === state.channel);
  return c ? ["# " + c.name, c.department] : ["", ""];
}

function render(snap) {
  if (snap.me !== state.me || snap.channel !== state.channel) return;
  const badge = $("nav-dm").querySelector(".badge");
  if (badge) badge.remove();
  if (snap.dm_count) $("nav-dm").append(el("span", { class: "badge" }, String(snap.dm_count)));
  if (state.channel !== "home" && state.channel !== "comment") {
    const key = JSON.stringify([state.lang, snap.messages]);
    if (key !== state.shownMessages) { state.shownMessages = key; renderMessages(snap.messages); }
  }
  if (state.channel === "home") {
    const key = JSON.stringify([state.lang, snap.home]);
    if (key !== state.shownHome) {
      state.shownHome = key;
      $("home").replaceChildren(snap.home ? renderBlocks(snap.home.blocks, { where: "home", view_id: snap.home.id })
        : el("p", { class: "empty" }, t("home_empty")));
    }
  }
  renderModal(snap.modal);
  for (const n of snap.notices) if (!shownNotices.has(n.at)) { shownNotices.add(n.at); toast(t(n.key) + n.detail, true); }
}
const shownNotices = new Set();

function renderMessages(messages) {
  const box = $("conversation");
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  const grew = messages.length !== state.shownCount;
  state.shownCount = messages.length;
  const roots = messages.filter((m) => !m.thread_ts || m.thread_ts === m.ts || !messages.some((p) => p.ts === m.thread_ts));
  const nodes = roots.map((m) => {
    const node = renderMessage(m);
    const replies = messages.filter((r) => r.thread_ts === m.ts && r.ts !== m.ts);
    if (replies.length) node.append(el("div", { class: "replies", "aria-label": t("thread") }, replies.map(renderMessage)));
    return node;
  });
  box.replaceChildren(...(nodes.length ? nodes : [el("p", { class: "empty" }, t("empty"))]));
  if (atBottom || grew) box.scrollTop = box.scrollHeight;
}

function renderMessage(m) {
  const ctx = { where: m.ephemeral ? "ephemeral" : "message", channel: state.channel, ts: m.ts };
  const when = new Date(parseFloat(m.ts) * 1000).toLocaleTimeString(state.lang === "ja" ? "ja-JP" : "en-GB",
    { timeZone: state.dir.timezone, hour: "2-digit", minute: "2-digit" });
  const node = el("div", { class: "message" + (m.ephemeral ? " ephemeral" : ""), "data-ts": m.ts, "data-testid": m.ephemeral ? "ephemeral" : "message" },
    el("div", {}, el("span", { class: "who" }, m.bot ? "koho" : personName(m.user), m.bot ? el("span", { class: "app" }, "APP") : null),
      el("span", { class: "when" }, when), m.edited ? el("span", { class: "edited" }, " " + t("edited")) : null));
  if (m.ephemeral) node.append(el("div", { class: "ephemeral-label" }, "👁 " + t("only_you")));
  if (m.blocks && m.blocks.length) node.append(renderBlocks(m.blocks, ctx));
  else node.append(el("div", { class: "text" }, mrkdwn(m.text)));
  for (const a of m.attachments || []) node.append(el("div", { class: "attachment" }, a.blocks ? renderBlocks(a.blocks, ctx) : mrkdwn(a.text || a.fallback || "")));
  if (!m.ephemeral && !state.channel.startsWith("D")) {
    const more = el("button", { type: "button", class: "btn more", title: t("more"), "aria-label": t("more"), "data-testid": "more", "aria-expanded": "false" }, "⋯");
    more.addEventListener("click", () => {
      const open = node.querySelector(".menu");
      if (open) { open.remove(); more.setAttribute("aria-expanded", "false"); return; }
      more.setAttribute("aria-expanded", "true");
      node.append(el("div", { class: "menu", role: "menu" }, state.dir.shortcuts.map((s) => el("button", { type: "button", role: "menuitem",
        onclick: () => { node.querySelector(".menu").remove(); api("shortcut", { channel: state.channel, ts: m.ts, callback_id: s.callback_id }); } }, s.name))));
    });
    node.append(more);
  }
  return node;
}

function renderModal(modal) {
  const layer = $("modal-layer");
  if (!modal) { layer.hidden = true; layer.replaceChildren(); state.modalKey = ""; state.modalMissing = {}; return; }
  const key = JSON.stringify([state.lang, modal.id, modal.title, modal.blocks, modal.submit]);
  // A refresh of the same form keeps what the page marked missing at the last submit (the server knows
  // nothing of it) beside the server's own errors.
  if (key === state.modalKey) { showErrors(layer, { ...state.modalMissing, ...(modal.errors || {}) }); return; }
  state.modalKey = key;
  state.modalMissing = {};
  const ctx = { where: "view", view_id: modal.id, errors: modal.errors || {} };
  const dialog = el("form", { class: "modal", role: "dialog", "aria-modal": "true", "data-testid": "modal", "data-callback": modal.callback_id },
    el("header", {}, el("h2", {}, plain(modal.title)),
      el("button", { type: "button", class: "btn", "aria-label": t("close"), "data-testid": "modal-x", onclick: () => api("close", { view_id: modal.id }) }, "×")),
    el("div", { class: "body" }, renderBlocks(modal.blocks, ctx)),
    el("footer", {},
      el("button", { type: "button", class: "btn", "data-testid": "modal-close", onclick: () => api("close", { view_id: modal.id }) }, plain(modal.close) || t("cancel")),
      modal.submit ? el("button", { type: "submit", class: "btn primary", "data-testid": "modal-submit" }, plain(modal.submit)) : null));
  dialog.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const missing = {};
    for (const block of dialog.querySelectorAll(".input[data-block]")) {
      const node = block.querySelector("[data-action]");
      const v = node ? elementValue(node) : "";
      if (block.dataset.optional !== "1" && (v === "" || (Array.isArray(v) && !v.length))) missing[block.dataset.block] = t("required");
    }
    state.modalMissing = missing;
    if (Object.keys(missing).length) { showErrors(dialog, missing); return; }
    const answer = await api("submit", { view_id: modal.id, values: modalValues(dialog) });
    showErrors(dialog, answer.errors || {});
  });
  layer.replaceChildren(dialog);
  layer.hidden = false;
}

function showErrors(root, errors) {
  for (const block of root.querySelectorAll(".input[data-block]")) {
    const msg = errors[block.dataset.block] || "";
    block.classList.toggle("invalid", Boolean(msg));
    const node = block.querySelector(".error");
    if (node) node.textContent = msg;
  }
}

function go(channel) {
  state.channel = channel;
  localStorage.setItem("koho.channel", channel);
  state.snapshot = null;
  renderChrome();
  if (channel === "home") api("home", {}).catch(() => {});
  if (channel !== "comment") refresh(false);
}

async function start() {
  state.dir = await (await fetch("/ui/directory")).json();
  if (!state.dir.people.some((p) => p.id === state.me)) state.me = state.dir.people[0].id;
  const valid = (c) => c === "home" || c === "comment" || c === "D" + state.me.slice(1) || state.dir.channels.some((x) => x.id === c);
  if (!valid(state.channel)) state.channel = state.dir.channels[0].id;
  $("me").addEventListener("change", () => {
    state.me = $("me").value; localStorage.setItem("koho.me", state.me);
    if (state.channel.startsWith("D")) state.channel = "D" + state.me.slice(1);
    go(state.channel);
  });
  $("lang-ja").addEventListener("click", () => { state.lang = "ja"; localStorage.setItem("koho.lang", "ja"); renderChrome(); });
  $("lang-en").addEventListener("click", () => { state.lang = "en"; localStorage.setItem("koho.lang", "en"); renderChrome(); });
  $("nav-dm").addEventListener("click", () => go("D" + state.me.slice(1)));
  $("nav-home").addEventListener("click", () => go("home"));
  $("nav-comment").addEventListener("click", () => go("comment"));
  $("reset").addEventListener("click", () => confirmThen({ title: { text: t("reset") }, text: { type: "plain_text", text: t("reset_confirm") },
    confirm: { text: t("reset") }, style: "danger" }, async () => { await api("reset", {}); toast(t("reset_done")); go(state.channel); }));
  $("composer").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const input = $("composer-text");
    const text = input.value;
    try { await api("type", { channel: state.channel, text }); input.value = ""; } catch (e) { /* the toast said why */ }
  });
  $("comment-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = ev.target.elements;
    const result = await api("comment", { source: f.source.value, account: f.account.value, author: f.author.value,
      url: f.url.value, text: f.text.value });
    $("comment-result").textContent = `HTTP ${result.status}\n` + JSON.stringify(result.answer, null, 2);
  });
  renderChrome();
  if (state.channel === "home") api("home", {}).catch(() => {});
  refresh(false);
}

document.addEventListener("DOMContentLoaded", start);
