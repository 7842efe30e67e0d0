import t from 'tap';
import { DEFAULT_TAGS, resolveTags, tagFor, tagFromTable } from '../../src/route/tag.js';
import { LOG_KINDS, type LogKind } from '../../src/event.js';
import type { TagOverrides } from '../../src/config/schema.js';
import { tagsSchema } from '../../src/config/schema.js';

const DESIGN: Record<LogKind, string> = {
  administrator: 'auth.duo.administrator.events',
  authentication: 'auth.duo.authentication.events',
  telephony: 'auth.duo.telephony.events',
  authproxy: 'auth.duo.authentication-proxy.events',
  'offline-enrollment': 'auth.duo.offline-enrollment.events',
  activity: 'auth.duo.activity.events',
  'trust-monitor': 'auth.duo.trust-monitor.events',
};

t.test('DESIGN §2 defaults', async (t) => {
  for (const kind of LOG_KINDS) t.equal(tagFor(kind, {}), DESIGN[kind], kind);
  t.equal(tagFor('administrator', { action: 'admin_login' }), 'auth.duo.administrator.login');
  t.equal(tagFor('administrator', { action: 'admin_login_error' }), 'auth.duo.administrator.login');
  t.equal(tagFor('administrator', { action: 'admin_logout' }), 'auth.duo.administrator.events');
  t.equal(tagFor('administrator', { action: 'ADMIN_LOGIN' }), 'auth.duo.administrator.events', 'exact action match');
  t.equal(tagFor('offline-enrollment', { action: 'admin_login' }), DESIGN['offline-enrollment'], 'the login split is for administrator logs only');
});

t.test('every tag can be overridden, each key alone', async (t) => {
  const keys = Object.keys(tagsSchema.shape) as (keyof TagOverrides)[];
  t.same([...keys].sort(), Object.keys(DEFAULT_TAGS).sort(), 'one default per TagOverrides key');
  for (const key of keys) {
    const overrides: TagOverrides = { [key]: `custom.${key}` };
    const table = resolveTags(overrides);
    for (const kind of LOG_KINDS) {
      for (const action of ['admin_login', 'user_update']) {
        const rec = { action };
        const isLogin = kind === 'administrator' && action === 'admin_login';
        const own = isLogin ? 'administrator_login' : kind;
        const want = own === key ? `custom.${key}` : isLogin ? DEFAULT_TAGS.administrator_login : DESIGN[kind];
        t.equal(tagFor(kind, rec, overrides), want, `${key}: ${kind}/${action}`);
        t.equal(tagFromTable(table, kind, rec), want, `${key} (table): ${kind}/${action}`);
      }
    }
  }
  t.equal(tagFor('authproxy', {}, { authproxy: 'auth.duo.authenticationProxy.events' }), 'auth.duo.authenticationProxy.events', "Devo's other proxy spelling");
  t.equal(resolveTags(undefined), DEFAULT_TAGS);
  t.equal(resolveTags({}).authentication, DESIGN.authentication);
});
