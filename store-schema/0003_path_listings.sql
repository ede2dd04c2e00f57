-- 0003: what each valid path held when it was registered, for the cheap
-- `forge store verify` (an lstat walk compared with this, no hashing):
-- every node in NAR order as `<kind><detail>\0<relative path>\0`, where kind
-- is `d` (directory), `f` or `x` (regular file, executable) followed by its
-- size in decimal, or `l` followed by the symlink's target. Paths
-- registered before this migration have no row; verify then checks only
-- that they exist.
CREATE TABLE path_listings (
    path_id INTEGER PRIMARY KEY NOT NULL REFERENCES valid_paths (id) ON DELETE CASCADE,
    listing BLOB    NOT NULL
) STRICT;
