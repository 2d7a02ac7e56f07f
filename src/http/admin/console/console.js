// Tessera console: a same-origin client of the admin API (/admin/v1). No framework, no other
// origin. Data from the API is only ever put in the page as text (textContent), never as HTML.
'use strict';

(() => {
  const API = '/admin/v1';
  const TOKEN_KEY = 'tessera.console.token';
  const SECRET_LIFETIME_MS = 30 * 1000;
  const MAX_GRACE_SECONDS = 604800;
  const DEFAULT_ROLES = ['workspace_admin', 'content_manager', 'chat_user'];
  const OTHER_ROLE = '__other__';

  // The admin token: this tab only (sessionStorage), cleared on sign-out.
  let token = null;
  // The secret being shown, if any: this variable and one <code> element, nothing else.
  let secret = null;
  let secretTimer = null;
  let countdownTimer = null;
  // The account view's data, for dialogs and refreshes.
  let current = null;
  let renderGeneration = 0;

  const $ = (id) => document.getElementById(id);

  // ---- DOM helpers ----

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'class') el.className = value;
      else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
      else el.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : String(child));
    }
    return el;
  }

  function fmtTime(iso) {
    if (!iso) return '—';
    return String(iso).replace('T', ' ').replace(/\.\d+/, '').replace(/Z$|\+00:00$/, ' UTC');
  }

  function badge(status) {
    return h('span', { class: 'badge badge-' + status }, status);
  }

  function announce(message) {
    const status = $('status');
    status.textContent = '';
    // A new text node after a tick, so that the same message twice is announced twice.
    setTimeout(() => { status.textContent = message; }, 30);
  }

  function table(caption, headers, rows, empty) {
    if (rows.length === 0) return h('p', { class: 'empty' }, empty);
    return h('div', { class: 'table-wrap' },
      h('table', null,
        h('caption', { class: 'visually-hidden' }, caption),
        h('thead', null, h('tr', null, headers.map((x) => h('th', { scope: 'col' }, x)))),
        h('tbody', null, rows)));
  }

  // ---- the admin API ----

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function call(bearer, method, path, body) {
    const headers = { Authorization: 'Bearer ' + bearer, Accept: 'application/json' };
    const init = {
      method, headers, cache: 'no-store', credentials: 'omit', redirect: 'error',
      referrerPolicy: 'no-referrer',
    };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(API + path, init);
    } catch (_) {
      throw new ApiError(0, 'network', 'The admin API could not be reached.');
    }
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (!response.ok) {
      const message = (data && data.message) || 'HTTP ' + response.status;
      throw new ApiError(response.status, data && data.error, message);
    }
    return data;
  }

  async function api(method, path, body) {
    try {
      return await call(token, method, path, body);
    } catch (e) {
      if (e.status === 401) signOut(e.message);
      throw e;
    }
  }

  const q = (params) => {
    const s = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v) s.set(k, v);
    const text = s.toString();
    return text ? '?' + text : '';
  };

  // ---- signing in and out ----

  function showSignedIn(signedIn) {
    $('sign-in-view').hidden = signedIn;
    $('app-view').hidden = !signedIn;
    $('nav').hidden = !signedIn;
    $('sign-out').hidden = !signedIn;
  }

  async function signIn(event) {
    event.preventDefault();
    const input = $('token-input');
    const error = $('sign-in-error');
    const candidate = input.value.trim();
    error.textContent = '';
    if (!candidate) {
      error.textContent = 'Enter an admin token.';
      input.focus();
      return;
    }
    try {
      await call(candidate, 'GET', '/accounts?limit=1');
    } catch (e) {
      error.textContent = e.message;
      input.focus();
      return;
    }
    token = candidate;
    sessionStorage.setItem(TOKEN_KEY, candidate);
    input.value = '';
    showSignedIn(true);
    announce('Signed in.');
    if (location.hash.startsWith('#/')) route(); else location.hash = '#/accounts';
  }

  function signOut(message) {
    clearSecret();
    for (const dialog of document.querySelectorAll('dialog[open]')) dialog.close();
    token = null;
    current = null;
    sessionStorage.removeItem(TOKEN_KEY);
    $('app-view').replaceChildren();
    showSignedIn(false);
    $('sign-in-error').textContent = typeof message === 'string' ? message : '';
    announce(typeof message === 'string' ? message : 'Signed out.');
    $('token-input').focus();
  }

  // ---- dialogs ----

  // Opens `dialog` as a modal; focus goes into it, and back to `returnTo` (an element or a
  // selector of its replacement after a refresh) when it closes.
  function openDialog(dialog, returnTo) {
    dialog.returnTo = returnTo || document.activeElement;
    for (const error of dialog.querySelectorAll('.error')) error.textContent = '';
    dialog.showModal();
    const first = dialog.querySelector('[data-initial-focus]');
    if (first) first.focus();
  }

  function restoreFocus(dialog) {
    const target = dialog.returnTo;
    dialog.returnTo = null;
    // Another dialog took over (say, the secret after a creation): focus stays in it.
    if (document.querySelector('dialog[open]')) return;
    let el = null;
    if (target instanceof Element && target.isConnected) el = target;
    else if (target instanceof Element && target.dataset.key) {
      el = document.querySelector('[data-key="' + CSS.escape(target.dataset.key) + '"]');
    }
    if (!el) el = document.querySelector('#app-view h1');
    if (el) el.focus();
  }

  function keyOf(el) {
    return el instanceof Element && el.dataset.key ? el : null;
  }

  // Runs `action` when `dialog`'s form is submitted; its error shows in the dialog.
  function onSubmit(dialog, action) {
    const form = dialog.querySelector('form');
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const error = dialog.querySelector('.error');
      const buttons = form.querySelectorAll('button');
      error.textContent = '';
      buttons.forEach((b) => { b.disabled = true; });
      try {
        await action(form);
      } catch (e) {
        error.textContent = e.message;
      } finally {
        buttons.forEach((b) => { b.disabled = false; });
      }
    });
  }

  let confirmAction = null;

  function confirmDialog(opener, { title, message, button, action }) {
    $('confirm-title').textContent = title;
    $('confirm-message').replaceChildren(...message);
    $('confirm-ok').textContent = button;
    confirmAction = action;
    openDialog($('confirm-dialog'), opener);
  }

  function fillRoles(select, selected) {
    const roles = DEFAULT_ROLES.includes(selected) || !selected
      ? DEFAULT_ROLES : [...DEFAULT_ROLES, selected];
    select.replaceChildren(
      ...roles.map((r) => h('option', { value: r, selected: r === selected }, r)),
      h('option', { value: OTHER_ROLE }, 'Other…'));
    syncOtherRole(select);
  }

  function syncOtherRole(select) {
    const other = select.closest('form').querySelector('[data-other-role]');
    other.hidden = select.value !== OTHER_ROLE;
  }

  function chosenRole(select) {
    if (select.value !== OTHER_ROLE) return select.value;
    return select.closest('form').querySelector('[data-other-role] input').value.trim();
  }

  function credentialLabel(c) {
    return [h('strong', null, '“' + c.name + '”'), ' (', h('code', null, c.client_id), ')'];
  }

  // ---- the secret, shown once ----

  function showSecret(issued, returnTo) {
    const value = issued.client_secret;
    delete issued.client_secret;
    delete issued.curl_example;
    clearSecret();
    secret = value;
    $('secret-for').replaceChildren('For ', ...credentialLabel(issued), '.');
    $('secret-box').replaceChildren(h('code', { id: 'secret-value' }, value));
    $('secret-copy').disabled = false;
    let left = Math.round(SECRET_LIFETIME_MS / 1000);
    const tick = () => { $('secret-countdown').textContent = 'Cleared in ' + left + ' s.'; };
    tick();
    countdownTimer = setInterval(() => { left = Math.max(0, left - 1); tick(); }, 1000);
    secretTimer = setTimeout(() => clearSecret('The secret was cleared from the page.'),
      SECRET_LIFETIME_MS);
    openDialog($('secret-dialog'), returnTo);
    announce('New secret shown once: copy it now.');
  }

  function clearSecret(message) {
    const hadSecret = secret !== null || $('secret-value') !== null;
    clearTimeout(secretTimer);
    clearInterval(countdownTimer);
    secretTimer = null;
    countdownTimer = null;
    secret = null;
    const code = $('secret-value');
    if (code) {
      code.textContent = '';
      code.remove();
    }
    $('secret-box').replaceChildren();
    $('secret-copy').disabled = true;
    $('secret-countdown').textContent = '';
    if ($('secret-dialog').open) $('secret-dialog').close();
    if (hadSecret && typeof message === 'string') announce(message);
  }

  async function copySecret() {
    if (secret === null) return;
    try {
      if (!navigator.clipboard) throw new Error('no clipboard');
      await navigator.clipboard.writeText(secret);
      announce('Secret copied to the clipboard.');
    } catch (_) {
      const code = $('secret-value');
      if (code) window.getSelection().selectAllChildren(code);
      announce('Could not copy: the secret is selected, copy it with your keyboard.');
    }
  }

  // ---- views ----

  function route() {
    if (!token) return;
    clearSecret('The secret was cleared from the page.');
    for (const dialog of document.querySelectorAll('dialog[open]')) dialog.close();
    const hash = location.hash || '#/accounts';
    const [path, query] = hash.slice(1).split('?');
    const parts = path.split('/').filter(Boolean);
    for (const link of document.querySelectorAll('#nav a')) {
      const active = link.dataset.nav === (parts[0] || 'accounts');
      if (active) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    const generation = ++renderGeneration;
    let view;
    if (parts[0] === 'audit') view = renderAudit(generation, new URLSearchParams(query || ''));
    else if (parts[0] === 'accounts' && parts[1]) view = renderAccount(generation, parts[1], true);
    else view = renderAccounts(generation);
    view.catch((e) => showViewError(generation, e));
  }

  function mount(generation, ...children) {
    if (generation !== renderGeneration || !token) return false;
    $('app-view').replaceChildren(...children);
    return true;
  }

  function focusHeading() {
    const heading = document.querySelector('#app-view h1');
    if (heading) heading.focus();
  }

  function showViewError(generation, e) {
    if (e.status === 401) return;
    mount(generation, h('h1', { tabindex: -1 }, 'Something went wrong'),
      h('p', { class: 'error', role: 'alert' }, e.message));
  }

  function loadMoreButton(label, nextCursor, load) {
    if (!nextCursor) return null;
    const button = h('button', { type: 'button', class: 'quiet load-more' }, label);
    button.addEventListener('click', async () => {
      button.disabled = true;
      try {
        await load(nextCursor, button);
      } catch (e) {
        button.disabled = false;
        announce(e.message);
      }
    });
    return button;
  }

  async function renderAccounts(generation) {
    const page = await api('GET', '/accounts?limit=100');
    const rowOf = (a) => h('tr', { 'data-account-id': a.id },
      h('td', null, h('a', { href: '#/accounts/' + encodeURIComponent(a.id) }, a.name)),
      h('td', null, h('code', null, a.id)),
      h('td', null, a.plan),
      h('td', null, badge(a.status)),
      h('td', null, fmtTime(a.created_at)));
    const rows = page.items.map(rowOf);
    const body = table('Accounts', ['Name', 'Id', 'Plan', 'Status', 'Created'], rows,
      'No accounts yet. Create one with the admin API.');
    const more = (cursor, button) => api('GET', '/accounts' + q({ limit: 100, cursor }))
      .then((next) => {
        body.querySelector('tbody').append(...next.items.map(rowOf));
        const again = loadMoreButton('Load more accounts', next.next_cursor, more);
        button.replaceWith(again || '');
      });
    if (mount(generation,
      h('h1', { tabindex: -1 }, 'Accounts'),
      h('p', { class: 'lead' }, page.items.length === 1 && !page.next_cursor
        ? 'This admin token sees one account.' : 'Customer organisations and their plans.'),
      body,
      loadMoreButton('Load more accounts', page.next_cursor, more))) focusHeading();
  }

  async function fetchAll(path) {
    const items = [];
    let cursor = null;
    do {
      const sep = path.includes('?') ? '&' : '?';
      const page = await api('GET', path + sep + 'limit=200' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''));
      items.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor && items.length < 2000);
    return items;
  }

  async function renderAccount(generation, id, moveFocus) {
    const enc = encodeURIComponent(id);
    const [account, usage, workspaces, credentials] = await Promise.all([
      api('GET', '/accounts/' + enc),
      api('GET', '/accounts/' + enc + '/usage'),
      fetchAll('/accounts/' + enc + '/workspaces'),
      fetchAll('/credentials?account_id=' + enc),
    ]);
    current = { account, workspaces, credentials };
    const wsName = new Map(workspaces.map((w) => [w.id, w.name]));

    const statusButton = (kind, item) => {
      const suspend = item.status === 'active';
      return h('button', {
        type: 'button', class: suspend ? 'danger-quiet' : 'quiet',
        'data-action': suspend ? 'suspend' : 'reactivate',
        'data-key': kind + '-status:' + item.id,
        'aria-label': (suspend ? 'Suspend ' : 'Reactivate ') + kind + ' ' + item.name,
        onclick: (e) => confirmStatus(e.currentTarget, kind, item, suspend ? 'suspended' : 'active'),
      }, suspend ? 'Suspend' : 'Reactivate');
    };

    const quota = usage.monthly_token_quota;
    const usageList = h('dl', { class: 'stats' },
      h('div', null, h('dt', null, 'Tokens issued (' + usage.month + ')'),
        h('dd', null, usage.tokens_issued + (quota === null ? '' : ' of ' + quota))),
      h('div', null, h('dt', null, 'Remaining'),
        h('dd', null, usage.tokens_remaining === null ? 'no quota' : String(usage.tokens_remaining))),
      h('div', null, h('dt', null, 'Resets'), h('dd', null, fmtTime(usage.resets_at))),
      h('div', null, h('dt', null, 'Active credentials'),
        h('dd', null, usage.active_credentials + (usage.max_active_credentials === null ? '' : ' of ' + usage.max_active_credentials))),
      h('div', null, h('dt', null, 'Token requests per minute'),
        h('dd', null, usage.token_requests_per_minute === null ? 'no limit' : String(usage.token_requests_per_minute))));

    const wsRows = workspaces.map((w) => h('tr', { 'data-workspace-id': w.id },
      h('td', null, w.name),
      h('td', null, h('code', null, w.id)),
      h('td', null, badge(w.status)),
      h('td', null, fmtTime(w.created_at)),
      h('td', { class: 'row-actions' }, statusButton('workspace', w))));

    const credRows = credentials.map((c) => credentialRow(c, wsName));

    const createButton = h('button', {
      type: 'button', class: 'primary', id: 'create-credential', 'data-key': 'create-credential',
      onclick: (e) => openCreate(e.currentTarget),
    }, 'Create credential');

    const children = [
      h('nav', { class: 'breadcrumb', 'aria-label': 'Breadcrumb' },
        h('a', { href: '#/accounts' }, 'Accounts'), ' / ', h('span', { 'aria-current': 'page' }, account.name)),
      h('div', { class: 'title-row' },
        h('h1', { tabindex: -1, id: 'account-title' }, account.name, ' ', badge(account.status)),
        statusButton('account', account)),
      h('p', { class: 'lead' }, 'Account ', h('code', null, account.id), ' · plan ', h('strong', null, account.plan),
        ' · ', h('a', { href: '#/audit' + q({ account_id: account.id }) }, 'audit log')),
      h('section', { 'aria-labelledby': 'usage-title', class: 'card' },
        h('h2', { id: 'usage-title' }, 'Plan usage'), usageList),
      h('section', { 'aria-labelledby': 'workspaces-title', class: 'card' },
        h('h2', { id: 'workspaces-title' }, 'Workspaces'),
        table('Workspaces', ['Name', 'Id', 'Status', 'Created', h('span', { class: 'visually-hidden' }, 'Actions')],
          wsRows, 'No workspaces.')),
      h('section', { 'aria-labelledby': 'credentials-title', class: 'card' },
        h('div', { class: 'title-row' }, h('h2', { id: 'credentials-title' }, 'Credentials'), createButton),
        table('Credentials', ['Name', 'Type and role', 'Status', 'Secret or keys', 'Last used',
          h('span', { class: 'visually-hidden' }, 'Actions')], credRows, 'No credentials yet.')),
    ];
    if (mount(generation, ...children) && moveFocus) focusHeading();
  }

  function credentialRow(c, wsName) {
    const isWorkspace = c.kind === 'workspace';
    const active = c.status === 'active';
    const label = ' ' + c.name + ' (' + c.client_id + ')';
    // Only a client_secret credential has a secret to show and to rotate.
    const method = c.auth_method || 'client_secret';
    const hasSecret = method === 'client_secret';
    const keyCount = c.jwks ? c.jwks.keys.length : 0;
    const ruleCount = c.trust ? c.trust.length : 0;
    const secrets = !hasSecret
      ? h('div', { 'data-auth-method': method }, method,
        method === 'private_key_jwt'
          ? h('div', { class: 'hint' }, keyCount + (keyCount === 1 ? ' public key' : ' public keys'))
          : method === 'federated'
            ? h('div', { class: 'hint' }, ruleCount + (ruleCount === 1 ? ' trust rule' : ' trust rules'))
            : null)
      : c.secrets.length === 0 ? '—' : c.secrets.map((s, i) => h('div', null,
        h('code', null, '…' + s.last4),
        i > 0 || s.expires_at ? h('span', { class: 'hint' }, ' until ' + fmtTime(s.expires_at)) : null));
    const actions = [];
    if (c.status !== 'deactivated') {
      if (hasSecret) {
        actions.push(h('button', {
          type: 'button', class: 'quiet', 'data-action': 'rotate', 'data-key': 'rotate:' + c.id,
          'aria-label': 'Rotate secret of' + label, onclick: (e) => openRotate(e.currentTarget, c),
        }, 'Rotate'));
      }
      if (isWorkspace) {
        actions.push(h('button', {
          type: 'button', class: 'quiet', 'data-action': 'role', 'data-key': 'role:' + c.id,
          'aria-label': 'Change role of' + label, onclick: (e) => openRole(e.currentTarget, c),
        }, 'Change role'));
      }
      actions.push(h('button', {
        type: 'button', class: 'danger-quiet', 'data-action': 'deactivate', 'data-key': 'deactivate:' + c.id,
        'aria-label': 'Deactivate' + label, onclick: (e) => confirmDeactivate(e.currentTarget, c),
      }, 'Deactivate'));
    }
    actions.push(h('a', {
      href: '#/audit' + q({ account_id: c.account_id, credential_id: c.id }),
      'aria-label': 'Audit log of' + label,
    }, 'Audit'));
    return h('tr', { 'data-credential-id': c.id, 'data-client-id': c.client_id, 'data-status': c.status },
      h('td', null, h('div', { class: 'name' }, c.name), h('code', { class: 'client-id' }, c.client_id)),
      h('td', null, isWorkspace ? 'Workspace key' : 'Account key',
        h('div', { class: 'hint' }, h('span', { 'data-role': c.role }, c.role),
          isWorkspace ? ' · ' + (wsName.get(c.workspace_id) || c.workspace_id) : '')),
      h('td', null, badge(c.status)),
      h('td', { class: 'secrets' }, secrets),
      h('td', null, c.last_used_at ? fmtTime(c.last_used_at) : 'never',
        c.last_used_ip ? h('div', { class: 'hint' }, 'from ', h('code', null, c.last_used_ip)) : null),
      h('td', { class: 'row-actions' }, actions));
  }

  async function refreshAccount() {
    if (!current) return;
    // The same generation: a navigation since then wins over this refresh.
    await renderAccount(renderGeneration, current.account.id, false);
  }

  // ---- actions ----

  function confirmStatus(opener, kind, item, status) {
    const suspend = status === 'suspended';
    const what = kind === 'account' ? 'account' : 'workspace';
    confirmDialog(opener, {
      title: (suspend ? 'Suspend ' : 'Reactivate ') + what + '?',
      message: [
        (suspend ? 'Suspend ' : 'Reactivate ') + what + ' ', h('strong', null, '“' + item.name + '”'),
        ' (', h('code', null, item.id), ')? ',
        suspend
          ? 'Its credentials stop getting tokens and its tokens are revoked until it is reactivated.'
          : 'Its credentials get tokens again.',
      ],
      button: suspend ? 'Suspend' : 'Reactivate',
      action: async () => {
        const path = (kind === 'account' ? '/accounts/' : '/workspaces/') + encodeURIComponent(item.id);
        await api('PATCH', path, { status });
        await refreshAccount();
        announce((kind === 'account' ? 'Account ' : 'Workspace ') + item.name + (suspend ? ' suspended.' : ' reactivated.'));
      },
    });
  }

  function confirmDeactivate(opener, c) {
    confirmDialog(opener, {
      title: 'Deactivate credential?',
      message: ['Deactivate ', ...credentialLabel(c),
        '? It stops working at once and every token it holds is revoked. This cannot be undone.'],
      button: 'Deactivate',
      action: async () => {
        await api('POST', '/credentials/' + encodeURIComponent(c.id) + '/deactivate');
        await refreshAccount();
        announce('Credential ' + c.name + ' deactivated.');
      },
    });
  }

  function openCreate(opener) {
    const dialog = $('create-dialog');
    const form = dialog.querySelector('form');
    form.reset();
    const wsSelect = $('create-workspace');
    const activeWs = current.workspaces.filter((w) => w.status === 'active');
    wsSelect.replaceChildren(...activeWs.map((w) => h('option', { value: w.id }, w.name)));
    $('create-kind-workspace').disabled = activeWs.length === 0;
    fillRoles($('create-role'), DEFAULT_ROLES[0]);
    syncKind();
    openDialog(dialog, opener);
  }

  function syncKind() {
    const form = $('create-dialog').querySelector('form');
    $('create-workspace-fields').hidden = form.elements.kind.value !== 'workspace';
  }

  function openRotate(opener, c) {
    const dialog = $('rotate-dialog');
    dialog.querySelector('form').reset();
    dialog.credential = c;
    $('rotate-target').replaceChildren('Credential ', ...credentialLabel(c),
      '. The new secret is shown once.');
    openDialog(dialog, opener);
  }

  function openRole(opener, c) {
    const dialog = $('role-dialog');
    dialog.querySelector('form').reset();
    dialog.credential = c;
    $('role-target').replaceChildren('Credential ', ...credentialLabel(c), ', now ',
      h('code', null, c.role), '.');
    fillRoles($('role-select'), c.role);
    openDialog(dialog, opener);
  }

  function setUp() {
    $('sign-in-form').addEventListener('submit', signIn);
    $('sign-out').addEventListener('click', () => signOut());
    $('secret-copy').addEventListener('click', copySecret);
    window.addEventListener('hashchange', route);
    // Leaving the page (or putting it in the back-forward cache) clears the secret.
    window.addEventListener('pagehide', () => clearSecret());
    window.addEventListener('beforeunload', () => clearSecret());

    for (const dialog of document.querySelectorAll('dialog')) {
      for (const close of dialog.querySelectorAll('[data-close]')) {
        close.addEventListener('click', () => dialog.close());
      }
      // (A close event arrives after the fact: ignore it if the dialog was opened again.)
      dialog.addEventListener('close', () => { if (!dialog.open) restoreFocus(dialog); });
    }
    $('secret-dialog').addEventListener('close', () => {
      if (!$('secret-dialog').open) clearSecret('The secret was cleared from the page.');
    });
    for (const select of document.querySelectorAll('.role-select')) {
      select.addEventListener('change', () => syncOtherRole(select));
    }
    for (const radio of $('create-dialog').querySelectorAll('input[name=kind]')) {
      radio.addEventListener('change', syncKind);
    }

    onSubmit($('confirm-dialog'), async () => {
      const action = confirmAction;
      if (!action) return;
      await action();
      confirmAction = null;
      $('confirm-dialog').close();
    });

    onSubmit($('create-dialog'), async (form) => {
      const name = form.elements.name.value.trim();
      if (!name) throw new Error('Enter a name.');
      const body = { name };
      const description = form.elements.description.value.trim();
      if (description) body.description = description;
      let path = '/accounts/' + encodeURIComponent(current.account.id) + '/credentials';
      if (form.elements.kind.value === 'workspace') {
        const workspace = $('create-workspace').value;
        if (!workspace) throw new Error('Choose a workspace.');
        body.role = chosenRole($('create-role'));
        if (!body.role) throw new Error('Enter a role.');
        path = '/workspaces/' + encodeURIComponent(workspace) + '/credentials';
      }
      const issued = await api('POST', path, body);
      const dialog = $('create-dialog');
      const returnTo = keyOf(dialog.returnTo);
      dialog.returnTo = null;
      dialog.close();
      showSecret(issued, returnTo);
      await refreshAccount();
    });

    onSubmit($('rotate-dialog'), async (form) => {
      const dialog = $('rotate-dialog');
      const text = form.elements.grace_seconds.value.trim();
      const grace = Number(text);
      if (text === '' || !Number.isInteger(grace) || grace < 0 || grace > MAX_GRACE_SECONDS) {
        throw new Error('The grace period must be a whole number of seconds from 0 to ' + MAX_GRACE_SECONDS + '.');
      }
      const c = dialog.credential;
      const issued = await api('POST', '/credentials/' + encodeURIComponent(c.id) + '/rotate',
        { grace_seconds: grace, revoke_tokens: form.elements.revoke_tokens.checked });
      const returnTo = keyOf(dialog.returnTo);
      dialog.returnTo = null;
      dialog.close();
      showSecret(issued, returnTo);
      await refreshAccount();
    });

    onSubmit($('role-dialog'), async () => {
      const dialog = $('role-dialog');
      const role = chosenRole($('role-select'));
      if (!role) throw new Error('Enter a role.');
      const c = dialog.credential;
      await api('PATCH', '/credentials/' + encodeURIComponent(c.id), { role });
      await refreshAccount();
      dialog.close();
      announce('Role of ' + c.name + ' changed to ' + role + '.');
    });

    token = sessionStorage.getItem(TOKEN_KEY);
    showSignedIn(token !== null);
    if (token !== null) route();
  }

  // ---- the audit log ----

  async function renderAudit(generation, params) {
    const accountId = params.get('account_id') || '';
    const credentialId = params.get('credential_id') || '';
    const page = await api('GET', '/audit' + q({ account_id: accountId, credential_id: credentialId, limit: 50 }));
    const rowOf = (e) => h('tr', {
      'data-audit-id': e.id, 'data-account-id': e.account_id || '', 'data-credential-id': e.credential_id || '',
    },
      h('td', null, fmtTime(e.at)),
      h('td', null, h('code', null, e.action)),
      h('td', null, e.admin_token === null ? '—' : e.admin_token),
      h('td', null, e.actor),
      h('td', null, e.actor_ip || '—'),
      h('td', null, e.account_id ? h('code', null, e.account_id) : '—'),
      h('td', null, e.credential_id ? h('code', null, e.credential_id) : '—'),
      h('td', { class: 'details' }, h('code', null, JSON.stringify(e.details))));
    const body = table('Audit events, newest first',
      ['Time', 'Action', 'Admin token', 'Actor', 'IP', 'Account', 'Credential', 'Details'],
      page.items.map(rowOf), 'No audit events match.');
    const more = (cursor, button) => api('GET', '/audit' + q({
      account_id: accountId, credential_id: credentialId, limit: 50, cursor,
    })).then((next) => {
      const tbody = $('app-view').querySelector('tbody');
      if (tbody) tbody.append(...next.items.map(rowOf));
      const again = loadMoreButton('Load more events', next.next_cursor, more);
      if (again) again.id = 'audit-more';
      button.replaceWith(again || '');
      announce(next.items.length + ' more events loaded.');
    });
    const moreButton = loadMoreButton('Load more events', page.next_cursor, more);
    if (moreButton) moreButton.id = 'audit-more';
    const filter = h('form', { id: 'audit-filter', class: 'filters', novalidate: true },
      h('div', { class: 'field' }, h('label', { for: 'audit-account' }, 'Account id'),
        h('input', { id: 'audit-account', name: 'account_id', value: accountId, spellcheck: 'false' })),
      h('div', { class: 'field' }, h('label', { for: 'audit-credential' }, 'Credential id'),
        h('input', { id: 'audit-credential', name: 'credential_id', value: credentialId, spellcheck: 'false' })),
      h('div', { class: 'filter-actions' },
        h('button', { type: 'submit', class: 'primary' }, 'Apply filters'),
        h('a', { href: '#/audit', class: 'button quiet' }, 'Clear')));
    filter.addEventListener('submit', (event) => {
      event.preventDefault();
      const next = '#/audit' + q({
        account_id: filter.elements.account_id.value.trim(),
        credential_id: filter.elements.credential_id.value.trim(),
      });
      if (location.hash === next) route(); else location.hash = next;
    });
    if (mount(generation,
      h('h1', { tabindex: -1 }, 'Audit log'),
      h('p', { class: 'lead' }, 'Who changed what, newest first. ',
        h('em', null, 'Admin token'), ' is the token that authenticated the change; ',
        h('em', null, 'actor'), ' is who it said it acted for.'),
      filter, body, moreButton)) focusHeading();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', setUp);
  else setUp();
})();
