// Package mailstore owns mailboxes and the messages in them: UIDs, MODSEQs, flags and keywords,
// expunge tombstones, the per-account quota usage and the reference counts of message blobs. Every
// change is one transaction that updates counters and usage together with the rows, and is
// published on the change bus after it commits.
//
// Deliveries and appends are group-committed: concurrent writers hand their (already parsed and
// staged) messages to one committer, which makes the blobs durable and applies a whole batch in
// one transaction, so one fsync covers many messages and every caller is answered only after its
// message is durable.
//
// The package reads the accounts and cos tables only for the columns it maintains (used_bytes,
// used_messages, modseq) and the quota; every other directory rule belongs to the directory
// package. It never speaks a protocol: sequence numbers, IMAP syntax and SMTP codes belong to the
// servers.
package mailstore

import (
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/postamail/posta/internal/blob"
	"github.com/postamail/posta/internal/changes"
	"github.com/postamail/posta/internal/db"
)

// Errors reported by the store. Protocol servers map them to their codes.
var (
	ErrNoMailbox     = errors.New("mailbox does not exist")
	ErrMailboxExists = errors.New("mailbox already exists")
	ErrOverQuota     = errors.New("mailbox is over quota")
	ErrNoAccount     = errors.New("account does not exist")
	ErrAccountClosed = errors.New("account is not active")
	ErrCannotDelete  = errors.New("mailbox cannot be deleted")
	ErrInvalidName   = errors.New("invalid mailbox name")
	ErrClosed        = errors.New("mailstore is closed")
	ErrModifiedSince = errors.New("message modified since the given modseq")
)

// Options tune the store.
type Options struct {
	// MaxBatch bounds how many deliveries one group commit applies (default 128).
	MaxBatch int
	// EnvelopeCache bounds how many decoded envelopes are kept in memory for listing
	// mailboxes (default 200 000, about 100 MB at most).
	EnvelopeCache int
	// ListingCache bounds the message rows kept in memory of mailboxes listed whole, shared
	// by the sessions listing them again while they are unchanged (default 500 000, about
	// 50 MB at most).
	ListingCache int
	// InlineMax is the largest message body kept in the database with its rows rather than as
	// a file of the blob store (default 32 KiB; negative: every body is a file). Most mail is
	// below it, and storing it then costs no file creation and no fsync of its own.
	InlineMax int
	Logger    *slog.Logger
	// Observer is told about every group commit (nil: nobody).
	Observer Observer
}

// Observer is told about the group commits of deliveries and appends (internal/observe's
// Metrics): how many deliveries one commit carried and how long it took, from the sync of
// their blobs to the end of the transaction (and of the one-by-one retries after a failure).
// It is called once per commit, on the committer goroutine, before the callers are answered;
// it must be quick.
type Observer interface {
	Committed(n int, took time.Duration)
}

// Store is the mailbox store.
type Store struct {
	db    *db.DB
	blobs *blob.Store
	bus   *changes.Bus
	log   *slog.Logger
	obs   Observer

	envs      *envelopeCache
	lists     *listCache
	reqs      chan *commitReq
	stop      chan struct{}
	done      chan struct{}
	maxBatch  int
	inlineMax int
	closeMu   sync.RWMutex
	closed    bool
}

// New returns a store over the database d and blob store b, publishing changes on bus. Close
// must be called to stop its committer.
func New(d *db.DB, b *blob.Store, bus *changes.Bus, opts Options) *Store {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 128
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.EnvelopeCache <= 0 {
		opts.EnvelopeCache = 200_000
	}
	if opts.ListingCache <= 0 {
		opts.ListingCache = 500_000
	}
	if opts.InlineMax == 0 {
		opts.InlineMax = 32 << 10
	}
	s := &Store{
		db: d, blobs: b, bus: bus, log: opts.Logger, obs: opts.Observer,
		reqs: make(chan *commitReq, opts.MaxBatch), stop: make(chan struct{}), done: make(chan struct{}),
		maxBatch: opts.MaxBatch, inlineMax: opts.InlineMax, envs: newEnvelopeCache(opts.EnvelopeCache),
		lists: newListCache(opts.ListingCache),
	}
	go s.committer()
	return s
}

// Close waits for queued deliveries to commit and stops the committer.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	s.closeMu.Unlock()
	close(s.stop)
	<-s.done
	return nil
}

// DB returns the database the store writes to.
func (s *Store) DB() *db.DB { return s.db }

// Blobs returns the blob store holding message bodies.
func (s *Store) Blobs() *blob.Store { return s.blobs }

// Bus returns the change bus the store publishes on.
func (s *Store) Bus() *changes.Bus { return s.bus }
