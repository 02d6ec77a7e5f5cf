// The OAuth2 provider of the end-to-end tests: node-oidc-provider issuing short-lived
// RFC 9068 JWT access tokens with the client credentials grant.
//
// Usage: node provider.mjs CONFIG.json
// CONFIG: { port, issuer, audience, accessTokenTTL, keyFile,
//           clients: [{ client_id, client_secret, token_endpoint_auth_method, token_ttl? }
//                     | { client_id, token_endpoint_auth_method: 'private_key_jwt', jwks }] }
// A client's token_ttl, when given, replaces accessTokenTTL for its tokens.
//
// node-oidc-provider accepts client_secret_basic and client_secret_post interchangeably,
// so this wrapper enforces each client's registered method and counts, per client and
// method, the token requests it answered, and per second of the clock (GET /test/stats). private_key_jwt assertions are
// checked by node-oidc-provider itself against the client's registered jwks.
import fs from 'node:fs';
import { generateKeyPair, exportJWK } from 'jose';
import Provider from 'oidc-provider';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));

async function signingKeys() {
  if (fs.existsSync(config.keyFile)) {
    return JSON.parse(fs.readFileSync(config.keyFile, 'utf8'));
  }
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };
  const jwks = { keys: [jwk] };
  fs.writeFileSync(config.keyFile, JSON.stringify(jwks), { mode: 0o600 });
  return jwks;
}

const tokenTTLOf = new Map(config.clients.map((c) => [c.client_id, c.token_ttl]));
const clients = config.clients.map(({ token_ttl: _, ...client }) => ({
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
  ...client,
}));
const methodOf = new Map(clients.map((c) => [c.client_id, c.token_endpoint_auth_method]));
const stats = { tokens: {}, refused: {}, perSecond: {} };

function count(table, client, method) {
  const key = `${client}:${method}`;
  table[key] = (table[key] || 0) + 1;
}

const provider = new Provider(config.issuer, {
  clients,
  jwks: await signingKeys(),
  features: {
    clientCredentials: { enabled: true },
    introspection: { enabled: false },
    revocation: { enabled: false },
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => config.audience,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource, client) => ({
        scope: 'dicom',
        audience: config.audience,
        accessTokenFormat: 'jwt',
        accessTokenTTL: tokenTTLOf.get(client.clientId) || config.accessTokenTTL,
      }),
    },
  },
  clientBasedCORS: () => false,
});
provider.proxy = false;

function basicClientId(header) {
  if (!header || !header.startsWith('Basic ')) return null;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const id = decoded.split(':', 1)[0];
  return decodeURIComponent(id.replace(/\+/g, ' '));
}

function refuse(ctx, client, method) {
  count(stats.refused, client, method);
  ctx.status = 401;
  ctx.type = 'application/json';
  ctx.body = {
    error: 'invalid_client',
    error_description: `client authentication method ${method} is not the registered one`,
  };
}

provider.use(async (ctx, next) => {
  if (ctx.path === '/test/stats') {
    ctx.type = 'application/json';
    ctx.body = stats;
    return;
  }
  if (ctx.path !== '/token' || ctx.method !== 'POST') {
    await next();
    return;
  }
  const basicId = basicClientId(ctx.get('authorization'));
  if (basicId !== null && methodOf.get(basicId) !== 'client_secret_basic') {
    refuse(ctx, basicId, 'client_secret_basic');
    return;
  }
  await next();
  const client = ctx.oidc && ctx.oidc.client ? ctx.oidc.client.clientId : null;
  if (client === null || ctx.status !== 200) return;
  let used = 'client_secret_post';
  if (basicId !== null) used = 'client_secret_basic';
  else if (ctx.oidc.params && ctx.oidc.params.client_assertion) used = 'private_key_jwt';
  if (methodOf.get(client) !== used) {
    refuse(ctx, client, used);
    return;
  }
  count(stats.tokens, client, used);
  const second = Math.floor(Date.now() / 1000);
  stats.perSecond[second] = (stats.perSecond[second] || 0) + 1;
});

provider.listen(config.port, '127.0.0.1', () => {
  process.stdout.write(`provider listening on ${config.issuer}\n`);
});
