-- 0002: a cache of the hashes of host trees (path inputs, seeds), so that
-- a no-op build does not re-read its sources. Keyed by the host path; valid
-- only while `fingerprint` (a hash of every node's relative path, type,
-- size, mode, inode, mtime and ctime, from one lstat walk) is unchanged.
-- Purely an optimisation: deleting every row is always safe.
CREATE TABLE source_cache (
    host_path   TEXT PRIMARY KEY NOT NULL,
    fingerprint TEXT NOT NULL,
    nar_blake3  TEXT NOT NULL,
    nar_sha256  TEXT NOT NULL,
    nar_size    INTEGER NOT NULL,
    checked_at  INTEGER NOT NULL
) STRICT;
