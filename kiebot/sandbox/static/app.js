/*
 * kiebot sandbox page: a Telegram-like chat with the real bot.
 *
 * Everything goes through the sandbox server on this origin:
 *   GET  /sandbox/config               bot, people, language, page texts
 *   POST /sandbox/lang, /sandbox/reset
 *   GET  /_sim/chats/<id>/transcript   a chat as it is now
 *   POST /_sim/users/<id>/messages     write text          (fake Telegram's control API,
 *   POST /_sim/users/<id>/<kind>       send a file          kiebot/testing/fake_telegram_sim.py)
 *   POST /_sim/users/<id>/tap | pay    press a button, pay an invoice
 *   GET  /_sim/users/<id>/commands     the bot's command menu for this user
 *   GET  /_sim/events                  server-sent events: every change of the fake's world
 *
 * Messages are kept per chat in `store` (message_id -> serialized message, as
 * State.serialize_message makes them) and drawn from there; an event upserts or removes one.
 * After a reconnect the transcripts are fetched again, so nothing missed stays missing.
 * Plain DOM, no framework, no build step; text is only ever inserted as text (never as HTML).
 */
"use strict";

const MAX_UPLOAD_MB = 25;
const CHAT_ACTION_MS = 5000; // Telegram shows a chat action for 5 s or until the next message
const TAP_SPINNER_MS = 15000; // after that Telegram gives up on the callback answer
const SAFE_LINK = /^(https?:|tg:|mailto:|tel:)/i;

const $ = (id) => document.getElementById(id);

const page = {
  config: null,
  lang: "en",
  personId: null,
  /** chat id -> Map(message_id -> message) */
  store: new Map(),
  /** chat id -> number of bot messages that arrived while another chat was shown */
  unread: new Map(),
  /** callback_query_id -> button element showing a spinner */
  pendingTaps: new Map(),
  connected: false,
  everConnected: false,
  chatAction: null,
  actionTimer: null,
  stickToBottom: true,
};

/* ---------------------------------------------------------------- texts */

function tr(key, params = {}) {
  const texts = (page.config && page.config.texts[page.lang]) || {};
  const template = texts[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (_, name) => (name in params ? String(params[name]) : `{${name}}`));
}

function applyTexts() {
  document.documentElement.lang = page.lang;
  document.title = tr("title");
  for (const el of document.querySelectorAll("[data-t]")) el.textContent = tr(el.dataset.t);
  for (const el of document.querySelectorAll("[data-t-title]")) {
    el.title = tr(el.dataset.tTitle);
    el.setAttribute("aria-label", el.title);
  }
  for (const el of document.querySelectorAll("[data-t-placeholder]")) el.placeholder = tr(el.dataset.tPlaceholder);
  $("lang-btn").textContent = page.lang === "ru" ? "RU" : "EN";
  updateStatus();
}

/* ---------------------------------------------------------------- server */

async function call(method, path, body) {
  const init = { method, headers: {} };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, init);
  let data = {};
  try {
    data = await response.json();
  } catch (_) {
    /* not JSON: the status says enough */
  }
  if (!response.ok || data.ok === false) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

const api = {
  get: (path) => call("GET", path),
  post: (path, body) => call("POST", path, body ?? {}),
};

function me() {
  return page.config.people.find((p) => p.id === page.personId);
}

/* ---------------------------------------------------------------- message store */

function chatStore(chatId) {
  if (!page.store.has(chatId)) page.store.set(chatId, new Map());
  return page.store.get(chatId);
}

/** The newer of two copies of a message (an event may overtake a transcript fetch). */
function newer(old, incoming) {
  if (!old || incoming.deleted) return incoming;
  if (old.deleted) return old;
  return incoming.edit_count >= old.edit_count ? incoming : old;
}

async function loadTranscripts() {
  const people = page.config.people;
  const transcripts = await Promise.all(people.map((p) => api.get(`/_sim/chats/${p.id}/transcript`).catch(() => ({ messages: [] }))));
  people.forEach((person, i) => {
    const fresh = new Map();
    const old = chatStore(person.id);
    for (const message of transcripts[i].messages) fresh.set(message.message_id, newer(old.get(message.message_id), message));
    page.store.set(person.id, fresh);
  });
  renderChat();
}

function upsert(message, fromEvent) {
  const store = chatStore(message.chat_id);
  const isNew = !store.has(message.message_id);
  const kept = newer(store.get(message.message_id), message);
  store.set(message.message_id, kept);
  if (message.chat_id !== page.personId) {
    if (fromEvent && isNew && message.from === "bot") {
      page.unread.set(message.chat_id, (page.unread.get(message.chat_id) || 0) + 1);
      renderPeople();
    }
    return;
  }
  if (message.from === "bot") setChatAction(null);
  drawMessage(kept);
  updateComposer();
}

function remove(chatId, messageId) {
  const store = chatStore(chatId);
  const message = store.get(messageId);
  if (message) store.set(messageId, { ...message, deleted: true });
  if (chatId !== page.personId) return;
  const el = findMessageElement(messageId);
  if (el) {
    el.classList.add("vanishing");
    setTimeout(() => el.remove(), 250);
  }
  updateComposer();
}

/* ---------------------------------------------------------------- text with entities */

/** Telegram's entities (UTF-16 offsets, like JS strings) as DOM: nested ones inside their parent. */
function renderText(text, entities) {
  const fragment = document.createDocumentFragment();
  const sorted = [...(entities || [])].sort((a, b) => a.offset - b.offset || b.length - a.length);
  appendRange(fragment, text, sorted, 0, text.length, true);
  return fragment;
}

const LITERAL = ["code", "pre", "text_link", "url", "email", "phone_number", "bot_command"];

function appendRange(parent, text, entities, start, end, linkify) {
  const plain = (piece) => (linkify ? appendPlain(parent, piece) : parent.append(piece));
  let pos = start;
  let i = 0;
  while (i < entities.length) {
    const entity = entities[i];
    const stop = entity.offset + entity.length;
    if (entity.offset < pos || stop > end) {
      i += 1; // overlapping or outside: Telegram never nests like that, skip it
      continue;
    }
    if (entity.offset > pos) plain(text.slice(pos, entity.offset));
    let j = i + 1;
    while (j < entities.length && entities[j].offset < stop) j += 1;
    const el = entityElement(entity, text.slice(entity.offset, stop));
    const inner = entities.slice(i + 1, j);
    appendRange(el.querySelector("code") || el, text, inner, entity.offset, stop, linkify && !LITERAL.includes(entity.type));
    parent.append(el);
    pos = stop;
    i = j;
  }
  if (pos < end) plain(text.slice(pos, end));
}

/** Text without entities, with /commands and links made clickable as Telegram apps do. */
function appendPlain(parent, text) {
  const pattern = /(^|[\s(])(\/[A-Za-z0-9_]{1,32}(?:@\w+)?|https?:\/\/[^\s<>"]+[^\s<>".,;:!?)])/g;
  let pos = 0;
  for (const match of text.matchAll(pattern)) {
    const start = match.index + match[1].length;
    const piece = match[2];
    if (start > pos) parent.append(text.slice(pos, start));
    const el = entityElement({ type: piece.startsWith("/") ? "bot_command" : "url" }, piece);
    el.textContent = piece;
    parent.append(el);
    pos = start + piece.length;
  }
  if (pos < text.length) parent.append(text.slice(pos));
}

function link(href, newTab = true) {
  const a = document.createElement("a");
  a.href = SAFE_LINK.test(href) ? href : "#";
  if (newTab) {
    a.target = "_blank";
    a.rel = "noopener noreferrer";
  }
  return a;
}

function entityElement(entity, piece) {
  const tags = { bold: "strong", italic: "em", underline: "u", strikethrough: "s", code: "code" };
  if (tags[entity.type]) return document.createElement(tags[entity.type]);
  switch (entity.type) {
    case "pre": {
      const pre = document.createElement("pre");
      const code = document.createElement("code");
      if (entity.language) code.dataset.language = entity.language;
      pre.append(code);
      return pre;
    }
    case "text_link":
      return link(entity.url || "#");
    case "url":
      return link(/^[a-z]+:/i.test(piece) ? piece : `https://${piece}`);
    case "email":
      return link(`mailto:${piece}`, false);
    case "phone_number":
      return link(`tel:${piece.replace(/[^\d+]/g, "")}`, false);
    case "bot_command": {
      const a = document.createElement("a");
      a.href = "#";
      a.className = "command";
      a.addEventListener("click", (event) => {
        event.preventDefault();
        sendText(piece.split("@")[0]);
      });
      return a;
    }
    case "spoiler": {
      const span = document.createElement("span");
      span.className = "spoiler";
      span.addEventListener("click", () => span.classList.add("revealed"));
      return span;
    }
    case "blockquote":
    case "expandable_blockquote": {
      const quote = document.createElement("blockquote");
      if (entity.type === "expandable_blockquote") {
        quote.classList.add("expandable");
        quote.addEventListener("click", () => quote.classList.toggle("open"));
      }
      return quote;
    }
    default: {
      const span = document.createElement("span");
      span.className = `entity-${entity.type}`; // mention, hashtag, cashtag, custom_emoji...
      return span;
    }
  }
}

/* ---------------------------------------------------------------- drawing messages */

function time(unix) {
  return new Date(unix * 1000).toLocaleTimeString(page.lang, { hour: "2-digit", minute: "2-digit" });
}

function bytes(size) {
  if (size >= 1048576) return `${(size / 1048576).toFixed(1)} MB`;
  if (size >= 1024) return `${Math.round(size / 1024)} KB`;
  return `${size} B`;
}

function element(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

function findMessageElement(messageId) {
  return $("messages").querySelector(`[data-message-id="${messageId}"]`);
}

function mediaElement(media) {
  switch (media.kind) {
    case "photo": {
      const a = link(media.url);
      const img = element("img", "photo");
      img.src = media.url;
      img.alt = "";
      if (media.width && media.height) {
        img.width = media.width;
        img.height = media.height;
      }
      img.addEventListener("load", keepAtBottom);
      a.append(img);
      return a;
    }
    case "video": {
      const video = element("video", "video");
      video.src = media.url;
      video.controls = true;
      video.preload = "metadata";
      video.playsInline = true;
      video.addEventListener("loadedmetadata", keepAtBottom);
      return video;
    }
    case "audio":
    case "voice": {
      const box = element("div", "audio");
      if (media.file_name) box.append(element("div", "file-name", media.file_name));
      const audio = element("audio");
      audio.src = media.url;
      audio.controls = true;
      audio.preload = "metadata";
      box.append(audio);
      return box;
    }
    default: {
      const box = link(media.url);
      box.className = "document";
      box.download = media.file_name || "file";
      box.title = tr("download");
      box.append(element("span", "doc-icon", "📄"));
      const info = element("span", "doc-info");
      info.append(element("span", "file-name", media.file_name || "file"), element("span", "file-size", bytes(media.size || 0)));
      box.append(info);
      return box;
    }
  }
}

function invoiceElement(invoice) {
  const box = element("div", "invoice");
  box.append(element("div", "invoice-title", invoice.title));
  box.append(element("div", "invoice-description", invoice.description));
  box.append(element("div", "invoice-amount", `⭐ ${invoice.total_amount}`));
  return box;
}

function serviceElement(message) {
  const amount = message.payment ? message.payment.total_amount : "";
  const key = message.kind === "successful_payment" ? "paid" : "refunded";
  const row = element("div", "service");
  row.dataset.messageId = message.message_id;
  row.dataset.kind = message.kind;
  row.append(element("span", "", tr(key, { amount })));
  return row;
}

function quoteElement(message) {
  const original = chatStore(message.chat_id).get(message.reply_to_message_id);
  if (!original) return null;
  const quote = element("div", "reply-quote");
  const preview = original.content || (original.media ? `📎 ${original.media.file_name || original.media.kind}` : "…");
  quote.textContent = preview.length > 90 ? `${preview.slice(0, 90)}…` : preview;
  quote.addEventListener("click", () => {
    const target = findMessageElement(original.message_id);
    if (target) target.scrollIntoView({ behavior: "smooth", block: "center" });
  });
  return quote;
}

function messageElement(message) {
  if (message.kind === "successful_payment" || message.kind === "refunded_payment") return serviceElement(message);
  const row = element("div", `msg ${message.from === "bot" ? "in" : "out"}`);
  row.dataset.messageId = message.message_id;
  row.dataset.kind = message.kind;
  const bubble = element("div", "bubble");
  if (message.media) bubble.classList.add("has-media");
  const quote = message.reply_to_message_id ? quoteElement(message) : null;
  if (quote) bubble.append(quote);
  if (message.media) bubble.append(mediaElement(message.media));
  if (message.invoice) bubble.append(invoiceElement(message.invoice));
  const text = message.text ?? message.caption;
  if (text) {
    const body = element("div", "text");
    body.append(renderText(text, message.text !== null ? message.entities : message.caption_entities));
    bubble.append(body);
  }
  const meta = element("div", "meta");
  if (message.edit_count > 0) meta.append(element("span", "edited", tr("edited")));
  meta.append(element("time", "", time(message.date)));
  bubble.append(meta);
  row.append(bubble);
  const keyboard = keyboardElement(message);
  if (keyboard) row.append(keyboard);
  return row;
}

function drawMessage(message) {
  const list = $("messages");
  const old = findMessageElement(message.message_id);
  if (message.deleted) {
    if (old) old.remove();
    return;
  }
  const stick = page.stickToBottom;
  const fresh = messageElement(message);
  if (old) old.replaceWith(fresh);
  else {
    fresh.classList.add("arriving"); // only new messages slide in; an edit changes in place
    const later = [...list.children].find((el) => Number(el.dataset.messageId) > message.message_id);
    list.insertBefore(fresh, later || null);
  }
  $("hint").hidden = true;
  if (stick || message.from === "user") scrollToBottom();
}

function renderChat() {
  const list = $("messages");
  list.replaceChildren();
  const messages = [...chatStore(page.personId).values()].filter((m) => !m.deleted).sort((a, b) => a.message_id - b.message_id);
  for (const message of messages) list.append(messageElement(message));
  const person = me();
  const hint = $("hint");
  hint.textContent = tr(person.role === "admin" ? "admin_hint" : "user_hint", { name: person.first_name });
  hint.hidden = messages.length > 0;
  updateComposer();
  scrollToBottom();
}

/* ---------------------------------------------------------------- keyboards and taps */

function keyboardElement(message) {
  const rows = message.buttons || [];
  if (!rows.length && message.kind !== "invoice") return null;
  const keyboard = element("div", "keyboard");
  const layout = rows.length ? rows : [[{ text: tr("pay", { amount: message.invoice.total_amount }), pay: true }]];
  for (const row of layout) {
    const line = element("div", "keyboard-row");
    for (const button of row) line.append(buttonElement(message, button));
    keyboard.append(line);
  }
  return keyboard;
}

function buttonElement(message, button) {
  const el = element("button", "key", button.text);
  el.type = "button";
  if (button.callback_data !== undefined) {
    el.dataset.callback = button.callback_data;
    el.addEventListener("click", () => tap(message, button.callback_data, el));
  } else if (button.pay) {
    el.classList.add("pay");
    el.addEventListener("click", () => pay(message, el));
  } else if (button.url) {
    el.classList.add("url");
    el.addEventListener("click", () => window.open(SAFE_LINK.test(button.url) ? button.url : "about:blank", "_blank", "noopener"));
  } else if (button.copy_text) {
    el.addEventListener("click", async () => {
      await navigator.clipboard.writeText(button.copy_text.text);
      toast(tr("copied"));
    });
  } else {
    el.classList.add("unsupported");
    el.title = tr("unsupported_button");
    el.addEventListener("click", () => toast(tr("unsupported_button")));
  }
  return el;
}

async function tap(message, data, el) {
  el.classList.add("pending");
  try {
    const answer = await api.post(`/_sim/users/${page.personId}/tap`, { message_id: message.message_id, callback_data: data });
    page.pendingTaps.set(answer.callback_query_id, el);
    setTimeout(() => {
      page.pendingTaps.delete(answer.callback_query_id);
      el.classList.remove("pending");
    }, TAP_SPINNER_MS);
  } catch (error) {
    el.classList.remove("pending");
    toast(tr("error", { error: error.message }));
  }
}

function callbackAnswered(answer) {
  const el = page.pendingTaps.get(answer.callback_query_id);
  if (el) {
    el.classList.remove("pending");
    page.pendingTaps.delete(answer.callback_query_id);
  }
  if (answer.user_id !== page.personId || !answer.text) return;
  if (answer.show_alert) ask(answer.text, { cancel: false });
  else toast(answer.text);
}

async function pay(message, el) {
  el.classList.add("pending");
  el.disabled = true;
  try {
    const { payment } = await api.post(`/_sim/users/${page.personId}/pay`, { message_id: message.message_id });
    if (payment.status === "declined") ask(tr("pay_declined", { reason: payment.error_message || "—" }), { cancel: false });
    else if (payment.status === "timeout") ask(tr("pay_timeout"), { cancel: false });
  } catch (error) {
    toast(tr("error", { error: error.message }));
  } finally {
    el.classList.remove("pending");
    el.disabled = false;
  }
}

/* ---------------------------------------------------------------- composer */

function lastBotMessage() {
  const messages = [...chatStore(page.personId).values()].filter((m) => m.from === "bot" && !m.deleted);
  messages.sort((a, b) => a.message_id - b.message_id);
  return messages[messages.length - 1];
}

function updateComposer() {
  const empty = ![...chatStore(page.personId).values()].some((m) => !m.deleted);
  $("start-bar").hidden = !empty;
  $("composer").hidden = empty;
  renderReplyKeyboard();
}

/** A reply keyboard (ReplyKeyboardMarkup) from the bot's newest message that set or removed one. */
function renderReplyKeyboard() {
  const box = $("reply-keyboard");
  const messages = [...chatStore(page.personId).values()].filter((m) => m.from === "bot" && m.reply_keyboard);
  messages.sort((a, b) => a.message_id - b.message_id);
  const markup = messages.length ? messages[messages.length - 1].reply_keyboard : null;
  box.replaceChildren();
  box.hidden = !(markup && markup.keyboard);
  $("text").placeholder = (markup && markup.input_field_placeholder) || tr("placeholder");
  if (box.hidden) return;
  for (const row of markup.keyboard) {
    const line = element("div", "keyboard-row");
    for (const button of row) {
      const label = typeof button === "string" ? button : button.text;
      const el = element("button", "key", label);
      el.type = "button";
      el.addEventListener("click", () => {
        if (markup.one_time_keyboard) box.hidden = true;
        sendText(label);
      });
      line.append(el);
    }
    box.append(line);
  }
}

async function sendText(text) {
  if (!text.trim()) return;
  try {
    await api.post(`/_sim/users/${page.personId}/messages`, { text });
  } catch (error) {
    toast(tr("error", { error: error.message }));
  }
}

function sendFromComposer() {
  const input = $("text");
  const text = input.value;
  if (!text.trim()) return;
  input.value = "";
  autosize();
  sendText(text);
}

function autosize() {
  const input = $("text");
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
}

/** Seconds of audio or video in a file, read by the browser (the bot checks durations). */
function mediaDuration(file, kind) {
  return new Promise((resolve) => {
    const probe = document.createElement(kind === "video" ? "video" : "audio");
    const url = URL.createObjectURL(file);
    const done = (seconds) => {
      URL.revokeObjectURL(url);
      resolve(Math.max(1, Math.round(Number.isFinite(seconds) ? seconds : 1)));
    };
    probe.preload = "metadata";
    probe.addEventListener("loadedmetadata", () => done(probe.duration));
    probe.addEventListener("error", () => done(1));
    setTimeout(() => done(1), 3000);
    probe.src = url;
  });
}

async function sendFile(file, kind) {
  if (file.size > MAX_UPLOAD_MB * 1048576) {
    toast(tr("file_too_big", { mb: MAX_UPLOAD_MB }));
    return;
  }
  const form = new FormData();
  form.append("file", file, file.name);
  form.append("file_name", file.name);
  if (file.type) form.append("mime_type", file.type);
  const caption = $("text").value.trim();
  if (caption) form.append("caption", caption);
  if (kind === "audio" || kind === "video") form.append("duration", String(await mediaDuration(file, kind)));
  $("text").value = "";
  autosize();
  try {
    await api.post(`/_sim/users/${page.personId}/${kind}`, form);
  } catch (error) {
    toast(tr("error", { error: error.message }));
  }
}

function togglePopup(id, show) {
  for (const popup of document.querySelectorAll(".popup")) if (popup.id !== id) popup.hidden = true;
  const popup = $(id);
  popup.hidden = show === undefined ? !popup.hidden : !show;
}

async function openCommands() {
  const menu = $("commands-menu");
  if (!menu.hidden) {
    menu.hidden = true;
    return;
  }
  let commands = [];
  try {
    commands = (await api.get(`/_sim/users/${page.personId}/commands`)).commands;
  } catch (error) {
    toast(tr("error", { error: error.message }));
    return;
  }
  menu.replaceChildren();
  if (!commands.length) menu.append(element("div", "empty", tr("commands_empty")));
  for (const command of commands) {
    const item = element("button", "command-item");
    item.type = "button";
    item.append(element("span", "command-name", `/${command.command}`), element("span", "command-description", command.description));
    item.addEventListener("click", () => {
      menu.hidden = true;
      sendText(`/${command.command}`);
    });
    menu.append(item);
  }
  togglePopup("commands-menu", true);
}

/* ---------------------------------------------------------------- header: people, language, reset */

function renderPeople() {
  const box = $("people");
  box.replaceChildren();
  for (const person of page.config.people) {
    const el = element("button", "chip person");
    el.type = "button";
    el.setAttribute("role", "tab");
    el.dataset.personId = person.id;
    el.dataset.role = person.role;
    el.setAttribute("aria-selected", String(person.id === page.personId));
    el.append(element("span", "icon", person.role === "admin" ? "🛡" : "👤"));
    el.append(element("span", "label", tr(person.role === "admin" ? "admin_tab" : "user_tab", { name: person.first_name })));
    const unread = page.unread.get(person.id) || 0;
    if (unread && person.id !== page.personId) {
      const badge = element("span", "badge", String(unread));
      badge.title = tr("new_messages", { n: unread });
      el.append(badge);
    }
    el.addEventListener("click", () => switchPerson(person.id));
    box.append(el);
  }
}

function switchPerson(personId) {
  page.personId = personId;
  page.unread.delete(personId);
  const url = new URL(window.location.href);
  url.searchParams.set("as", me().role);
  history.replaceState(null, "", url);
  setChatAction(null);
  document.querySelectorAll(".popup").forEach((p) => (p.hidden = true));
  renderPeople();
  renderChat();
}

async function switchLanguage() {
  page.lang = page.lang === "ru" ? "en" : "ru";
  localStorage.setItem("kiebot-sandbox-lang", page.lang);
  const url = new URL(window.location.href);
  url.searchParams.set("lang", page.lang);
  history.replaceState(null, "", url);
  await api.post("/sandbox/lang", { lang: page.lang }).catch(() => {});
  applyTexts();
  renderPeople();
  renderChat();
  toast(tr("lang_hint"));
}

async function resetSandbox() {
  if (!(await ask(tr("reset_confirm"), { cancel: true }))) return;
  showOverlay(true);
  try {
    page.config = { ...page.config, ...(await api.post("/sandbox/reset")) };
    page.store.clear();
    page.unread.clear();
    await loadTranscripts();
    renderPeople();
  } catch (error) {
    toast(tr("error", { error: error.message }));
  } finally {
    showOverlay(false);
  }
}

function showOverlay(show) {
  $("overlay").hidden = !show;
  $("app").dataset.busy = String(show);
}

/* ---------------------------------------------------------------- little helpers of the UI */

let toastTimer = null;
function toast(text) {
  const el = $("toast");
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (el.hidden = true), 3500);
}

/** A modal message; resolves true for OK, false for Cancel. */
function ask(text, { cancel }) {
  return new Promise((resolve) => {
    const modal = $("modal");
    $("modal-text").textContent = text;
    $("modal-cancel").hidden = !cancel;
    modal.hidden = false;
    const close = (value) => {
      modal.hidden = true;
      $("modal-ok").onclick = null;
      $("modal-cancel").onclick = null;
      resolve(value);
    };
    $("modal-ok").onclick = () => close(true);
    $("modal-cancel").onclick = () => close(false);
    $("modal-ok").focus();
  });
}

function setChatAction(action) {
  clearTimeout(page.actionTimer);
  page.chatAction = action;
  if (action) page.actionTimer = setTimeout(() => setChatAction(null), CHAT_ACTION_MS);
  updateStatus();
}

function updateStatus() {
  const status = $("bot-status");
  status.classList.toggle("active", Boolean(page.chatAction) && page.connected);
  if (!page.connected) status.textContent = tr("connecting");
  else if (page.chatAction) status.textContent = tr(`actions.${page.chatAction}`);
  else status.textContent = tr("bot_status");
}

function nearBottom() {
  const chat = $("chat");
  return chat.scrollHeight - chat.scrollTop - chat.clientHeight < 120;
}

function scrollToBottom() {
  const chat = $("chat");
  chat.scrollTop = chat.scrollHeight;
  page.stickToBottom = true;
}

/** A photo or video that just loaded grew the chat: stay at the bottom if the reader was there. */
function keepAtBottom() {
  if (page.stickToBottom) scrollToBottom();
}

/* ---------------------------------------------------------------- live events */

function connectEvents() {
  const source = new EventSource("/_sim/events");
  source.addEventListener("open", () => {
    page.connected = true;
    updateStatus();
    // Events may have been missed while disconnected (or the server dropped a slow reader).
    if (page.everConnected) loadTranscripts();
    page.everConnected = true;
  });
  source.addEventListener("error", () => {
    page.connected = false;
    updateStatus();
  });
  const on = (type, handler) => source.addEventListener(type, (event) => handler(JSON.parse(event.data)));
  on("message_sent", (e) => upsert(e.message, true));
  on("message_received", (e) => upsert(e.message, true));
  on("message_edited", (e) => upsert(e.message, true));
  on("message_deleted", (e) => remove(e.chat_id, e.message_id));
  on("callback_answered", (e) => callbackAnswered(e.answer));
  on("chat_action", (e) => {
    if (e.chat_id === page.personId) setChatAction(e.action);
  });
  on("reset", () => {
    page.store.clear();
    page.unread.clear();
    renderPeople();
    renderChat();
  });
  on("sandbox", (e) => {
    showOverlay(e.phase === "resetting");
    if (e.phase === "ready") refreshConfig().then(loadTranscripts);
  });
}

/* ---------------------------------------------------------------- start */

async function refreshConfig() {
  page.config = await api.get("/sandbox/config");
}

function wireControls() {
  $("send-btn").addEventListener("click", sendFromComposer);
  $("text").addEventListener("input", autosize);
  $("text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      sendFromComposer();
    }
  });
  $("start-btn").addEventListener("click", () => sendText("/start"));
  $("attach-btn").addEventListener("click", () => togglePopup("attach-menu"));
  $("menu-btn").addEventListener("click", openCommands);
  for (const option of $("attach-menu").querySelectorAll("button")) {
    option.addEventListener("click", () => {
      const input = $("file-input");
      input.accept = option.dataset.accept;
      input.dataset.kind = option.dataset.kind;
      togglePopup("attach-menu", false);
      input.click();
    });
  }
  $("file-input").addEventListener("change", (event) => {
    const input = event.target;
    const file = input.files[0];
    if (file) sendFile(file, input.dataset.kind || "document");
    input.value = "";
  });
  $("lang-btn").addEventListener("click", switchLanguage);
  $("reset-btn").addEventListener("click", resetSandbox);
  $("to-bottom").addEventListener("click", scrollToBottom);
  $("chat").addEventListener("scroll", () => {
    page.stickToBottom = nearBottom();
    $("to-bottom").hidden = page.stickToBottom;
  });
  document.addEventListener("click", (event) => {
    if (!event.target.closest(".popup, #attach-btn, #menu-btn")) document.querySelectorAll(".popup").forEach((p) => (p.hidden = true));
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") document.querySelectorAll(".popup").forEach((p) => (p.hidden = true));
  });
}

async function main() {
  const params = new URLSearchParams(window.location.search);
  await refreshConfig();
  const wanted = params.get("lang") || localStorage.getItem("kiebot-sandbox-lang") || navigator.language || "en";
  page.lang = wanted.toLowerCase().startsWith("ru") ? "ru" : "en";
  if (page.lang !== page.config.lang) await api.post("/sandbox/lang", { lang: page.lang }).catch(() => {});
  const role = params.get("as") === "admin" ? "admin" : "user";
  page.personId = page.config.people.find((p) => p.role === role).id;
  wireControls();
  applyTexts();
  renderPeople();
  connectEvents();
  await loadTranscripts();
  $("app").dataset.ready = "true";
}

main().catch((error) => {
  document.body.dataset.error = error.message;
  console.error(error);
});
