// The runpod-local console: plain JavaScript, no framework and no build step, embedded in the
// binary. It reads /_local/v1 (JSON, plus a server-sent event feed) and acts through the same
// queue API (/v2) a real client uses, so what it shows is what a client would see.
'use strict';

const API = '/_local/v1';
const KEY_STORE = 'runpod-local-key';
const PAGE_SIZE = 100;
const STATES = ['IN_QUEUE', 'IN_PROGRESS', 'COMPLETED', 'FAILED', 'CANCELLED', 'TIMED_OUT'];
const ACTIVE = new Set(['IN_QUEUE', 'IN_PROGRESS']);

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const ui = {
  key: sessionStorage.getItem(KEY_STORE) || '',
  offset: 0,
  rows: new Map(), // job id -> {job, tr}: the rendered page, updated in place by the feed
  detail: null, // {endpoint, id} of the open job
  feed: null, // AbortController of the event feed
};

// ---- DOM helpers: every value goes in through textContent or attributes, never as HTML, since
// ids, inputs, outputs and errors are whatever clients and workers sent.

function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props || {})) {
    if (value == null || value === false) continue;
    if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else if (name === 'class') el.className = value;
    else el.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child != null && child !== false) el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

function badge(state) {
  return h('span', { class: 'badge', 'data-state': state }, state);
}

function ms(value) {
  if (value == null) return '—';
  if (value < 1000) return `${Math.round(value)} ms`;
  if (value < 60000) return `${(value / 1000).toFixed(value < 10000 ? 2 : 1)} s`;
  return `${(value / 60000).toFixed(1)} min`;
}

function clock(epochMs) {
  if (epochMs == null) return '—';
  const d = new Date(epochMs);
  return d.toLocaleTimeString(undefined, { hour12: false }) + '.' + String(d.getMilliseconds()).padStart(3, '0');
}

function json(value) {
  return JSON.stringify(value, null, 2);
}

function notify(message, isError) {
  const el = $('notice');
  el.textContent = message;
  el.classList.toggle('bad', Boolean(isError));
  el.hidden = !message;
}

const jobHref = (endpoint, id) => `#/job/${encodeURIComponent(endpoint)}/${encodeURIComponent(id)}`;

// Re-rendering a section would drop the keyboard focus of whoever is tabbing through it, so the
// focused control is found again by its data-key and refocused.
function replaceKeepingFocus(container, children) {
  const focused = container.contains(document.activeElement) ? document.activeElement.dataset.key : null;
  container.replaceChildren(...children.flat(Infinity).filter((c) => c != null && c !== false));
  if (focused) container.querySelector(`[data-key="${CSS.escape(focused)}"]`)?.focus();
}

// ---- HTTP

class Unauthorized extends Error {}

function headers(extra) {
  return ui.key ? { ...extra, Authorization: `Bearer ${ui.key}` } : { ...extra };
}

async function call(url, { method = 'GET', body, signal } = {}) {
  const res = await fetch(url, {
    method,
    signal,
    headers: headers(body === undefined ? {} : { 'Content-Type': 'application/json' }),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 401) {
    lock(ui.key ? 'That key was refused.' : '');
    throw new Unauthorized('unauthorized');
  }
  const text = await res.text();
  let data = text;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON: keep the text for the error message.
  }
  if (!res.ok) {
    const why = data && typeof data === 'object' ? data.error || data.detail || data.message || text : text;
    throw new Error(`${method} ${url}: HTTP ${res.status}${why ? `: ${why}` : ''}`);
  }
  return data;
}

// Actions report their failures on the page; a refused key is already handled by lock().
function action(fn) {
  return async (event) => {
    event?.preventDefault?.();
    try {
      await fn(event);
    } catch (e) {
      if (!(e instanceof Unauthorized)) notify(e.message, true);
    }
  };
}

// ---- Key prompt: without the key nothing but the prompt is on the page.

function lock(message) {
  ui.feed?.abort();
  ui.feed = null;
  ui.rows.clear();
  for (const id of ['endpoints', 'faults', 'jobs-body', 'detail', 'endpoint-ids', 'worker-ids']) {
    $(id).replaceChildren();
  }
  // Ids also sit in the filters, the submit form, the counts and the last notice.
  $('f-endpoint').replaceChildren(h('option', { value: '' }, 'any'));
  for (const id of ['f-worker', 'f-q', 'submit-endpoint']) $(id).value = '';
  Object.assign(filters, { state: '', endpoint: '', worker: '', q: '' });
  $('f-state').value = '';
  $('jobs-count').textContent = '';
  delete $('jobs').dataset.query;
  notify('');
  $('app').hidden = true;
  $('forget-key').hidden = true;
  $('key-form').hidden = false;
  $('key-error').textContent = message || '';
  setLive('off');
  $('key-input').focus();
}

function unlock() {
  $('key-form').hidden = true;
  $('app').hidden = false;
  $('forget-key').hidden = !ui.key;
}

$('key-form').addEventListener('submit', (event) => {
  event.preventDefault();
  ui.key = $('key-input').value.trim();
  $('key-input').value = '';
  sessionStorage.setItem(KEY_STORE, ui.key);
  start();
});

$('forget-key').addEventListener('click', () => {
  sessionStorage.removeItem(KEY_STORE);
  ui.key = '';
  lock('');
});

// ---- Overview: endpoints and fault rules

function renderOverview(overview) {
  const endpoints = overview.endpoints || [];
  replaceKeepingFocus($('endpoints'), endpoints.length ? endpoints.map(endpointCard) :
    [h('p', { class: 'muted' }, 'No endpoint has been used yet. Submit a job or start a worker.')]);
  renderFaults(overview.faults || []);

  // Choices for the filters and the submit form follow what the server knows.
  const ids = endpoints.map((e) => e.id);
  const workers = [...new Set(endpoints.flatMap((e) => (e.workers || []).map((w) => w.id)))];
  $('endpoint-ids').replaceChildren(...ids.map((id) => h('option', { value: id })));
  $('worker-ids').replaceChildren(...workers.map((id) => h('option', { value: id })));
  const select = $('f-endpoint');
  const chosen = select.value;
  const known = new Set([...select.options].map((o) => o.value));
  if (ids.some((id) => !known.has(id)) || known.size !== ids.length + 1) {
    select.replaceChildren(h('option', { value: '' }, 'any'), ...ids.map((id) => h('option', { value: id }, id)));
    if (chosen && !ids.includes(chosen)) select.append(h('option', { value: chosen }, chosen));
    select.value = chosen;
  }
  if (!$('submit-endpoint').value && ids.length) $('submit-endpoint').value = ids[0];
}

function endpointCard(ep) {
  const queue = ep.queue || {};
  const workers = ep.workers || [];
  const batches = ep.batches || [];
  // A load-balancing endpoint has no queue: its card is its workers only.
  const lbOnly = workers.length > 0 && workers.every((w) => w.kind === 'lb') && STATES.every((s) => !queue[s]);
  return h('article', { class: 'card endpoint', 'data-endpoint': ep.id },
    h('header', { class: 'row' },
      h('h3', {}, ep.id),
      lbOnly ? h('span', { class: 'muted' }, 'load balancing') : h('button', {
        type: 'button', 'data-key': `purge:${ep.id}`,
        'aria-label': `Purge the queue of ${ep.id}`,
        onclick: action(() => purge(ep.id)),
      }, 'Purge queue')),
    lbOnly ? null : h('ul', { class: 'counts', 'aria-label': 'Jobs by state' },
      STATES.map((s) => h('li', {},
        h('button', {
          type: 'button', class: 'count', 'data-key': `count:${ep.id}:${s}`, 'data-state': s,
          title: `Show ${s} jobs of ${ep.id}`,
          onclick: () => setFilters({ endpoint: ep.id, state: s }),
        }, h('span', { class: 'n' }, queue[s] ?? 0), ' ', h('span', { class: 'label' }, s))))),
    lbOnly ? null : h('dl', { class: 'stats' },
      h('div', {}, h('dt', {}, 'Jobs/s'), h('dd', {}, (ep.jobs_per_second ?? 0).toFixed(1))),
      h('div', {}, h('dt', {}, 'Delay p50 / p99'), h('dd', {}, `${ms(ep.delay_ms?.p50)} / ${ms(ep.delay_ms?.p99)}`)),
      h('div', {}, h('dt', {}, 'Execution p50 / p99'),
        h('dd', {}, `${ms(ep.execution_ms?.p50)} / ${ms(ep.execution_ms?.p99)}`))),
    workers.length
      ? h('table', { class: 'small' },
        h('caption', {}, `Workers (${workers.length})`),
        h('thead', {}, h('tr', {}, ['Worker', 'Kind', 'Seen', 'Jobs held / health'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, workers.map((w) => h('tr', {},
          h('td', { class: 'mono' }, w.id),
          h('td', {}, w.kind),
          h('td', {}, w.last_seen_ms_ago == null ? '—' : `${ms(w.last_seen_ms_ago)} ago`),
          h('td', {}, w.kind === 'lb' ? (w.health || 'unknown')
            : (w.jobs || []).length ? (w.jobs || []).map((id, i) => [i ? ', ' : '',
              h('a', { href: jobHref(ep.id, id), class: 'mono' }, id)]) : 'idle')))))
      : h('p', { class: 'muted' }, 'No workers.'),
    batches.length
      ? h('table', { class: 'small' },
        h('caption', {}, `Batches (${batches.length})`),
        h('thead', {}, h('tr', {}, ['Batch', 'State', 'Done / total', 'Failed'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, batches.map((b) => h('tr', {},
          h('td', { class: 'mono' }, b.id), h('td', {}, b.state),
          h('td', {}, `${b.completed} / ${b.total}`), h('td', {}, b.failed)))))
      : null);
}

function renderFaults(faults) {
  replaceKeepingFocus($('faults'), faults.length
    ? [h('ul', { class: 'faults' }, faults.map((f) => h('li', {},
      h('label', {},
        h('input', {
          type: 'checkbox', checked: f.enabled, 'data-key': `fault:${f.index}`,
          onchange: action(async (event) => {
            const box = event.target;
            box.disabled = true;
            try {
              await call(`${API}/faults/${f.index}`, { method: 'POST', body: { enabled: box.checked } });
            } catch (e) {
              box.checked = !box.checked;
              throw e;
            } finally {
              box.disabled = false;
            }
          }),
        }),
        ' ', h('code', {}, f.rule)))))]
    : [h('p', { class: 'muted' }, 'No fault rules. Start runpod-local with --fault RULE to add some.')]);
}

async function purge(endpoint) {
  if (!confirm(`Remove every queued job of ${endpoint}?`)) return;
  const res = await call(`/v2/${encodeURIComponent(endpoint)}/purge-queue`, { method: 'POST' });
  notify(`Purged ${res?.removed ?? 0} queued job(s) of ${endpoint}.`);
}

// ---- Job list: one page of PAGE_SIZE rows at a time, filtered by the server, so the page
// stays as light with 10 000 jobs as with ten.

const filters = { state: '', endpoint: '', worker: '', q: '' };
let listSeq = 0;
let listAbort = null;

function matches(job) {
  return (!filters.state || job.state === filters.state)
    && (!filters.endpoint || job.endpoint === filters.endpoint)
    && (!filters.worker || job.worker === filters.worker)
    && (!filters.q || job.id.includes(filters.q));
}

async function loadJobs() {
  // A newer query wins: the older request is aborted and its answer, if any, ignored.
  listAbort?.abort();
  listAbort = new AbortController();
  const seq = ++listSeq;
  const params = new URLSearchParams({ offset: ui.offset, limit: PAGE_SIZE });
  for (const [name, value] of Object.entries(filters)) if (value) params.set(name, value);
  $('jobs').setAttribute('aria-busy', 'true');
  try {
    const page = await call(`${API}/jobs?${params}`, { signal: listAbort.signal });
    if (seq === listSeq) renderJobs(page, params.toString());
  } catch (e) {
    if (e.name !== 'AbortError') throw e;
  } finally {
    if (seq === listSeq) $('jobs').setAttribute('aria-busy', 'false');
  }
}

function renderJobs(page, query) {
  ui.rows.clear();
  const body = $('jobs-body');
  const rows = page.jobs.map((job) => {
    const tr = jobRow(job);
    ui.rows.set(job.id, { job, tr });
    return tr;
  });
  body.replaceChildren(...(rows.length ? rows
    : [h('tr', {}, h('td', { colspan: 8, class: 'muted' }, 'No jobs match.'))]));
  // Tests and scripts can tell which query the rows answer.
  $('jobs').dataset.query = query;
  const first = page.total ? page.offset + 1 : 0;
  const last = page.offset + page.jobs.length;
  $('jobs-count').textContent = `${first.toLocaleString()}–${last.toLocaleString()} of ${page.total.toLocaleString()}`;
  $('prev').disabled = page.offset === 0;
  $('next').disabled = last >= page.total;
  if (page.offset === 0) $('newer').hidden = true;
}

function jobRow(job) {
  const tr = h('tr', { 'data-id': job.id },
    h('td', {}, h('a', { class: 'mono', href: jobHref(job.endpoint, job.id), title: job.id }, job.id)),
    h('td', {}, job.endpoint),
    h('td', { class: 'state' }, badge(job.state)),
    h('td', { class: 'mono worker' }, job.worker || '—'),
    h('td', {}, clock(job.created_ms)),
    h('td', {}, ms(job.delay_ms)),
    h('td', {}, ms(job.execution_ms)),
    h('td', {}, job.retries ?? 0));
  if (ui.detail?.id === job.id) tr.classList.add('selected');
  return tr;
}

// The feed says which jobs moved. Rows on screen change in place; a job that enters or leaves
// the filtered view makes the page reload, at most once per RELOAD_GAP however busy the server.
const RELOAD_GAP = 400;
let reloadBusy = false;
let reloadAgain = false;

async function reloadSoon() {
  if (reloadBusy) {
    reloadAgain = true;
    return;
  }
  reloadBusy = true;
  try {
    do {
      reloadAgain = false;
      await loadJobs().catch(() => {});
      await sleep(RELOAD_GAP);
    } while (reloadAgain);
  } finally {
    reloadBusy = false;
  }
}

function onJobEvents(events) {
  let reload = false;
  for (const ev of events) {
    const row = ui.rows.get(ev.id);
    if (ev.state === 'GONE' || ev.state == null) {
      // The job left the server (purged, or its ttl or result retention ended).
      if (row) reload = true;
    } else if (row) {
      // The state shows at once; the timings the event lacks come with the throttled reload.
      Object.assign(row.job, { state: ev.state, worker: ev.worker });
      row.tr.querySelector('.state').replaceChildren(badge(ev.state));
      row.tr.querySelector('.worker').textContent = ev.worker || '—';
      reload = true;
    } else if (matches(ev)) {
      reload = true;
    }
    // The feed also names a job whose progress or stream chunks changed: re-read the open one.
    if (ui.detail && ui.detail.id === ev.id && ui.detail.endpoint === ev.endpoint) refreshDetailSoon();
  }
  if (!reload) return;
  // On a later page, new jobs would shift the rows under the reader: offer to jump instead.
  if (ui.offset === 0) reloadSoon();
  else if (events.some((ev) => !ui.rows.has(ev.id) && matches(ev))) $('newer').hidden = false;
}

function setFilters(changes) {
  Object.assign(filters, changes);
  $('f-state').value = filters.state;
  $('f-endpoint').value = filters.endpoint;
  $('f-worker').value = filters.worker;
  $('f-q').value = filters.q;
  ui.offset = 0;
  loadJobs().catch((e) => notify(e.message, true));
}

function debounce(fn, wait) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), wait);
  };
}

$('f-state').append(...STATES.map((s) => h('option', { value: s }, s)));
$('f-state').addEventListener('change', (e) => setFilters({ state: e.target.value }));
$('f-endpoint').addEventListener('change', (e) => setFilters({ endpoint: e.target.value }));
// Typed filters wait for a pause in typing rather than querying on every key.
$('f-worker').addEventListener('input', debounce((e) => setFilters({ worker: e.target.value.trim() }), 200));
$('f-q').addEventListener('input', debounce((e) => setFilters({ q: e.target.value.trim() }), 200));
$('filters').addEventListener('submit', (e) => e.preventDefault());
$('prev').addEventListener('click', action(() => {
  ui.offset = Math.max(0, ui.offset - PAGE_SIZE);
  return loadJobs();
}));
$('next').addEventListener('click', action(() => {
  ui.offset += PAGE_SIZE;
  return loadJobs();
}));
$('newer').addEventListener('click', action(() => {
  ui.offset = 0;
  return loadJobs();
}));

// ---- Job detail, routed by the address (#/job/ENDPOINT/ID) so that it can be linked, opened
// with the keyboard, and left with the back button.

function route() {
  const match = /^#\/job\/([^/]+)\/([^/]+)$/.exec(location.hash);
  document.querySelectorAll('#jobs-body tr.selected').forEach((tr) => tr.classList.remove('selected'));
  if (!match) {
    ui.detail = null;
    $('detail').hidden = true;
    $('detail').replaceChildren();
    return;
  }
  ui.detail = { endpoint: decodeURIComponent(match[1]), id: decodeURIComponent(match[2]) };
  ui.rows.get(ui.detail.id)?.tr.classList.add('selected');
  loadDetail().catch((e) => notify(e.message, true));
}

window.addEventListener('hashchange', route);

async function loadDetail() {
  const want = ui.detail;
  if (!want) return;
  const job = await call(`${API}/jobs/${encodeURIComponent(want.endpoint)}/${encodeURIComponent(want.id)}`);
  if (ui.detail !== want) return;
  renderDetail(job);
}

const refreshDetailSoon = debounce(() => loadDetail().catch(() => {}), 100);

function renderDetail(job) {
  const section = $('detail');
  const ended = !ACTIVE.has(job.state);
  // runpod-local, like Runpod, retries only jobs that failed or timed out.
  const canRetry = job.state === 'FAILED' || job.state === 'TIMED_OUT';
  const hasError = job.error != null && job.error !== '';
  replaceKeepingFocus(section, [
    h('header', { class: 'row' },
      h('h2', { id: 'detail-h' }, 'Job ', h('span', { class: 'mono' }, job.id)),
      h('a', { href: '#', class: 'close', 'data-key': 'close' }, 'Close')),
    h('p', { class: 'row' }, h('span', { id: 'detail-state' }, badge(job.state)),
      h('button', {
        type: 'button', 'data-key': 'cancel', disabled: ended,
        onclick: action(async () => {
          await call(`/v2/${encodeURIComponent(job.endpoint)}/cancel/${encodeURIComponent(job.id)}`, { method: 'POST' });
          await loadDetail();
        }),
      }, 'Cancel'),
      h('button', {
        type: 'button', 'data-key': 'retry', disabled: !canRetry,
        onclick: action(async () => {
          await call(`/v2/${encodeURIComponent(job.endpoint)}/retry/${encodeURIComponent(job.id)}`, { method: 'POST' });
          await loadDetail();
        }),
      }, 'Retry')),
    h('dl', { class: 'stats' },
      h('div', {}, h('dt', {}, 'Endpoint'), h('dd', {}, job.endpoint)),
      h('div', {}, h('dt', {}, 'Worker'), h('dd', { class: 'mono' }, job.worker || '—')),
      h('div', {}, h('dt', {}, 'Created'), h('dd', {}, clock(job.created_ms))),
      h('div', {}, h('dt', {}, 'Delay'), h('dd', {}, ms(job.delay_ms))),
      h('div', {}, h('dt', {}, 'Execution'), h('dd', {}, ms(job.execution_ms))),
      h('div', {}, h('dt', {}, 'Retries'), h('dd', { id: 'detail-retries' }, job.retries ?? 0))),
    h('h3', {}, 'Input'),
    h('pre', { id: 'detail-input' }, json(job.input)),
    hasError ? [h('h3', {}, 'Error'), errorView(job.error)] : null,
    job.output !== undefined && job.output !== null
      ? [h('h3', {}, 'Output'), h('pre', { id: 'detail-output' }, json(job.output))] : null,
    listOf('Progress', 'detail-progress', job.progress, (p) => [h('span', { class: 'muted' }, clock(p.at_ms)), ' ', h('code', {}, JSON.stringify(p.output))]),
    listOf('Stream', 'detail-stream', job.stream, (chunk) => h('code', {}, JSON.stringify(chunk))),
    (job.webhook || []).length
      ? h('table', { class: 'small', id: 'detail-webhooks' },
        h('caption', {}, 'Webhook deliveries'),
        h('thead', {}, h('tr', {}, ['URL', 'At', 'Status', 'Error'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, job.webhook.map((w) => h('tr', {},
          h('td', { class: 'mono' }, w.url), h('td', {}, clock(w.at_ms)),
          h('td', {}, w.status ?? '—'), h('td', {}, w.error ?? '')))))
      : null,
  ]);
  section.hidden = false;
}

function listOf(title, id, items, item) {
  if (!items || !items.length) return null;
  return [h('h3', {}, `${title} (${items.length})`), h('ol', { id, class: 'chunks' }, items.map((x) => h('li', {}, item(x))))];
}

// A worker's error is a string, often holding the Python SDK's JSON document
// {error_type, error_message, error_traceback}; it is laid out field by field when it is one.
function errorView(error) {
  let e = error;
  if (typeof e === 'string') {
    try {
      const parsed = JSON.parse(e);
      if (parsed && typeof parsed === 'object') e = parsed;
    } catch {
      // A plain message.
    }
  }
  if (typeof e !== 'object' || e === null) return h('pre', { id: 'detail-error', class: 'error-text' }, String(e));
  const { error_type: type, error_message: message, error_traceback: traceback, ...rest } = e;
  return h('div', { id: 'detail-error', class: 'error' },
    h('p', {}, h('strong', {}, type || 'Error'), message ? `: ${message}` : ''),
    traceback ? h('details', { open: true }, h('summary', {}, 'Traceback'), h('pre', {}, traceback)) : null,
    Object.keys(rest).length ? h('pre', {}, json(rest)) : null);
}

// ---- Submit: the editor is checked as it is typed; invalid JSON says where, and cannot be sent.

function checkInput() {
  const text = $('submit-input').value;
  const out = $('submit-check');
  try {
    JSON.parse(text);
    out.textContent = 'Valid JSON.';
    out.classList.remove('bad');
    $('submit-input').removeAttribute('aria-invalid');
    $('submit-button').disabled = false;
    return true;
  } catch (e) {
    // Browsers differ in how they say where; when only an offset is given, it is turned into a
    // line and column, which is what an editor shows.
    const at = /position (\d+)/.exec(e.message);
    let where = '';
    if (at && !/line \d+/.test(e.message)) {
      const before = text.slice(0, Number(at[1])).split('\n');
      where = ` (line ${before.length}, column ${before[before.length - 1].length + 1})`;
    }
    out.textContent = `Invalid JSON${where}: ${e.message}`;
    out.classList.add('bad');
    $('submit-input').setAttribute('aria-invalid', 'true');
    $('submit-button').disabled = true;
    return false;
  }
}

$('submit-input').addEventListener('input', checkInput);
$('submit-form').addEventListener('submit', action(async () => {
  const endpoint = $('submit-endpoint').value.trim();
  if (!endpoint) {
    $('submit-endpoint').focus();
    throw new Error('Name the endpoint to submit to.');
  }
  if (!checkInput()) return;
  const input = JSON.parse($('submit-input').value);
  const res = await call(`/v2/${encodeURIComponent(endpoint)}/run`, { method: 'POST', body: { input } });
  notify(`Submitted ${res.id} to ${endpoint}.`);
  // Show the state /run answered at once, then follow the job live.
  ui.detail = { endpoint, id: res.id };
  renderDetail({ id: res.id, endpoint, state: res.status || 'IN_QUEUE', input });
  location.hash = jobHref(endpoint, res.id);
}));

// ---- Live feed: server-sent events read with fetch, because EventSource cannot send the key.

function setLive(mode) {
  const el = $('live');
  el.dataset.live = mode;
  el.textContent = { on: 'live', off: 'offline', wait: 'reconnecting…' }[mode];
}

async function follow(signal) {
  let backoff = 500;
  while (!signal.aborted) {
    try {
      const res = await fetch(`${API}/events`, { headers: headers({ Accept: 'text/event-stream' }), signal, cache: 'no-store' });
      if (res.status === 401) {
        lock(ui.key ? 'That key was refused.' : '');
        return;
      }
      if (!res.ok || !res.body) throw new Error(`events: HTTP ${res.status}`);
      setLive('on');
      backoff = 500;
      await readEvents(res.body, dispatch);
    } catch {
      // Dropped or refused; retried below.
    }
    if (signal.aborted) return;
    setLive('wait');
    await sleep(backoff);
    backoff = Math.min(backoff * 2, 5000);
    // What happened while the feed was down is unknown: read everything again.
    if (!signal.aborted) resync();
  }
}

// The text/event-stream format: fields per line, events end at an empty line.
async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let type = 'message';
      const data = [];
      for (const raw of block.split('\n')) {
        const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
        if (!line || line.startsWith(':')) continue; // keepalive comments
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const val = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') type = val;
        else if (field === 'data') data.push(val);
      }
      if (data.length || type !== 'message') onEvent(type, data.join('\n'));
    }
  }
}

function dispatch(type, data) {
  try {
    if (type === 'overview') renderOverview(JSON.parse(data));
    else if (type === 'jobs') onJobEvents(JSON.parse(data));
    else if (type === 'resync') resync();
  } catch (e) {
    notify(`Bad event from the server: ${e.message}`, true);
  }
}

async function resync() {
  try {
    renderOverview(await call(`${API}/overview`));
    await loadJobs();
    if (ui.detail) await loadDetail();
  } catch (e) {
    if (!(e instanceof Unauthorized)) notify(e.message, true);
  }
}

async function start() {
  try {
    const overview = await call(`${API}/overview`);
    unlock();
    renderOverview(overview);
    await loadJobs();
    route();
    ui.feed?.abort();
    ui.feed = new AbortController();
    follow(ui.feed.signal);
  } catch (e) {
    if (!(e instanceof Unauthorized)) notify(`Cannot reach runpod-local: ${e.message}`, true);
  }
}

checkInput();
start();
