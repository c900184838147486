-- The built-in authorization server and sign-in pages (issue 10). Everything secret is stored as its
-- SHA-256 (a stolen database yields no usable token, code, session or link); every single-use row is
-- consumed by one conditional UPDATE, so two concurrent requests cannot both use it.

-- Clients registered by Dynamic Client Registration (RFC 7591). Client ID Metadata Document clients
-- are fetched and cached in memory, not stored.
CREATE TABLE oauth_clients (
    client_id  TEXT PRIMARY KEY,
    info       TEXT NOT NULL,                 -- OAuthClientInformationFull as JSON
    created_at REAL NOT NULL
);

-- One row per pending /authorize request (waiting for sign-in and consent), then per authorization code.
-- kind: 'request' | 'code'. data: JSON (client, redirect, PKCE challenge, scopes, resource, state).
CREATE TABLE oauth_grants (
    hash       TEXT PRIMARY KEY,              -- sha256 of the request id / code
    kind       TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    user_id    TEXT REFERENCES users(id) ON DELETE CASCADE,
    data       TEXT NOT NULL,
    expires_at REAL NOT NULL,
    used_at    REAL
);
CREATE INDEX oauth_grants_expiry ON oauth_grants(expires_at);

-- Access and refresh tokens. A family is one sign-in's chain of refreshes: reusing a rotated refresh
-- token revokes the whole family.
CREATE TABLE oauth_tokens (
    hash       TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,                 -- 'access' | 'refresh'
    family     TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL,
    scopes     TEXT NOT NULL,                 -- space-separated
    resource   TEXT NOT NULL,
    expires_at REAL NOT NULL,
    used_at    REAL,                          -- a refresh token, once rotated
    revoked_at REAL,
    created_at REAL NOT NULL
);
CREATE INDEX oauth_tokens_family ON oauth_tokens(family);
CREATE INDEX oauth_tokens_user ON oauth_tokens(user_id);

-- Browser sessions of the sign-in pages.
CREATE TABLE web_sessions (
    hash       TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    auth_method TEXT NOT NULL,
    expires_at REAL NOT NULL,
    revoked_at REAL,
    created_at REAL NOT NULL
);

-- Single-use proofs: email magic links, and nonces of the other methods (SIWE, OIDC state).
CREATE TABLE sign_in_tokens (
    hash       TEXT PRIMARY KEY,
    purpose    TEXT NOT NULL,                 -- 'email' | 'nonce:<method>'
    data       TEXT NOT NULL,                 -- JSON: the address, where to go next
    expires_at REAL NOT NULL,
    used_at    REAL,
    created_at REAL NOT NULL
);
CREATE INDEX sign_in_tokens_expiry ON sign_in_tokens(expires_at);
