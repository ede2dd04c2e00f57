-- forge store schema, migration 1: the initial tables.
--
-- Paths are stored in their logical form (/forge/store/<digest>-<name>).
-- Hashes are stored as text in forge's canonical form (`blake3:<hex>`,
-- `sha256:<hex>`). Times are Unix seconds.

-- Key/value facts about this store (who created it, when).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;

-- One row per valid store object. A row exists only once the object is
-- complete and canonical on disk; it is inserted in the same transaction as
-- its references.
CREATE TABLE valid_paths (
    id              INTEGER PRIMARY KEY,
    path            TEXT    NOT NULL UNIQUE,
    nar_blake3      TEXT    NOT NULL,
    nar_sha256      TEXT    NOT NULL,
    nar_size        INTEGER NOT NULL CHECK (nar_size >= 0),
    registered_at   INTEGER NOT NULL,
    -- action digest of the derivation that produced this path, if built
    deriver         TEXT,
    -- how the path's digest was derived from its contents, e.g.
    -- `nar:blake3:<hex>`; NULL for input-addressed objects
    content_address TEXT,
    -- the object mentions its own path (masked while hashing)
    self_reference  INTEGER NOT NULL DEFAULT 0 CHECK (self_reference IN (0, 1))
) STRICT;

-- Signatures over a path's fingerprint, in Nix's `keyname:base64` form.
CREATE TABLE path_signatures (
    path_id   INTEGER NOT NULL REFERENCES valid_paths (id) ON DELETE CASCADE,
    signature TEXT    NOT NULL,
    PRIMARY KEY (path_id, signature)
) STRICT;

-- The reference graph: `referrer` mentions `reference`. Self-references are
-- kept in valid_paths.self_reference instead. A path cannot be invalidated
-- while a valid path refers to it; the check is deferred to commit so that a
-- garbage collector can delete a whole dead set in one transaction.
CREATE TABLE refs (
    referrer  INTEGER NOT NULL REFERENCES valid_paths (id) ON DELETE CASCADE,
    reference INTEGER NOT NULL REFERENCES valid_paths (id)
                  ON DELETE NO ACTION DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (referrer, reference),
    CHECK (referrer != reference)
) STRICT, WITHOUT ROWID;
CREATE INDEX refs_by_reference ON refs (reference, referrer);

-- Derivations known to this store, in their canonical serialisation.
CREATE TABLE derivations (
    id            INTEGER PRIMARY KEY,
    action_digest TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    canonical     BLOB    NOT NULL,
    registered_at INTEGER NOT NULL
) STRICT;

-- The output names each derivation declares.
CREATE TABLE derivation_outputs (
    derivation_id INTEGER NOT NULL REFERENCES derivations (id) ON DELETE CASCADE,
    output        TEXT    NOT NULL,
    PRIMARY KEY (derivation_id, output)
) STRICT;

-- The action cache: which store path a derivation's output realised to.
CREATE TABLE realisations (
    action_digest TEXT    NOT NULL,
    output        TEXT    NOT NULL,
    path_id       INTEGER NOT NULL REFERENCES valid_paths (id) ON DELETE CASCADE,
    registered_at INTEGER NOT NULL,
    PRIMARY KEY (action_digest, output)
) STRICT;
CREATE INDEX realisations_by_path ON realisations (path_id);

CREATE TABLE realisation_signatures (
    action_digest TEXT NOT NULL,
    output        TEXT NOT NULL,
    signature     TEXT NOT NULL,
    PRIMARY KEY (action_digest, output, signature),
    FOREIGN KEY (action_digest, output)
        REFERENCES realisations (action_digest, output) ON DELETE CASCADE
) STRICT;

-- Garbage-collector roots. A `direct` root names a store path. An
-- `indirect` root names a symlink on the host (such as ./result); the path
-- it points to is a root for as long as the link exists.
CREATE TABLE gc_roots (
    id         INTEGER PRIMARY KEY,
    kind       TEXT    NOT NULL CHECK (kind IN ('direct', 'indirect')),
    name       TEXT    NOT NULL UNIQUE,
    path       TEXT,
    created_at INTEGER NOT NULL,
    CHECK ((kind = 'direct') = (path IS NOT NULL))
) STRICT;
