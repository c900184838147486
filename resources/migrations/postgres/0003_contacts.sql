-- Contacts and clients, provider credentials and sync state (mirrors the SQLite store's 0003).

CREATE TABLE jarvis.contacts (
    seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id           uuid NOT NULL UNIQUE,
    user_id      uuid NOT NULL REFERENCES jarvis.users(id) ON DELETE CASCADE,
    name         text NOT NULL,
    name_folded  text NOT NULL,                   -- case and accents folded: ordering, exact-name dedup
    emails       text[] NOT NULL DEFAULT '{}',    -- lower-case; mirrored in contact_emails
    phones       text[] NOT NULL DEFAULT '{}',    -- E.164; mirrored in contact_phones
    company      text,
    role         text,
    tags         text[] NOT NULL DEFAULT '{}',
    notes        text,
    relationship text,
    source       text NOT NULL CHECK (source IN ('manual', 'google', 'import')),
    source_id    text,
    agent_id     text,
    voice        text,
    personality  text,
    notes_vector bytea,                           -- float32 embedding of notes
    created_at   double precision NOT NULL,
    updated_at   double precision NOT NULL,
    UNIQUE (user_id, id)
);
CREATE UNIQUE INDEX contacts_source ON jarvis.contacts(user_id, source, source_id) WHERE source_id IS NOT NULL;
CREATE INDEX contacts_user_name ON jarvis.contacts(user_id, name_folded, id);

CREATE TABLE jarvis.contact_emails (
    user_id    uuid NOT NULL,
    email      text NOT NULL,
    contact_id uuid NOT NULL,
    PRIMARY KEY (user_id, email, contact_id),
    FOREIGN KEY (user_id, contact_id) REFERENCES jarvis.contacts(user_id, id) ON DELETE CASCADE
);
CREATE INDEX contact_emails_contact ON jarvis.contact_emails(contact_id);

CREATE TABLE jarvis.contact_phones (
    user_id    uuid NOT NULL,
    e164       text NOT NULL,
    digits     text NOT NULL,                     -- e164 without '+'
    contact_id uuid NOT NULL,
    PRIMARY KEY (user_id, e164, contact_id),
    FOREIGN KEY (user_id, contact_id) REFERENCES jarvis.contacts(user_id, id) ON DELETE CASCADE
);
CREATE INDEX contact_phones_contact ON jarvis.contact_phones(contact_id);

CREATE TABLE jarvis.contact_versions (
    user_id uuid PRIMARY KEY REFERENCES jarvis.users(id) ON DELETE CASCADE,
    version bigint NOT NULL
);

CREATE TABLE jarvis.credentials (
    user_id    uuid NOT NULL REFERENCES jarvis.users(id) ON DELETE CASCADE,
    provider   text NOT NULL,
    secret     bytea NOT NULL,                    -- encrypted by the application
    created_at double precision NOT NULL,
    updated_at double precision NOT NULL,
    PRIMARY KEY (user_id, provider)
);

CREATE TABLE jarvis.sync_state (
    user_id    uuid NOT NULL REFERENCES jarvis.users(id) ON DELETE CASCADE,
    provider   text NOT NULL,
    sync_token text,
    updated_at double precision NOT NULL,
    PRIMARY KEY (user_id, provider)
);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['contacts', 'contact_emails', 'contact_phones', 'contact_versions', 'credentials',
                             'sync_state'] LOOP
        EXECUTE format('ALTER TABLE jarvis.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY own_rows ON jarvis.%I USING (user_id = (SELECT auth.uid())) '
                       'WITH CHECK (user_id = (SELECT auth.uid()))', t);
    END LOOP;
END
$$;

INSERT INTO jarvis.app_privileges VALUES
    (3, 'GRANT SELECT, INSERT, UPDATE, DELETE ON jarvis.contacts, jarvis.contact_emails, jarvis.contact_phones, '
        'jarvis.contact_versions, jarvis.credentials, jarvis.sync_state TO %I');
