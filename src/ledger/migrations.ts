// Schema migrations, applied in order; the index + 1 is PRAGMA user_version. Never edit a
// released migration: append a new one.
export const MIGRATIONS: string[] = [
  `
  -- input files (product.md 1: RECEIVED -> CONVERTED | FAILED | DUPLICATE)
  CREATE TABLE files (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL,            -- base name as dropped
    inbound       TEXT NOT NULL,            -- the drop folder
    layout        TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    bytes         INTEGER NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('RECEIVED','CONVERTED','FAILED','DUPLICATE')),
    message_type  TEXT,
    partner       TEXT,
    erp_file_id   TEXT,
    erp_created   TEXT,
    messages      INTEGER NOT NULL DEFAULT 0,
    work_path     TEXT,                     -- while claimed
    error_path    TEXT,                     -- in error/, when FAILED or DUPLICATE
    archive_dir   TEXT,
    reprocess_of  INTEGER REFERENCES files(id),
    received_at   TEXT NOT NULL,
    updated_at    TEXT NOT NULL
  );
  CREATE INDEX files_sha ON files(sha256);
  CREATE INDEX files_state ON files(state);

  CREATE TABLE sequences (name TEXT PRIMARY KEY, value INTEGER NOT NULL);

  CREATE TABLE messages (
    id            INTEGER PRIMARY KEY,
    file_id       INTEGER NOT NULL REFERENCES files(id),
    partner       TEXT NOT NULL,
    message_type  TEXT NOT NULL,
    type_code     TEXT NOT NULL,            -- the SFTP folder at staging time
    fcn           TEXT NOT NULL UNIQUE,     -- FileControlNumber: unique for ever
    reference_doc TEXT NOT NULL,
    work_order    TEXT NOT NULL,
    original_ref  TEXT,                     -- reversals
    body_hash     TEXT NOT NULL,
    source_line   INTEGER NOT NULL,
    xml_path      TEXT NOT NULL,            -- outbox/<partner>/<fcn>.xml
    xml_sha256    TEXT NOT NULL,
    bytes         INTEGER NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('STAGED','SENDING','SENT','ACCEPTED','REJECTED','HELD','CANCELLED')),
    remote_path   TEXT,
    batch_id      INTEGER REFERENCES batches(id),
    last_error    TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    sent_at       TEXT,
    overdue_logged_at TEXT
  );
  CREATE INDEX messages_state ON messages(partner, state, id);
  CREATE INDEX messages_ref ON messages(partner, message_type, reference_doc);
  CREATE INDEX messages_orig ON messages(partner, message_type, original_ref);

  -- the lines a reversal is checked against (messages.md 1.5)
  CREATE TABLE message_lines (
    message_id    INTEGER NOT NULL REFERENCES messages(id),
    line_no       INTEGER NOT NULL,
    product_type  TEXT NOT NULL,
    product_code  TEXT NOT NULL,
    lot           TEXT NOT NULL,
    quantity      TEXT NOT NULL,
    PRIMARY KEY (message_id, line_no)
  );

  CREATE TABLE batches (
    id            INTEGER PRIMARY KEY,
    partner       TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    finished_at   TEXT,
    outcome       TEXT,                     -- sent | partial | failed
    messages      INTEGER NOT NULL DEFAULT 0,
    archive_dir   TEXT,
    error         TEXT
  );

  CREATE TABLE acks (
    id            INTEGER PRIMARY KEY,
    partner       TEXT NOT NULL,
    remote_name   TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    bytes         INTEGER NOT NULL,
    valid         INTEGER NOT NULL,
    problem       TEXT,                     -- why it is invalid
    ack_fcn       TEXT,
    input_fcn     TEXT,
    status        TEXT,                     -- SUCCESS | WARNING | ERROR
    errors_json   TEXT,                     -- [{code, class, message, path}]
    file_date     TEXT,
    file_time     TEXT,
    message_id    INTEGER REFERENCES messages(id),
    effect        TEXT,                     -- accepted | rejected | duplicate | unmatched | superseded | invalid
    archive_dir   TEXT,
    received_at   TEXT NOT NULL,
    UNIQUE (partner, sha256)
  );
  CREATE INDEX acks_message ON acks(message_id);

  -- every state change of a file or message, with its time (product.md 1)
  CREATE TABLE transitions (
    id            INTEGER PRIMARY KEY,
    entity        TEXT NOT NULL CHECK (entity IN ('file','message')),
    entity_id     INTEGER NOT NULL,
    from_state    TEXT,
    to_state      TEXT NOT NULL,
    at            TEXT NOT NULL,
    detail        TEXT
  );
  CREATE INDEX transitions_entity ON transitions(entity, entity_id);

  -- resend, reprocess (and later hold/release/cancel): who, when, why
  CREATE TABLE operator_actions (
    id            INTEGER PRIMARY KEY,
    at            TEXT NOT NULL,
    os_user       TEXT NOT NULL,
    command       TEXT NOT NULL,
    target        TEXT NOT NULL,
    reason        TEXT NOT NULL
  );

  -- the archive's manifest chain, in creation order (product.md 3)
  CREATE TABLE manifests (
    seq           INTEGER PRIMARY KEY,
    kind          TEXT NOT NULL,
    ref           TEXT NOT NULL,
    path          TEXT NOT NULL UNIQUE,     -- relative to archive/
    sha256        TEXT NOT NULL,
    created_at    TEXT NOT NULL
  );

  -- at most one batch cycle per partner at a time, across processes
  CREATE TABLE partner_locks (
    partner       TEXT PRIMARY KEY,
    owner         TEXT NOT NULL,
    pid           INTEGER NOT NULL,
    acquired_at   TEXT NOT NULL
  );
  `,
  `
  -- product.md 1 "Acks and states": an ack of a STAGED message (after a resend) is kept with
  -- effect 'pending' until the message is SENT again, then applied (its effect becomes accepted,
  -- rejected or superseded); an ack of a HELD or CANCELLED message is recorded only (effect
  -- 'alert') with needs_attention = 1, which status --check shows until an operator dismisses it.
  ALTER TABLE acks ADD COLUMN needs_attention INTEGER NOT NULL DEFAULT 0;
  `,
  `
  -- issue 11, operating it (product.md 4, 9): who is behind an operator action (the login user
  -- from /proc/self/loginuid, SUDO_USER); every batch cycle and ack poll with its outcome (so
  -- "no completed cycle" can be told from "nothing to send"); paused partners (across
  -- restarts); what an operator dismissed from status --check; when the daemon started.
  ALTER TABLE operator_actions ADD COLUMN login_user TEXT;
  ALTER TABLE operator_actions ADD COLUMN sudo_user TEXT;

  CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('batch','acks')),
    partner     TEXT NOT NULL,
    origin      TEXT NOT NULL,          -- 'daemon' | 'cli'
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    outcome     TEXT,                   -- 'ok' | 'failed' | 'skipped' (lock busy, paused)
    error       TEXT
  );
  CREATE INDEX runs_partner ON runs(kind, partner, id);

  CREATE TABLE partner_pauses (
    partner     TEXT PRIMARY KEY,
    paused_at   TEXT NOT NULL,
    paused_by   TEXT NOT NULL,
    reason      TEXT NOT NULL
  );

  CREATE TABLE dismissals (
    id                 INTEGER PRIMARY KEY,
    kind               TEXT NOT NULL CHECK (kind IN ('error_file','ack','message')),
    subject            TEXT NOT NULL,   -- the error file's name, the ack id, the message id
    operator_action_id INTEGER NOT NULL REFERENCES operator_actions(id),
    at                 TEXT NOT NULL,
    UNIQUE (kind, subject)
  );

  CREATE TABLE daemon_starts (
    id          INTEGER PRIMARY KEY,
    started_at  TEXT NOT NULL,
    pid         INTEGER NOT NULL
  );
  `,
  `
  -- issue 10 (product.md 4): send-now and poll-acks run by a CLI that cannot read the partner's
  -- key ask the running daemon, which can, through a row here; the CLI waits for its outcome.
  CREATE TABLE run_requests (
    id            INTEGER PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('send','acks')),
    partner       TEXT NOT NULL,
    requested_at  TEXT NOT NULL,
    requested_by  TEXT NOT NULL,
    requester_pid INTEGER NOT NULL,
    started_at    TEXT,
    handler_pid   INTEGER,
    finished_at   TEXT,
    outcome       TEXT,                 -- 'ok' | 'failed' | 'expired' (nobody picked it up)
    detail        TEXT                  -- JSON: {"result": what the CLI prints from} or {"error": why none}
  );
  CREATE INDEX run_requests_open ON run_requests(finished_at, id);
  `,
  `
  -- issue 12, retention and audit verify (product.md 9, 10): every prune run (its pruning manifest,
  -- what it removed, and removed_at once its folders and files are gone from disk: a run committed
  -- without it is finished at the next start or prune); the manifests a pruning manifest removed
  -- (their rows stay in manifests, so the chain keeps its order and hashes); every audit verify.
  CREATE TABLE prune_runs (
    id           INTEGER PRIMARY KEY,
    origin       TEXT NOT NULL,         -- 'daemon' | 'cli'
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    outcome      TEXT,                  -- 'ok' | 'failed' | 'suspended'
    manifest_seq INTEGER REFERENCES manifests(seq),
    folders      INTEGER NOT NULL DEFAULT 0,
    messages     INTEGER NOT NULL DEFAULT 0,
    outbox_files INTEGER NOT NULL DEFAULT 0,
    bytes        INTEGER NOT NULL DEFAULT 0,
    removed_at   TEXT,
    error        TEXT
  );
  CREATE TABLE pruned_manifests (
    seq          INTEGER PRIMARY KEY REFERENCES manifests(seq),
    prune_run_id INTEGER NOT NULL REFERENCES prune_runs(id)
  );
  -- what retention looks up per folder: an intake's messages, an ack folder's rows, a batch's messages
  CREATE INDEX messages_file ON messages(file_id);
  CREATE INDEX messages_batch ON messages(batch_id);
  CREATE INDEX acks_archive_dir ON acks(archive_dir);
  CREATE INDEX manifests_created ON manifests(created_at);
  CREATE TABLE verify_runs (
    id           INTEGER PRIMARY KEY,
    started_at   TEXT NOT NULL,
    finished_at  TEXT NOT NULL,
    ok           INTEGER NOT NULL,
    problems     INTEGER NOT NULL
  );
  `,
  `
  -- issue 10, intake of untrusted input (product.md 6): per claimed file (its work/ path), the
  -- attempts started and the ones that ended in a caught exception (a kill is no failure: only
  -- failures count towards reason 'internal'), the last error's text, and the error/ name
  -- chosen before the reports are written, so a retry after a crash reuses it (no name.1).
  CREATE TABLE intake_attempts (
    work_path   TEXT PRIMARY KEY,
    started     INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    error_name  TEXT,
    updated_at  TEXT NOT NULL
  );
  `,
];
