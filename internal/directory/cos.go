package directory

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/postamail/posta/internal/db"
)

// Features of a class of service (PRODUCT B1), enforced at every protocol.
const (
	FeatureMail = 1 << iota
	FeatureContacts
	FeatureCalendar
	FeatureBriefcase
	FeatureSharing
	FeatureMobile
	FeatureOutlook
)

// Protocols a class of service may allow.
const (
	ProtoIMAP = 1 << iota
	ProtoPOP3
	ProtoSMTP
	ProtoWebmail
	ProtoDAV
	ProtoActiveSync
	ProtoAll = ProtoIMAP | ProtoPOP3 | ProtoSMTP | ProtoWebmail | ProtoDAV | ProtoActiveSync
)

var featureNames = []struct {
	bit  int
	name string
}{
	{FeatureMail, "mail"}, {FeatureContacts, "contacts"}, {FeatureCalendar, "calendar"},
	{FeatureBriefcase, "briefcase"}, {FeatureSharing, "sharing"}, {FeatureMobile, "mobile"}, {FeatureOutlook, "outlook"},
}

// FeatureNames returns the names of the features in mask.
func FeatureNames(mask int) []string {
	var out []string
	for _, f := range featureNames {
		if mask&f.bit != 0 {
			out = append(out, f.name)
		}
	}
	return out
}

// MB is the unit of quota tiers: 1 MB = 1 MiB = 1 048 576 bytes.
const MB = 1 << 20

// ServiceTypes are the standard service types and their features (PRODUCT B1).
var ServiceTypes = []struct {
	Name     string
	Key      string
	Features int
}{
	{"Business Mail", "business-mail", FeatureMail | FeatureContacts},
	{"Business Mail Plus", "business-mail-plus", FeatureMail | FeatureContacts | FeatureCalendar},
	{"Standard Suite", "standard-suite", FeatureMail | FeatureContacts | FeatureCalendar | FeatureBriefcase | FeatureSharing},
	{"Professional Suite", "professional-suite", FeatureMail | FeatureContacts | FeatureCalendar | FeatureBriefcase | FeatureSharing | FeatureMobile | FeatureOutlook},
}

// QuotaTiers are the standard quota tiers in MB (PRODUCT B2).
var QuotaTiers = []int64{100, 200, 500, 1000, 2000, 5000, 10000, 25000}

// COSName is the price-list name of a standard class: "Business Mail 5.000 MB".
func COSName(serviceType string, mb int64) string {
	s := strconv.FormatInt(mb, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte('.')
		}
		b.WriteRune(c)
	}
	return serviceType + " " + b.String() + " MB"
}

// COS is a class of service.
type COS struct {
	ID                   int64    `json:"id"`
	Name                 string   `json:"name"`
	ServiceType          string   `json:"service_type"`
	QuotaBytes           int64    `json:"quota_bytes"`
	Features             int      `json:"-"`
	FeatureList          []string `json:"features"`
	Protocols            int      `json:"protocols"`
	MaxMessageSize       int64    `json:"max_message_size,omitempty"`
	SendPerDay           int      `json:"send_per_day,omitempty"`
	RecipientsPerMessage int      `json:"recipients_per_message,omitempty"`
	MinPasswordLen       int      `json:"min_password_len"`
	Builtin              bool     `json:"builtin"`
	// MaxMessages caps the messages an account may keep (0: no cap; the IMAP MESSAGE quota
	// resource of RFC 9208).
	MaxMessages int64 `json:"max_messages,omitempty"`
}

// Has reports whether the class includes a feature.
func (c *COS) Has(feature int) bool { return c.Features&feature != 0 }

const cosCols = `id, name, service_type, quota_bytes, features, protocols, COALESCE(max_message_size, 0), COALESCE(send_per_day, 0), COALESCE(recipients_per_message, 0), min_password_len, builtin, max_messages`

func scanCOS(sc interface{ Scan(...any) error }) (*COS, error) {
	var c COS
	err := sc.Scan(&c.ID, &c.Name, &c.ServiceType, &c.QuotaBytes, &c.Features, &c.Protocols, &c.MaxMessageSize, &c.SendPerDay, &c.RecipientsPerMessage, &c.MinPasswordLen, &c.Builtin, &c.MaxMessages)
	c.FeatureList = FeatureNames(c.Features)
	return &c, err
}

// SeedStandardCOS inserts the 32 standard classes of service unless they exist.
func (s *Service) SeedStandardCOS(ctx context.Context) error {
	if _, err := authorize(ctx, scope{}, true); err != nil {
		return err
	}
	return s.db.WriteTx(ctx, func(tx *db.Tx) error {
		for _, st := range ServiceTypes {
			for _, mb := range QuotaTiers {
				_, err := tx.ExecContext(ctx, `INSERT INTO cos (name, service_type, quota_bytes, features, protocols, builtin, created_at)
					VALUES (?, ?, ?, ?, ?, TRUE, ?) ON CONFLICT (name) DO NOTHING`,
					COSName(st.Name, mb), st.Key, mb*MB, st.Features, ProtoAll, s.now())
				if err != nil {
					return fmt.Errorf("directory: seed cos: %w", err)
				}
			}
		}
		return nil
	})
}

// ListCOS returns every class of service, standard ones first by type and tier.
func (s *Service) ListCOS(ctx context.Context) ([]*COS, error) {
	if _, ok := ActorFrom(ctx); !ok {
		return nil, ErrForbidden
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+cosCols+` FROM cos ORDER BY builtin DESC, service_type, quota_bytes, name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*COS
	for rows.Next() {
		c, err := scanCOS(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// normalizeCOSName folds case, spaces and thousands separators: "business mail 5000mb" and
// "Business Mail 5.000 MB" are the same class.
func normalizeCOSName(n string) string {
	n = strings.ToLower(n)
	n = strings.NewReplacer(".", "", ",", "", " ", "").Replace(n)
	return n
}

// GetCOS finds a class of service by id (digits) or by name (tolerant of case, spaces and
// thousands separators).
func (s *Service) GetCOS(ctx context.Context, idOrName string) (*COS, error) {
	if _, ok := ActorFrom(ctx); !ok {
		return nil, ErrForbidden
	}
	return getCOS(ctx, s.db, idOrName)
}

func getCOS(ctx context.Context, q db.Querier, idOrName string) (*COS, error) {
	if id, err := strconv.ParseInt(idOrName, 10, 64); err == nil {
		c, err := scanCOS(q.QueryRowContext(ctx, `SELECT `+cosCols+` FROM cos WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return nil, refuse("unknown-cos", "cos", "no class of service with id %d", id)
		}
		return c, err
	}
	rows, err := q.QueryContext(ctx, `SELECT `+cosCols+` FROM cos`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	want := normalizeCOSName(idOrName)
	for rows.Next() {
		c, err := scanCOS(rows)
		if err != nil {
			return nil, err
		}
		if normalizeCOSName(c.Name) == want {
			return c, nil
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return nil, refuse("unknown-cos", "cos", "no class of service named %q (see 'posta cos list')", idOrName)
}

// COSSpec describes a custom class of service.
type COSSpec struct {
	Name                 string
	ServiceType          string // one of the standard types' keys, or "custom"
	QuotaMB              int64
	Features             []string // used when ServiceType is "custom"
	MaxMessageSize       int64
	SendPerDay           int
	RecipientsPerMessage int
	MinPasswordLen       int
	MaxMessages          int64 // 0: no cap
}

// CreateCOS adds a custom class of service (provider only).
func (s *Service) CreateCOS(ctx context.Context, spec COSSpec) (*COS, error) {
	a, err := authorize(ctx, scope{}, true)
	if err != nil {
		return nil, err
	}
	spec.Name = strings.TrimSpace(spec.Name)
	if spec.Name == "" || len(spec.Name) > 100 {
		return nil, invalid("name", "a class of service needs a name of 1 to 100 characters")
	}
	if spec.QuotaMB <= 0 || spec.QuotaMB > 10_000_000 {
		return nil, invalid("quota_mb", "quota must be between 1 and 10000000 MB, got %d", spec.QuotaMB)
	}
	features := -1
	for _, st := range ServiceTypes {
		if st.Key == spec.ServiceType {
			features = st.Features
		}
	}
	if spec.ServiceType == "custom" || spec.ServiceType == "" {
		spec.ServiceType, features = "custom", 0
		for _, f := range spec.Features {
			found := false
			for _, fn := range featureNames {
				if fn.name == strings.ToLower(f) {
					features |= fn.bit
					found = true
				}
			}
			if !found {
				return nil, invalid("features", "unknown feature %q (mail, contacts, calendar, briefcase, sharing, mobile, outlook)", f)
			}
		}
	}
	if features < 0 {
		return nil, invalid("service_type", "unknown service type %q", spec.ServiceType)
	}
	if spec.MinPasswordLen == 0 {
		spec.MinPasswordLen = 10
	}
	if spec.MinPasswordLen < 8 || spec.MinPasswordLen > 128 {
		return nil, invalid("min_password_len", "minimum password length must be between 8 and 128")
	}
	if spec.MaxMessageSize < 0 || spec.SendPerDay < 0 || spec.RecipientsPerMessage < 0 {
		return nil, invalid("limits", "limits cannot be negative")
	}
	if spec.MaxMessages < 0 || spec.MaxMessages > 1_000_000_000 {
		return nil, invalid("max_messages", "the message cap must be between 0 (no cap) and 1000000000, got %d", spec.MaxMessages)
	}
	nullIf0 := func(v int64) any {
		if v == 0 {
			return nil
		}
		return v
	}
	var id int64
	err = s.db.WriteTx(ctx, func(tx *db.Tx) error {
		if _, err := getCOS(ctx, tx, spec.Name); err == nil {
			return refuse("invalid-argument", "name", "a class of service named %q already exists", spec.Name)
		}
		id, err = tx.InsertID(ctx, `INSERT INTO cos (name, service_type, quota_bytes, features, protocols, max_message_size, send_per_day, recipients_per_message, min_password_len, builtin, created_at, max_messages)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, FALSE, ?, ?)`, spec.Name, spec.ServiceType, spec.QuotaMB*MB, features, ProtoAll,
			nullIf0(spec.MaxMessageSize), nullIf0(int64(spec.SendPerDay)), nullIf0(int64(spec.RecipientsPerMessage)), spec.MinPasswordLen, s.now(), spec.MaxMessages)
		if err != nil {
			return err
		}
		return audit(ctx, tx, a, 0, "cos.create", spec.Name, nil, spec)
	})
	if err != nil {
		return nil, err
	}
	return getCOS(ctx, s.db, strconv.FormatInt(id, 10))
}
