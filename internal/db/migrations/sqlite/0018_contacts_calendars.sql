-- Address books and calendars of accounts (internal/pim). Every object keeps its vCard or
-- iCalendar text as received, with the fields indexed for listing and range queries. They go
-- with their account (ON DELETE CASCADE).
CREATE TABLE address_books (
  id          INTEGER PRIMARY KEY,
  account_id  BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  name        TEXT NOT NULL,
  ctag        BIGINT NOT NULL DEFAULT 1, -- grows with every change: the sync token
  created_at  BIGINT NOT NULL,
  UNIQUE (account_id, name)
);
CREATE TABLE contacts (
  id          INTEGER PRIMARY KEY,
  book_id     BIGINT NOT NULL REFERENCES address_books(id) ON DELETE CASCADE,
  uid         TEXT NOT NULL,
  etag        TEXT NOT NULL,
  vcard       TEXT NOT NULL,
  size        BIGINT NOT NULL,
  full_name   TEXT NOT NULL DEFAULT '',
  emails      TEXT NOT NULL DEFAULT '', -- lower case, one per line
  phones      TEXT NOT NULL DEFAULT '', -- one per line
  org         TEXT NOT NULL DEFAULT '',
  updated_at  BIGINT NOT NULL,
  UNIQUE (book_id, uid)
);
CREATE INDEX contacts_name ON contacts(book_id, full_name);
CREATE TABLE calendars (
  id          INTEGER PRIMARY KEY,
  account_id  BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  name        TEXT NOT NULL,
  color       TEXT NOT NULL DEFAULT '',
  ctag        BIGINT NOT NULL DEFAULT 1,
  created_at  BIGINT NOT NULL,
  UNIQUE (account_id, name)
);
CREATE TABLE calendar_objects (
  id          INTEGER PRIMARY KEY,
  calendar_id BIGINT NOT NULL REFERENCES calendars(id) ON DELETE CASCADE,
  uid         TEXT NOT NULL,
  etag        TEXT NOT NULL,
  ical        TEXT NOT NULL,
  size        BIGINT NOT NULL,
  component   TEXT NOT NULL CHECK (component IN ('VEVENT', 'VTODO')),
  dtstart     BIGINT,          -- UTC milliseconds; NULL: none
  dtend       BIGINT,          -- NULL: none, or a recurrence without end
  all_day     BOOLEAN NOT NULL DEFAULT FALSE,
  recurring   BOOLEAN NOT NULL DEFAULT FALSE,
  summary     TEXT NOT NULL DEFAULT '',
  updated_at  BIGINT NOT NULL,
  UNIQUE (calendar_id, uid)
);
CREATE INDEX calendar_objects_start ON calendar_objects(calendar_id, dtstart);
