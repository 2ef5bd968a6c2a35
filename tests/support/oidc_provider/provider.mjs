// An OpenID provider for the tests: panva's oidc-provider set up like HelseID (staff) or ID-porten (citizens),
// with a login page of its own that grants whatever the relying party asks for.
// Usage: node provider.mjs config.json   (tests/support/oidc.py writes the file and starts this process)
import { generateKeyPair, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { promisify } from 'node:util';

// Loading oidc-provider and making an RSA key take about as long each: do both at once (start-up time).
const [{ default: Provider, errors }, { privateKey }] = await Promise.all([
  import('oidc-provider'),
  promisify(generateKeyPair)('rsa', { modulusLength: 2048 }),
]);
const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const issuer = `http://127.0.0.1:${config.port}`;
// The APIs tokens are issued for: indicator -> { scopes, ttl }. `resource` and `resource_scopes` name the first
// one (the sign-in tests); `resources` adds more (machine clients: VKP, PMD), each with its token lifetime.
const resources = { ...(config.resources ?? {}) };
if (config.resource) resources[config.resource] = { scopes: config.resource_scopes, ttl: 300 };

// Which claims each scope releases; the claim names are the real services' own.
const PROFILES = {
  helseid: {
    claims: {
      openid: ['sub', 'helseid://claims/client/claims/orgnr_parent'],
      profile: ['name', 'given_name', 'middle_name', 'family_name'],
      'helseid://scopes/identity/pid': ['helseid://claims/identity/pid'],
      'helseid://scopes/hpr/hpr_number': ['helseid://claims/hpr/hpr_number'],
      'helseid://scopes/identity/security_level': ['helseid://claims/identity/security_level'],
    },
    acrValues: [],
  },
  idporten: {
    claims: {
      openid: ['sub', 'pid'],
      profile: ['name', 'given_name', 'family_name'],
    },
    acrValues: ['idporten-loa-substantial', 'idporten-loa-high'],
  },
};
const profile = PROFILES[config.profile];
if (!profile) throw new Error(`unknown profile ${config.profile}`);

const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const page = (title, body) => `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${title}</title></head>
<body><main><h1>${title}</h1>${body}</main></body></html>`;

// The claims the account has under the scopes that were granted (HelseID copies them into access tokens too).
function releasedClaims(accountId, grantedScope) {
  const account = config.accounts[accountId] ?? {};
  const released = {};
  for (const scope of (grantedScope ?? '').split(' ')) {
    for (const claim of profile.claims[scope] ?? []) {
      if (Object.hasOwn(account, claim)) released[claim] = account[claim];
    }
  }
  return released;
}

const provider = new Provider(issuer, {
  clients: config.clients,
  jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), alg: 'RS256', use: 'sig' }] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  scopes: [...Object.keys(profile.claims), 'offline_access'],
  claims: { ...profile.claims, acr: null, auth_time: null, sid: null, iss: null },
  acrValues: profile.acrValues,
  conformIdTokenClaims: false, // both services put the identity claims into the ID token
  pkce: { methods: ['S256'], required: () => true },
  features: {
    devInteractions: { enabled: false },
    // Machine clients (HelseID's client credentials grant with private_key_jwt and DPoP).
    clientCredentials: { enabled: true },
    // HelseID demands a server nonce in DPoP proofs at its token endpoint.
    dPoP: { enabled: true, nonceSecret: randomBytes(32), requireNonce: (ctx) => ctx.oidc.route === 'token' },
    rpInitiatedLogout: {
      enabled: true,
      logoutSource: async (ctx, form) => {
        ctx.body = page('Sign out', `${form}
<button type="submit" form="op.logoutForm" name="logout" value="yes">Yes, sign me out</button>
<button type="submit" form="op.logoutForm">No, stay signed in</button>`);
      },
      postLogoutSuccessSource: async (ctx) => {
        ctx.body = page('Signed out', '<p>You are signed out.</p>');
      },
    },
    resourceIndicators: {
      enabled: true,
      // Asking for one of the API's scopes is enough to get a token for it, as with HelseID.
      defaultResource: async (ctx) => {
        const asked = (ctx.oidc.params.scope ?? '').split(' ');
        return Object.keys(resources).find((indicator) => resources[indicator].scopes
          .some((scope) => asked.includes(scope)));
      },
      useGrantedResource: async () => true,
      getResourceServerInfo: async (ctx, indicator) => {
        if (!Object.hasOwn(resources, indicator)) throw new errors.InvalidTarget();
        return {
          scope: resources[indicator].scopes.join(' '),
          accessTokenFormat: 'jwt',
          accessTokenTTL: resources[indicator].ttl,
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  findAccount: async (ctx, sub) => {
    if (!Object.hasOwn(config.accounts, sub)) return undefined;
    return { accountId: sub, claims: async () => ({ ...config.accounts[sub], sub }) };
  },
  extraTokenClaims: async (ctx, token) => {
    if (!token.accountId) return undefined;
    const source = ctx.oidc.entities.AuthorizationCode ?? ctx.oidc.entities.RefreshToken;
    const claims = releasedClaims(token.accountId, source?.scope);
    return source?.acr ? { ...claims, acr: source.acr } : claims;
  },
  // No consent page: every sign-in grants all that the authorization request asks for.
  loadExistingGrant: async (ctx) => {
    const { oidc } = ctx;
    const grant = new oidc.provider.Grant({ accountId: oidc.account.accountId, clientId: oidc.client.clientId });
    grant.addOIDCScope([...oidc.requestParamOIDCScopes].join(' '));
    grant.addOIDCClaims([...oidc.requestParamClaims]);
    for (const [indicator, server] of Object.entries(oidc.resourceServers)) {
      grant.addResourceScope(indicator, [...oidc.requestParamScopes].filter((s) => server.scopes.has(s)).join(' '));
    }
    await grant.save();
    return grant;
  },
  renderError: async (ctx, out) => {
    ctx.type = 'html';
    const text = `${out.error}: ${out.error_description}`;
    ctx.body = page('Sign-in error', `<p role="alert">${escapeHtml(text)}</p>`);
  },
  ttl: {
    AccessToken: 300, AuthorizationCode: 60, IdToken: 300, Interaction: 600, Grant: 3600, Session: 3600,
    ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL ?? 300,
  },
});

// The security level the form starts at: the relying party's first acr_values entry we know, else the lowest.
const suggestedAcr = (interaction) => (interaction.params.acr_values ?? '').split(' ')
  .find((acr) => profile.acrValues.includes(acr)) ?? profile.acrValues[0];

function loginPage(interaction, error) {
  const options = profile.acrValues.map((acr) => (
    `<option value="${acr}"${acr === suggestedAcr(interaction) ? ' selected' : ''}>${acr}</option>`)).join('');
  const acrField = options
    ? `<p><label for="acr">Security level</label> <select id="acr" name="acr">${options}</select></p>` : '';
  const alert = error ? `<p role="alert">${escapeHtml(error)}</p>` : '';
  return page('Sign in', `${alert}
<form method="post" action="/interaction/${interaction.uid}">
<p><label for="login">Login</label> <input id="login" name="login" autocomplete="username" required></p>
${acrField}
<button type="submit">Sign in</button>
</form>`);
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

// GET /interaction/:uid shows the login form; POST signs the account in or shows the form again.
async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const reply = (status, error) => {
    res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(loginPage(details, error));
  };
  if (req.method !== 'POST') return reply(200);
  const form = await readForm(req);
  const accountId = form.get('login') ?? '';
  if (!Object.hasOwn(config.accounts, accountId)) return reply(401, `Unknown login: ${accountId}`);
  const acr = form.get('acr') ?? suggestedAcr(details);
  if (profile.acrValues.length && !profile.acrValues.includes(acr)) return reply(400, `Unknown security level: ${acr}`);
  return provider.interactionFinished(req, res, { login: { accountId, acr } }, { mergeWithLastSubmission: false });
}

const handle = provider.callback();
createServer((req, res) => {
  if (!req.url.startsWith('/interaction/')) return handle(req, res);
  return interaction(req, res).catch((err) => {
    res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end(`${err.name}: ${err.message}`);
  });
}).listen(config.port, '127.0.0.1', () => console.log(`READY ${issuer}`));
